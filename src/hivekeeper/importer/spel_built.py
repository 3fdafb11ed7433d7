"""``eval(...)`` of a SpEL text built at run time, e.g. ``eval("#sha256_hex('" ~ payload ~ "')")``. Pure.

PocketHive bundles call a helper on a value by concatenating the SpEL source around it: the text is known
but for the value, so the helper is known. Such an argument is read as its parts: the string literals give
the SpEL text and each computed part becomes a mark (:func:`hole`) that :func:`.spel.translate`
replaces by the part's Jinja expression (its text inside a SpEL string literal, its value elsewhere):
``sha256((payloadRaw | string))``. When the helper's name itself is computed, or the argument is not a
concatenation of literals and values, the call is left as is and the importer reports it, naming it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from hivekeeper.importer.pebble_tokens import CLOSE, OPEN, Tokens, unquote

_JOINS = ("~", "+")
"""Pebble's concatenation (``~``), and ``+`` which bundles also use between strings."""
HOLE = re.compile("\ue000(\\d+)\ue001")
"""A mark: private-use characters around the part's index (no SpEL text or bundle contains them)."""


def hole(index: int) -> str:
    """The mark standing, in a SpEL text built at run time, for the value of its ``index``-th computed part."""
    return f"\ue000{index}\ue001"


def interpolated(value: str, holes: dict[int, str], quote: Callable[[str], str]) -> str:
    """The Jinja for a SpEL string literal's ``value`` holding marks: its pieces joined with ``~``, each computed
    part as text (``'id-' ~ (payload.cardId | string)``); ``quote`` writes a literal piece."""
    pieces = HOLE.split(value)  # text, index, text, index, ..., text
    parts = [quote(p) if i % 2 == 0 else f"({holes[int(p)]} | string)" for i, p in enumerate(pieces)]
    return " ~ ".join(p for i, p in enumerate(parts) if i % 2 or pieces[i])


@dataclass(frozen=True)
class Built:
    """The SpEL text with a mark per computed part, and each part's rewritten Jinja expression."""

    text: str
    holes: dict[int, str]


def parts(tokens: Tokens) -> list[Tokens] | None:
    """The operands of a top-level ``~``/``+`` chain (blanks dropped), or None when ``tokens`` is empty or has a
    part that is empty (``'a' ~ ~ b``)."""
    found: list[Tokens] = [[]]
    depth = 0
    for tok in tokens:
        if tok.kind == "op" and tok.text in OPEN:
            depth += 1
        elif tok.kind == "op" and tok.text in CLOSE:
            depth -= 1
        if depth == 0 and tok.kind == "op" and tok.text in _JOINS:
            found.append([])
        elif tok.kind != "ws" or found[-1]:
            found[-1].append(tok)
    cleaned = [_strip(part) for part in found]
    return cleaned if all(cleaned) else None


def build(operands: list[Tokens], rewrite: Callable[[str], str]) -> Built | None:
    """The SpEL text of ``operands`` (``rewrite`` turns a computed part's Pebble into Jinja); None when no
    operand is a string literal (nothing of the SpEL text is known: e.g. ``eval(vars.expression)``)."""
    if not any(_literal(part) for part in operands):
        return None
    text, holes = "", dict[int, str]()
    for part in operands:
        if _literal(part):
            text += unquote(part[0].text)
        else:
            index = len(holes)
            holes[index] = rewrite("".join(t.text for t in part))
            text += hole(index)
    return Built(text, holes)


def _literal(part: Tokens) -> bool:
    return len(part) == 1 and part[0].kind == "str"


def _strip(part: Tokens) -> Tokens:
    while part and part[-1].kind == "ws":
        part = part[:-1]
    return part
