"""The tokens of one Pebble expression, and how to move over them (operands, brackets). Pure.

A token list keeps every character of the source (blanks included), so joining the texts gives the
expression back unchanged; rewrites replace a run of tokens by one ``code`` token.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

_CODE = re.compile(
    r"""(?P<ws>\s+)
    |(?P<str>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")
    |(?P<num>\d+(?:\.\d+)?)
    |(?P<name>[A-Za-z_]\w*)
    |(?P<op>==|!=|<=|>=|\.\.|\?\.|[-+*/%~|.,()\[\]{}:?<>=!#@])
    """,
    re.VERBOSE | re.DOTALL,
)
OPEN = {"(": ")", "[": "]", "{": "}"}
CLOSE = {v: k for k, v in OPEN.items()}
_OPERAND = ("name", "str", "num", "code")
_STRING = r"""('(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")"""
_PAIR = re.compile(rf"\s*{_STRING}\s*:\s*{_STRING}\s*(?:,|$)")


@dataclass
class Tok:
    kind: str
    """``ws``, ``str``, ``num``, ``name``, ``op``, or ``code`` (already rewritten text)."""
    text: str


Tokens = list[Tok]


def tokenize(code: str) -> Tokens:
    """The tokens of ``code``; raises ValueError naming the first character that is not Pebble."""
    tokens, pos = [], 0
    while pos < len(code):
        match = _CODE.match(code, pos)
        if match is None:
            raise ValueError(f"cannot read {code[pos : pos + 20]!r}")
        tokens.append(Tok(match.lastgroup or "", match.group()))
        pos = match.end()
    return tokens


def next_(tokens: Tokens, i: int) -> int:
    """Index of the next non-blank token after ``i`` (``len(tokens)`` when there is none)."""
    i += 1
    while i < len(tokens) and tokens[i].kind == "ws":
        i += 1
    return i


def prev(tokens: Tokens, i: int) -> int:
    """Index of the previous non-blank token before ``i`` (-1 when there is none)."""
    i -= 1
    while i >= 0 and tokens[i].kind == "ws":
        i -= 1
    return i


def is_(tokens: Tokens, i: int, text: str) -> bool:
    """Whether token ``i`` exists and is the operator or name ``text`` (never a string literal)."""
    return 0 <= i < len(tokens) and tokens[i].text == text and tokens[i].kind != "str"


def name_at(tokens: Tokens, i: int) -> str | None:
    return tokens[i].text if 0 <= i < len(tokens) and tokens[i].kind == "name" else None


def match_forward(tokens: Tokens, i: int) -> int:
    """Index of the bracket closing the one at ``i`` (-1 when unbalanced)."""
    depth = 0
    for j in range(i, len(tokens)):
        if tokens[j].kind == "op" and tokens[j].text in OPEN:
            depth += 1
        elif tokens[j].kind == "op" and tokens[j].text in CLOSE:
            depth -= 1
            if depth == 0:
                return j
    return -1


def match_back(tokens: Tokens, i: int) -> int:
    """Index of the bracket opening the one closing at ``i`` (-1 when unbalanced)."""
    depth = 0
    for j in range(i, -1, -1):
        if tokens[j].kind == "op" and tokens[j].text in CLOSE:
            depth += 1
        elif tokens[j].kind == "op" and tokens[j].text in OPEN:
            depth -= 1
            if depth == 0:
                return j
    return -1


def operand_start(tokens: Tokens, end: int) -> int:
    """Start of the operand (name, literal, call, attribute or index chain) ending at ``end``; -1 if none."""
    i = end
    while i >= 0:
        tok = tokens[i]
        if tok.kind == "op" and tok.text in CLOSE:
            i = match_back(tokens, i)
            if i < 0:
                return -1
            before = i - 1  # a call or a subscript binds without blanks: f(x), a[0]
            if before >= 0 and (tokens[before].kind in ("name", "code") or tokens[before].text in CLOSE):
                i = before
                continue
            return i
        if tok.kind in _OPERAND:
            before = prev(tokens, i)
            if is_(tokens, before, "."):
                i = prev(tokens, before)
                continue
            return i
        return -1
    return -1


def operand_end(tokens: Tokens, start: int) -> int:
    """End of the operand starting at ``start`` (the mirror of :func:`operand_start`); -1 if none."""
    if start >= len(tokens):
        return -1
    if tokens[start].kind == "op" and tokens[start].text in OPEN:
        i = match_forward(tokens, start)
    elif tokens[start].kind in _OPERAND:
        i = start
    else:
        return -1
    while i >= 0:
        if is_(tokens, i + 1, "(") or is_(tokens, i + 1, "["):
            i = match_forward(tokens, i + 1)
            continue
        dot = next_(tokens, i)
        if is_(tokens, dot, ".") and name_at(tokens, next_(tokens, dot)):
            i = next_(tokens, dot)
            continue
        return i
    return -1


def text(tokens: Tokens, start: int, end: int) -> str:
    """The source of tokens ``start..end`` (inclusive), trimmed."""
    return "".join(t.text for t in tokens[start : end + 1]).strip()


def splice(tokens: Tokens, start: int, end: int, code: str) -> Tokens:
    """``tokens`` with ``start..end`` (inclusive) replaced by one ``code`` token."""
    return [*tokens[:start], Tok("code", code), *tokens[end + 1 :]]


def each(tokens: Tokens, apply: Callable[[Tokens, int], tuple[Tokens, int]]) -> Tokens:
    """Run ``apply(tokens, i)`` from the first token on; it returns the new tokens and where to go on."""
    i = 0
    while i < len(tokens):
        tokens, i = apply(tokens, i)
    return tokens


def unquote(literal: str) -> str:
    """The value of a Pebble string literal: only escaped quotes are unescaped, like Pebble does, so a
    regex such as ``'id=(\\d+)'`` inside ``eval("...")`` keeps its backslash."""
    return re.sub(r"\\(['\"])", r"\1", literal[1:-1])


def string_pairs(mapping: str) -> list[tuple[str, str]] | None:
    """``{'a': 'b', "c": 'd'}`` -> [(a, b), (c, d)]; None when it is not a map of string literals."""
    inner = mapping.strip()
    if not (inner.startswith("{") and inner.endswith("}")):
        return None
    body, pos, found = inner[1:-1], 0, []
    while pos < len(body):
        match = _PAIR.match(body, pos)
        if match is None or match.end() == pos:
            return None
        found.append((unquote(match.group(1)), unquote(match.group(2))))
        pos = match.end()
    return found or None
