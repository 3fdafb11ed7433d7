"""PocketHive's whitespace rule for templates: the newline right after a tag is not output. Pure.

PocketHive renders with Pebble, whose lexer drops one newline (``\\n`` or ``\\r\\n``) that follows the
end of any tag: ``}}``, ``%}`` and ``#}``. Jinja keeps it (``trim_blocks`` covers ``%}`` and ``#}``
only, never ``}}``). So a PocketHive XML body written one tag per line renders, in Jinja, with a blank
line for every ``{% set %}`` or ``{% if %}`` at its top: about 20 of them before ``<?xml``.

:func:`trim_tag_newlines` rewrites a source so that Jinja renders it as Pebble would: that newline is
moved inside the tag (``{{ x }}\\n`` -> ``{{ x \\n}}``), where it is whitespace of the expression.
The output loses it, and every line keeps its number, so errors still name the line the author wrote.
The contents of ``{% raw %}`` blocks are left as they are (as Pebble leaves ``verbatim``).
"""

from __future__ import annotations

import re

_CLOSERS = {"{{": "}}", "{%": "%}", "{#": "#}"}
_RAW = re.compile(r"^[-+]?\s*raw\s*[-+]?$")
_ENDRAW = re.compile(r"\{%[-+]?\s*endraw\s*[-+]?%\}")


def trim_tag_newlines(source: str) -> str:
    """``source`` with the newline right after each tag moved inside the tag (see the module docstring).

    A block that is never closed is left as it is (from there to the end), for the compiler to report.
    """
    out: list[str] = []
    pos = 0
    while (start := next_tag(source, pos)) >= 0:
        out.append(source[pos:start])
        opener = source[start : start + 2]
        closer = _CLOSERS[opener]
        end = source.find(closer, start + 2) if opener == "{#" else code_end(source, start + 2, closer)
        if end < 0:
            pos = start
            break
        inner = source[start + 2 : end]
        after = end + 2
        newline = _newline_at(source, after)
        out.append(_moved(opener, inner, closer, newline))
        pos = after + len(newline)
        if opener == "{%" and _RAW.match(inner.strip()):
            closing = _ENDRAW.search(source, pos)
            if closing is None:
                break
            out.append(source[pos : closing.start()])  # raw text: never touched
            pos = closing.start()
    out.append(source[pos:])
    return "".join(out)


def next_tag(source: str, pos: int) -> int:
    """Where the next tag (``{{``, ``{%`` or ``{#``) opens at or after ``pos``; -1 when none does."""
    found = [i for i in (source.find(opener, pos) for opener in _CLOSERS) if i >= 0]
    return min(found) if found else -1


def code_end(source: str, pos: int, closer: str) -> int:
    """Where ``closer`` ends the code that starts at ``pos``: quoted strings and ``{ }`` literals skipped."""
    depth, quote, i = 0, "", pos
    while i < len(source):
        c = source[i]
        if quote:
            if c == "\\":
                i += 1
            elif c == quote:
                quote = ""
        elif c in "'\"":
            quote = c
        elif depth == 0 and source.startswith(closer, i):
            return i
        elif c == "{":
            depth += 1
        elif c == "}":
            depth = max(0, depth - 1)
        i += 1
    return -1


def _newline_at(source: str, pos: int) -> str:
    if source.startswith("\r\n", pos):
        return "\r\n"
    return "\n" if source.startswith("\n", pos) else ""


def _moved(opener: str, inner: str, closer: str, newline: str) -> str:
    """The tag with ``newline`` placed before its closer (and before a ``-``/``+`` modifier of it)."""
    if not newline:
        return opener + inner + closer
    modifier = inner[-1] if inner.endswith("-") or (inner.endswith("+") and opener != "{#") else ""
    body = inner[: len(inner) - len(modifier)]
    return opener + body + newline + modifier + closer
