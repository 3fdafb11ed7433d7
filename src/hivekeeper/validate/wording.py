"""How messages name values: a short JSON rendering, the YAML type, the closest known name."""

from __future__ import annotations

import difflib
import json
from collections.abc import Sequence
from typing import Any

_TYPE_NAMES = ((bool, "a boolean"), (int, "an integer"), (float, "a number"), (str, "a string"), (list, "a list"))

WANTED = {
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "true or false",
    "object": "a map (key: value)",
    "array": "a list",
}
"""What a value of each schema type is called in a fix (``write a list``)."""


def show_value(value: Any, limit: int = 60) -> str:
    try:
        text = json.dumps(value, default=str)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def type_name(value: Any) -> str:
    """How a message names the YAML type of ``value`` (bool before int: True is an int in Python)."""
    if value is None:
        return "null"
    for kind, name in _TYPE_NAMES:
        if isinstance(value, kind):
            return name
    return "a map" if isinstance(value, dict) else type(value).__name__


def did_you_mean(key: str, known: Sequence[str]) -> str:
    """``did you mean 'x'? `` when ``key`` is close to one of ``known``, else empty."""
    close = difflib.get_close_matches(key, known, n=1)
    return f"did you mean {close[0]!r}? " if close else ""
