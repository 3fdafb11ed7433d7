"""Paths into a manifest, as findings show them (``spec.roles[2].config``) and as the checks build them
(``("spec", "roles", 2, "config")``); and how two paths relate, so that one problem is reported once."""

from __future__ import annotations

import re

from hivekeeper.validate import locate

DocPath = locate.Path

_PART = re.compile(r"\[(\d+)\]|([^.\[\]]+)")


def show_path(path: DocPath) -> str:
    """``("spec", "roles", 2, "config")`` -> ``spec.roles[2].config``."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else ("." if out else "") + str(part)
    return out


def relative_path(text: str) -> DocPath:
    """``steps[0].set[1].template`` -> ``("steps", 0, "set", 1, "template")``; header maps keep dotted names."""
    parts: list[str | int] = []
    rest = text
    while rest:
        if parts and parts[-1] in ("headers", "headersTemplate") and not rest.startswith("["):
            parts.append(rest)
            break
        match = _PART.match(rest)
        if match is None:
            parts.append(rest)
            break
        index, name = match.groups()
        parts.append(int(index) if index is not None else name)
        rest = rest[match.end() :].removeprefix(".")
    return tuple(parts)


def field_name(path: DocPath) -> str:
    """How a message names the field at ``path``: its key (``replicas``), or the item (``roles[2]``)."""
    if not path:
        return "the document"
    if isinstance(path[-1], str):
        return path[-1]
    return show_path(path[-2:]) if len(path) > 1 else show_path(path)


def overlaps(a: str, b: str) -> bool:
    """Whether one path is the other or lies below it (``spec`` and ``spec.roles[0]`` overlap)."""
    if a == b or not a or not b:
        return True
    return below(a, b) or below(b, a)


def below(path: str, ancestor: str) -> bool:
    """Whether ``path`` lies under ``ancestor`` (``spec.roles[0]`` under ``spec``, not ``specs``)."""
    return path.startswith(ancestor) and path[len(ancestor) : len(ancestor) + 1] in (".", "[")
