"""How ``sequence(key, mode, format)`` turns a counter into text (pure).

A counter from the store (``INCR``: 1, 2, 3, ...) becomes a *value* (:func:`wrap`: ``max`` makes it
cycle, ``start`` offsets it) and the value is written through a printf-like *format* in a *mode*
(a digit alphabet):

- ``numeric`` 0-9, ``hex`` / ``hex_lower``, ``binary``, ``alphanum`` / ``alphanum_lower`` (0-9 then
  A-Z): ordinary positional numbers, 0 included (``hex``: 1, ..., F, 10, ...).
- ``alpha`` / ``alpha_lower``: letters only, so there is no zero digit. Unpadded they count like
  spreadsheet columns (1 → A, 26 → Z, 27 → AA, 703 → AAA); padded to a width (``%3S``) they run like
  an odometer whose wheels start at A (1 → AAA, 2 → AAB, 27 → ABA). Values start at 1.

Formats: ``%d`` (decimal), ``%0Nd`` (decimal, zero-padded to N), ``%s`` / ``%S`` (the mode's
encoding; ``%S`` upper-cased, as in Java), ``%Ns`` / ``%NS`` (padded on the left to N with the
mode's zero digit: ``0``, or ``A`` for alpha), ``%%`` (a literal ``%``), with any literal text
around them (``CUS-%06d``). A width is a minimum, as in printf: a value that needs more digits
gets them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from hivekeeper.errors import InvalidInput

_UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_DIGITS = "0123456789"

MODES: dict[str, str] = {
    "numeric": _DIGITS,
    "alpha": _UPPER,
    "alpha_lower": _UPPER.lower(),
    "alphanum": _DIGITS + _UPPER,
    "alphanum_lower": _DIGITS + _UPPER.lower(),
    "hex": _DIGITS + "ABCDEF",
    "hex_lower": _DIGITS + "abcdef",
    "binary": "01",
}
"""Digit alphabets by mode name; the first character is the mode's zero (padding) digit."""

LETTERS_ONLY = frozenset({"alpha", "alpha_lower"})
"""Modes without a zero: their values start at 1."""

MAX_WIDTH = 64
FORMATS_HELP = (
    "%d, %0Nd (zero-padded decimal), %s or %S (the mode's encoding; %S upper-cased), "
    "%Ns or %NS (padded to width N with the mode's zero digit) and %% (a literal %), with literal text around them"
)

_TOKEN = re.compile(r"%(?:(0)?(\d+))?([dsS%])")


class SequenceFormatError(InvalidInput, ValueError):
    """A mode, format, start or max that ``sequence`` cannot use; the message names it and the fix."""


@dataclass(frozen=True)
class _Conversion:
    kind: str
    """``d``, ``s`` or ``S``."""
    width: int


@dataclass(frozen=True)
class SequenceFormat:
    """A checked (mode, format) pair, ready to write values."""

    mode: str
    parts: tuple[str | _Conversion, ...]

    def render(self, value: int) -> str:
        if value < (1 if self.mode in LETTERS_ONLY else 0):
            raise SequenceFormatError(
                f"value {value} cannot be written in mode {self.mode!r} "
                f"({'letters start at 1 → A' if self.mode in LETTERS_ONLY else 'values are never negative'})"
            )
        out = []
        for part in self.parts:
            if isinstance(part, str):
                out.append(part)
            elif part.kind == "d":
                out.append(str(value).rjust(part.width, "0"))
            else:
                text = encode(value, self.mode, part.width)
                out.append(text.upper() if part.kind == "S" else text)
        return "".join(out)


