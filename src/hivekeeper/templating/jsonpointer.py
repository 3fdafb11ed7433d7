"""RFC 6901 JSON Pointer lookup (``/items/0/id``), the one addressing syntax used everywhere."""

from __future__ import annotations

import re
from typing import Any

from hivekeeper.errors import InvalidInput

_BAD_ESCAPE = re.compile(r"~(?![01])")
_INDEX = re.compile(r"^(0|[1-9][0-9]*)$")

MISSING: Any = object()
"""Returned by :func:`resolve` when the pointer does not address a value."""


class PointerError(InvalidInput, ValueError):
    """The pointer itself is malformed (not the same as "nothing there")."""


def tokens(pointer: str) -> list[str]:
    if pointer == "":
        return []
    if not pointer.startswith("/"):
        raise PointerError(f"JSON Pointer {pointer!r} must be empty or start with '/' (RFC 6901)")
    parts = pointer[1:].split("/")
    for part in parts:
        if _BAD_ESCAPE.search(part):
            raise PointerError(
                f"JSON Pointer {pointer!r} has a '~' not followed by 0 or 1; write '~0' for '~' and '~1' for '/'"
            )
    return [part.replace("~1", "/").replace("~0", "~") for part in parts]


def resolve(document: Any, pointer: str) -> Any:
    """The value at ``pointer`` in ``document``, or :data:`MISSING`."""
    return resolve_tokens(document, tokens(pointer))


def resolve_tokens(document: Any, parts: list[str] | tuple[str, ...]) -> Any:
    """:func:`resolve` with the pointer already split by :func:`tokens` (for pointers used per item)."""
    current = document
    for token in parts:
        if isinstance(current, dict):
            if token not in current:
                return MISSING
            current = current[token]
        elif isinstance(current, list):
            if not _INDEX.match(token):  # "-" (past the end), "01", "1e2", "²" address nothing
                return MISSING
            index = int(token)
            if index >= len(current):
                return MISSING
            current = current[index]
        else:
            return MISSING
    return current
