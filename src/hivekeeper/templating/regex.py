"""Regular expressions from Swarm authors (template helpers, Redis output routes), run by RE2: time linear in
the input, whatever the pattern.

Python's ``re`` backtracks: ``regexMatch(payload, '^(a|aa)+$')`` took 14 s on a 28-character input, and
its C loop holds the GIL, so neither a thread nor a timeout can stop it (docs/decisions/0009). RE2
never backtracks. It has no backreferences (``\\1``) and no lookaround (``(?=``, ``(?<!``); a pattern using
them is refused with a sentence that says so, when the config is applied if the pattern is a literal.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import re2

from hivekeeper.errors import InvalidInput

CACHE_SIZE = 256
"""Compiled patterns kept; a scenario uses a handful."""

MAX_PATTERN = 4096
"""Characters of a pattern; RE2 compiles in time linear in it, but a 1 MB pattern is a mistake."""

_OPTIONS = re2.Options()
_OPTIONS.log_errors = False  # a refused pattern is our error to report, not a line on stderr
_cache: OrderedDict[str, Any] = OrderedDict()


class RegexError(InvalidInput, ValueError):
    """A pattern RE2 cannot compile; the message names the helper, the pattern and the fix."""

    template_line: int | None = None
    """Set by the compile-time pass (``templating.static``) when the pattern is a literal in a template."""


def compile_pattern(helper: str, pattern: str) -> Any:
    """The compiled RE2 form of ``pattern`` (cached); raises :class:`RegexError`, its message starting with
    ``helper`` when one is given."""
    compiled = _cache.get(pattern)
    if compiled is not None:
        return compiled
    who = f"{helper}: " if helper else ""
    if not isinstance(pattern, str):
        raise RegexError(f"{who}the pattern must be a string (got {type(pattern).__name__})")
    if len(pattern) > MAX_PATTERN:
        raise RegexError(f"{who}the pattern has {len(pattern):,} characters; at most {MAX_PATTERN:,} are accepted")
    try:
        compiled = re2.compile(pattern, _OPTIONS)
    except re2.error as exc:
        raise RegexError(
            f"{who}pattern {pattern!r} is not a regular expression RE2 can run ({_reason(exc)}); {_HINT}"
        ) from exc
    _cache[pattern] = compiled
    if len(_cache) > CACHE_SIZE:
        _cache.popitem(last=False)
    return compiled


_HINT = (
    "patterns run in linear time, so backreferences (\\1) and lookaround ((?=...), (?!...), (?<=...), (?<!...)) "
    "are not available: match more and pick the group you need"
)


def _reason(exc: Exception) -> str:
    text = exc.args[0] if exc.args else str(exc)
    return text.decode(errors="replace") if isinstance(text, bytes) else str(text)


def search(helper: str, pattern: str, text: str) -> Match | None:
    """The first match of ``pattern`` in ``text``, or None."""
    compiled = compile_pattern(helper, pattern)
    encoded = text.encode()
    # The compiled RE2 object's Match() on UTF-8 bytes costs ~1 µs; the module's str-level search, which maps
    # every offset back to characters, ~4.5 µs. Groups are cut from the bytes and decoded instead.
    spans = compiled._regexp.Match(_UNANCHORED, encoded, 0, len(encoded))
    if spans[0] == _NO_MATCH:
        return None
    return Match(encoded, spans, compiled.groupindex)


_UNANCHORED = re2._Anchor.UNANCHORED
_NO_MATCH = (-1, -1)


class Match:
    """A match: ``group(n)`` or ``group('name')`` is that group's text (None when it did not take part)."""

    __slots__ = ("_encoded", "_names", "_spans")

    def __init__(self, encoded: bytes, spans: list[tuple[int, int]], names: dict[str, int]) -> None:
        self._encoded = encoded
        self._spans = spans
        self._names = names

    def group(self, group: int | str = 0) -> str | None:
        index = self._names.get(group, -1) if isinstance(group, str) else group
        if not isinstance(index, int) or not 0 <= index < len(self._spans):
            raise IndexError(f"no group {group!r}")
        start, end = self._spans[index]
        return None if start < 0 else self._encoded[start:end].decode()


class Pattern:
    """A compiled pattern for code that asks whether it is found (Redis output routes) or for group 1 of its first
    match in bytes (result rules)."""

    __slots__ = ("_regexp", "groups", "source")

    def __init__(self, source: str) -> None:
        self.source = source
        compiled = compile_pattern("", source)
        self._regexp = compiled._regexp
        self.groups: int = compiled.groups

    def found(self, text: str) -> bool:
        return self.found_in(text.encode())

    def found_in(self, data: bytes) -> bool:
        return bool(self._regexp.Match(_UNANCHORED, data, 0, len(data))[0] != _NO_MATCH)

    def group1(self, data: bytes) -> bytes | None:
        """What group 1 of the first match in ``data`` matched (None: no match, or group 1 took no part)."""
        spans = self._regexp.Match(_UNANCHORED, data, 0, len(data))
        if spans[0] == _NO_MATCH or len(spans) < 2 or spans[1][0] < 0:
            return None
        start, end = spans[1]
        return data[start:end]