@lru_cache(maxsize=256)
def compile_format(mode: str, fmt: str) -> SequenceFormat:
    """The :class:`SequenceFormat` for ``mode`` and ``fmt``, or :class:`SequenceFormatError` naming the problem."""
    if mode not in MODES:
        raise SequenceFormatError(f"mode {mode!r} is not a sequence mode; use one of {', '.join(MODES)}")
    parts: list[str | _Conversion] = []
    position, conversions = 0, 0
    for match in _TOKEN.finditer(fmt):
        literal = fmt[position : match.start()]
        if "%" in literal:
            at = position + literal.index("%")
            raise SequenceFormatError(
                f"format {fmt!r}: {fmt[at : at + 3]!r} at position {at} is not a conversion; use {FORMATS_HELP}"
            )
        parts.append(literal)
        position = match.end()
        zero, width_text, kind = match.groups()
        if kind == "%":
            if width_text is not None:
                raise SequenceFormatError(f"format {fmt!r}: {match.group()!r} is not a conversion; write %% alone")
            parts.append("%")
            continue
        width = int(width_text or 0)
        if width_text is not None and width == 0:
            raise SequenceFormatError(f"format {fmt!r}: {match.group()!r} has width 0; write %{kind} without a width")
        if width > MAX_WIDTH:
            raise SequenceFormatError(f"format {fmt!r}: width {width} is above {MAX_WIDTH}; use a smaller width")
        if kind == "d" and width_text is not None and zero is None:
            raise SequenceFormatError(
                f"format {fmt!r}: {match.group()!r} would pad with spaces; use %0{width}d to pad with zeros"
            )
        if kind in "sS" and zero is not None:
            raise SequenceFormatError(
                f"format {fmt!r}: {match.group()!r} is not a conversion; %{width}{kind} already pads with the "
                "mode's zero digit"
            )
        parts.append(_Conversion(kind, width))
        conversions += 1
    tail = fmt[position:]
    if "%" in tail:
        at = position + tail.index("%")
        raise SequenceFormatError(
            f"format {fmt!r}: {fmt[at : at + 3]!r} at position {at} is not a conversion; use {FORMATS_HELP}"
        )
    parts.append(tail)
    if conversions == 0:
        raise SequenceFormatError(f"format {fmt!r} has no conversion for the number; use {FORMATS_HELP}")
    return SequenceFormat(mode, tuple(p for p in parts if p != ""))


def encode(value: int, mode: str, width: int = 0) -> str:
    """``value`` in the digits of ``mode``, left-padded to ``width`` with the mode's zero digit."""
    digits = MODES[mode]
    base = len(digits)
    out: list[str] = []
    if mode in LETTERS_ONLY and width == 0:
        n = value  # bijective: A=1 .. Z=26, AA=27 (no zero digit, no padding)
        while n > 0:
            n, rest = divmod(n - 1, base)
            out.append(digits[rest])
        return "".join(reversed(out))
    n = value - 1 if mode in LETTERS_ONLY else value  # odometer: the first value shows all wheels at A
    while True:
        n, rest = divmod(n, base)
        out.append(digits[rest])
        if n == 0:
            break
    return "".join(reversed(out)).rjust(width, digits[0])


def _integer(name: str, value: Any) -> int:
    if isinstance(value, bool):
        raise SequenceFormatError(f"{name} {value!r} is not an integer")
    try:
        return int(value)
    except (TypeError, ValueError) as exc:
        raise SequenceFormatError(f"{name} {value!r} is not an integer") from exc


def check_bounds(mode: str, start: Any, maximum: Any) -> tuple[int, int]:
    """``(start, max)`` as integers; ``max`` 0 (or None) means no wrapping."""
    first = _integer("start", start)
    lowest = 1 if mode in LETTERS_ONLY else 0
    if first < lowest:
        fix = "letters start at 1 → A" if mode in LETTERS_ONLY else "values are never negative"
        raise SequenceFormatError(f"start {first} is below {lowest} in mode {mode!r} ({fix}); use start >= {lowest}")
    cycle = 0 if maximum is None else _integer("max", maximum)
    if cycle < 0:
        raise SequenceFormatError(f"max {cycle} is negative; use a positive cycle length, or 0 for no wrapping")
    return first, cycle


def wrap(counter: int, start: int = 1, maximum: int = 0) -> int:
    """The value of the ``counter``-th number: ``(counter-1) % max + 1`` when ``max`` > 0, then shifted so that
    the first value is ``start`` (``start=1, max=3``: 1, 2, 3, 1, ...; ``start=0, max=3``: 0, 1, 2, 0, ...)."""
    if maximum > 0:
        counter = (counter - 1) % maximum + 1
    return counter + start - 1
