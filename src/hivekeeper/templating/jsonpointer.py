"""RFC 6901 JSON Pointer lookup (``/items/0/id``), the one addressing syntax used everywhere."""

from __future__ import annotations

from typing import Any

MISSING: Any = object()
"""Returned by :func:`resolve` when the pointer does not address a value."""


class PointerError(ValueError):
    """The pointer itself is malformed (not the same as "nothing there")."""


def tokens(pointer: str) -> list[str]:
    if pointer == "":
        return []
    if not pointer.startswith("/"):
        raise PointerError(f"JSON Pointer {pointer!r} must be empty or start with '/' (RFC 6901)")
    return [part.replace("~1", "/").replace("~0", "~") for part in pointer[1:].split("/")]


def resolve(document: Any, pointer: str) -> Any:
    """The value at ``pointer`` in ``document``, or :data:`MISSING`."""
    current = document
    for token in tokens(pointer):
        if isinstance(current, dict):
            if token not in current:
                return MISSING
            current = current[token]
        elif isinstance(current, list):
            if not token.isdigit() or (len(token) > 1 and token.startswith("0")):
                return MISSING
            index = int(token)
            if index >= len(current):
                return MISSING
            current = current[index]
        else:
            return MISSING
    return current
