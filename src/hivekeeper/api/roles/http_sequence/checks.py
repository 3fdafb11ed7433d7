"""Checks of http-sequence strings that the config models and the journey runner share.

They live with the config because a config is refused for the same reason a journey could not run:
``retry.on`` conditions and the dotted context paths of ``extracts[].to`` and ``set[].to``.
"""

from __future__ import annotations

import re

_TOKEN = re.compile(r"^(exception|non2xx|[1-5]xx|[1-5][0-9][0-9])$")


def check_path(dotted: str) -> str | None:
    """Why ``dotted`` cannot be a context path (``None`` when it can)."""
    if not dotted or any(not part for part in dotted.split(".")):
        return f"{dotted!r} is not a dotted path; use names joined by dots, e.g. customer.id"
    return None


def check_token(token: str) -> str | None:
    """Why ``token`` cannot be a ``retry.on`` condition (``None`` when it can)."""
    if _TOKEN.match(token.strip().lower()):
        return None
    return (
        f"{token!r} is not a retry condition; use exception, non2xx, a class like 5xx or 4xx, "
        "or an exact status like 429"
    )
