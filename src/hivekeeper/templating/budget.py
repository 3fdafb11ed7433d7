"""The template budget: how much time and memory one compile or render may take.

A Swarm author can write ``{{ 10**100000000 }}`` or two nested ``range(100000)`` loops; without a bound
such a template hangs every worker of the role (rendering runs on the event loop) and ``hivekeeper
validate``. The sandbox (``templating.sandbox``) measures every operation that can grow without bound
against a :class:`Budget` and raises :class:`BudgetExceeded`, which names the limit, the value and the fix.

Pure: the only outside thing read is the monotonic clock.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from jinja2.utils import Namespace

from hivekeeper.errors import LimitExceeded


@dataclass(frozen=True)
class Budget:
    """Limits for one template compile or render. A normal template needs a few microseconds and a few
    hundred characters; each limit is thousands of times that, so only a runaway template meets one."""

    wall_seconds: float = 0.1
    """wallTime: seconds one render may run (checked at every call, every 64 loop iterations and every
    string built); the event loop is never held longer than this plus one bounded operation."""
    max_output: int = 1 << 20
    """maxOutput: characters a template may render (1 MiB)."""
    max_size: int = 1 << 20
    """maxSize: characters (or items) of any one string or list a template builds: repetition
    (``'a' * n``, ``[x] * n``), concatenation (``+``, ``~``), padding (``center``, ``format`` widths),
    ``join`` (1 MiB)."""
    max_built: int = 16 << 20
    """maxBuilt: characters and items all the strings and lists of one render add up to (16 MiB), so a
    loop cannot build a 1 MiB string a thousand times over."""
    max_int_bits: int = 4096
    """maxIntBits: bits of any integer a template computes (``**``, ``*``, ``+``, ``-``, ``%``)."""
    max_range: int = 100_000
    """maxRange: items of ``range(...)``."""
    max_depth: int = 64
    """maxDepth: nesting of macro calls (recursion) and recursive loops."""
    max_source: int = 1 << 20
    """maxSource: characters of a template's source (1 MiB)."""
    max_tokens: int = 20_000
    """maxTokens: tokens of a template's source (a few thousand ``{{ ... }}`` tags: ``{{ a }}`` is 5 tokens,
    ``{{ randInt(1, 9) }}`` 11; text between tags is one). Compiling costs up to ~14 µs a token and cannot
    be interrupted, so this keeps one template's compile under about a third of a second."""


DEFAULT = Budget()

TICK_EVERY = 64
"""Loop iterations between two looks at the clock (a look costs ~50 ns; an iteration ~100 ns)."""

GRACE = 0.02
"""Seconds a render gets after its first look at the clock past the deadline (see :meth:`Meter.check_time`)."""

BIG = 4096
"""A string or list at least this long is built rarely enough to look at the clock every time."""


class BudgetExceeded(LimitExceeded):
    """A template went past a limit of its :class:`Budget`; ``limit`` is the limit's name."""

    template_line: int | None = None
    """Set by the compile-time pass (``templating.static``): the line of the constant that broke the budget."""

    def __init__(self, limit: str, problem: str, allowed: str, fix: str) -> None:
        self.limit = limit
        super().__init__(f"{problem}; the template budget allows {allowed} ({limit}): {fix}")


