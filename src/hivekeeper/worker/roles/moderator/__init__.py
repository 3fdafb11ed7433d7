"""The moderator role: the role and its registry entry in ``role`` (``KIND``)."""
