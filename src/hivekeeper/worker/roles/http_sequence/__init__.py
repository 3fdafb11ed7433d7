"""The http-sequence role: the role and its registry entry in ``role`` (``KIND``), its compiled steps in ``steps``."""