class Meter:
    """What one render has used so far; the sandbox's hooks report to it."""

    __slots__ = ("budget", "built", "deadline", "depth", "graced", "ticks")

    def __init__(self, budget: Budget = DEFAULT, started: float | None = None) -> None:
        self.budget = budget
        self.deadline = (time.monotonic() if started is None else started) + budget.wall_seconds
        self.built = 0
        self.depth = 0
        self.ticks = TICK_EVERY
        self.graced = False

    def tick(self) -> None:
        """One loop iteration: look at the clock every :data:`TICK_EVERY` of them."""
        self.ticks -= 1
        if self.ticks <= 0:
            self.ticks = TICK_EVERY
            self.check_time()

    def check_time(self) -> None:
        now = time.monotonic()
        if now > self.deadline:
            if not self.graced:
                # The first time past the deadline may be the process's fault, not the template's: a
                # garbage collection or a busy machine can stall a 5 µs render for 100 ms. A runaway
                # template is still running one grace period later; a stalled normal one is long done.
                self.graced = True
                self.deadline = now + GRACE
                return
            ms = self.budget.wall_seconds * 1000
            raise BudgetExceeded(
                "wallTime",
                f"rendering ran for more than {ms:g} ms",
                f"{ms:g} ms",
                "make loops shorter or move heavy work out of the template",
            )

    def build(self, size: int, what: str) -> None:
        """A string or list of ``size`` characters/items was (or is about to be) built by ``what``."""
        if size > self.budget.max_size:
            raise BudgetExceeded(
                "maxSize",
                f"{what} would build {size:,} characters or items",
                f"{self.budget.max_size:,}",
                "build smaller values",
            )
        self.built += size
        if self.built > self.budget.max_built:
            raise BudgetExceeded(
                "maxBuilt",
                f"the strings and lists built while rendering add up to {self.built:,} characters or items "
                f"(last: {what})",
                f"{self.budget.max_built:,}",
                "build less per render, e.g. fewer loop iterations over large values",
            )
        if size >= BIG:
            self.check_time()

    def output(self, size: int) -> None:
        if size > self.budget.max_output:
            raise BudgetExceeded(
                "maxOutput",
                f"the rendered text reached {size:,} characters",
                f"{self.budget.max_output:,} characters",
                "render less text per template",
            )

    def int_bits(self, bits: int, what: str) -> None:
        if bits > self.budget.max_int_bits:
            raise BudgetExceeded(
                "maxIntBits",
                f"{what} would be an integer of about {bits:,} bits",
                f"{self.budget.max_int_bits:,} bits",
                "use smaller numbers",
            )

    def range_items(self, items: int) -> None:
        if items > self.budget.max_range:
            raise BudgetExceeded(
                "maxRange",
                f"range(...) would have {items:,} items",
                f"{self.budget.max_range:,} items",
                "iterate over fewer items",
            )

    def enter(self, what: str) -> None:
        self.depth += 1
        if self.depth > self.budget.max_depth:
            self.depth = 0  # the error unwinds every level; nothing will leave() them
            raise BudgetExceeded(
                "maxDepth",
                f"{what} calls nested more than {self.budget.max_depth} levels deep",
                f"{self.budget.max_depth} levels",
                "give the recursion a stopping condition that is reached sooner",
            )

    def leave(self) -> None:
        self.depth = max(0, self.depth - 1)


def weight(value: Any, cap: int) -> int:
    """About how many characters ``str(value)`` would have; stops counting once past ``cap``.

    A list can hold the same 1 MiB string a thousand times at the cost of a thousand references; what
    its text would cost is the sum over what it holds, so that is what is counted (iteratively: a deep
    nesting must not overflow the stack; a cyclic namespace just counts up to ``cap``).
    """
    total, stack = 0, [value]
    while stack:
        item = stack.pop()
        if isinstance(item, (str, bytes)):
            total += len(item)
        elif isinstance(item, int) and not isinstance(item, bool):
            total += item.bit_length() // 3 + 1
        elif isinstance(item, Mapping):
            total += 2 + 4 * len(item)
            if total <= cap:
                stack.extend(item.keys())
                stack.extend(item.values())
        elif isinstance(item, (list, tuple, set, frozenset)):
            total += 2 + 2 * len(item)
            if total <= cap:
                stack.extend(item)
        elif isinstance(item, Namespace):
            total += 16
            stack.append(item.__dict__.get("_Namespace__attrs", {}))
        else:
            total += 8
        if total > cap:
            return total
    return total


def power_bits(base: int, exponent: int) -> int:
    """An upper bound on the bits of ``base ** exponent`` (both integers, exponent >= 0)."""
    magnitude = abs(base)
    if magnitude <= 1 or exponent <= 1:
        return magnitude.bit_length()
    return int(exponent * math.log2(magnitude)) + 1


_PERCENT_SPEC = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(\*|\d+)?(?:\.(\*|\d+))?")
_DIGITS = re.compile(r"\d+")


def percent_widths(fmt: str) -> list[int]:
    """The widths and precisions written in a ``%`` format (``'%01000000000d'`` -> [1000000000])."""
    widths: list[int] = []
    for match in _PERCENT_SPEC.finditer(fmt):
        widths.extend(int(group) for group in match.groups() if group and group != "*")
    return widths


def spec_widths(spec: str) -> list[int]:
    """The numbers in a ``str.format`` field spec (``'>1000000000'`` -> [1000000000])."""
    return [int(digits) for digits in _DIGITS.findall(spec)]
