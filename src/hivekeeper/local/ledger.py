"""The datasets' books of a ``hivekeeper run``: for every Redis list the run used, what was there at the
start, what its workers pushed and popped, and what was there at the end.

``start + pushed - popped`` must equal ``end``. When it does not, the difference is either items that
were still in flight when the run stopped (popped, not yet pushed anywhere) or another client using
the same lists meanwhile; the summary says which figures to compare. Pure: the runner gathers the
counts (the workers' per-list counters and ``LLEN`` before and after) and prints what this renders.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ListBooks:
    """One list's figures; ``start`` is ``None`` for a list first known at the end (a templated target)."""

    name: str
    start: int | None
    pushed: int
    popped: int
    end: int
    uncertain: int = 0
    """Pops and pushes sent whose answer a broken connection cut off (Redis may or may not have run them)."""

    @property
    def explained(self) -> bool:
        """Off by no more than the uncertain commands: each such pop may have taken an element, each push
        may have added one that its retry added again."""
        return abs(self.unaccounted) <= self.uncertain

    @property
    def expected(self) -> int | None:
        return None if self.start is None else self.start + self.pushed - self.popped

    @property
    def unaccounted(self) -> int:
        """Elements expected but not found (negative: found but not expected); 0 when not measurable."""
        expected = self.expected
        return 0 if expected is None else expected - self.end


@dataclass(frozen=True)
class DatasetBooks:
    lists: list[ListBooks]
    in_flight: int
    """Items still in a queue or being processed when the run stopped (0 after a full drain)."""

    @property
    def unaccounted(self) -> int:
        return sum(books.unaccounted for books in self.lists)

    @property
    def balanced(self) -> bool:
        return all(books.unaccounted == 0 for books in self.lists)

    @property
    def explained(self) -> bool:
        """Every list balances, or is off by no more than its uncertain commands (a Redis outage)."""
        return all(books.explained for books in self.lists)

    @property
    def uncertain(self) -> int:
        return sum(books.uncertain for books in self.lists)


def books(
    start: Mapping[str, int],
    end: Mapping[str, int],
    pushed: Mapping[str, int],
    popped: Mapping[str, int],
    in_flight: int,
    uncertain: Mapping[str, int] | None = None,
) -> DatasetBooks:
    """Every list measured at the end, with the start (if it was measured) and the workers' counts."""
    unsure = uncertain or {}
    return DatasetBooks(
        lists=[
            ListBooks(name, start.get(name), pushed.get(name, 0), popped.get(name, 0), end[name], unsure.get(name, 0))
            for name in sorted(end)
        ],
        in_flight=in_flight,
    )


def render(ledger: DatasetBooks) -> str:
    """The books as the run summary prints them: one line per list, a total, and a verdict."""
    rows = [("list", "at start", "pushed", "popped", "at end", "")]
    for books_ in ledger.lists:
        start = "?" if books_.start is None else f"{books_.start:,}"
        note = ""
        if books_.start is None:
            note = "not measured at the start (a templated list)"
        elif books_.unaccounted:
            note = f"{books_.expected:,} expected"
        rows.append((books_.name, start, f"{books_.pushed:,}", f"{books_.popped:,}", f"{books_.end:,}", note))
    measured = [b for b in ledger.lists if b.start is not None]
    rows.append(
        (
            "all lists",
            f"{sum(b.start or 0 for b in measured):,}",
            f"{sum(b.pushed for b in ledger.lists):,}",
            f"{sum(b.popped for b in ledger.lists):,}",
            f"{sum(b.end for b in ledger.lists):,}",
            "",
        )
    )
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    lines = ["datasets (at start + pushed - popped = at end):"]
    for row in rows:
        figures = [cell.rjust(width) for cell, width in zip(row[1:5], widths[1:], strict=True)]
        cells = [row[0].ljust(widths[0]), *figures]
        lines.append(("  " + "  ".join(cells) + (f"  {row[5]}" if row[5] else "")).rstrip())
    lines.append("  " + verdict(ledger))
    return "\n".join(lines)


def verdict(ledger: DatasetBooks) -> str:
    in_flight = f"{ledger.in_flight:,} item(s) in flight at stop"
    if ledger.balanced:
        return f"balanced: every element is accounted for; {in_flight}"
    missing = ledger.unaccounted
    what = f"{missing:,} element(s) missing" if missing > 0 else f"{-missing:,} element(s) more than pushed"
    if ledger.explained:
        return (
            f"accounted for: {what}, within the {ledger.uncertain:,} Redis command(s) a lost connection left "
            "without an answer (a pop Redis ran takes its element once; a push it ran is added again by the "
            f"retry); {in_flight}"
        )
    return (
        f"NOT balanced: {what}; {in_flight}. Items in flight at stop account for missing elements; "
        "otherwise another client used these lists during the run"
    )


def as_json(ledger: DatasetBooks) -> dict[str, Any]:
    return {
        "lists": {
            b.name: {"start": b.start, "pushed": b.pushed, "popped": b.popped, "end": b.end} for b in ledger.lists
        },
        "inFlightAtStop": ledger.in_flight,
        "unaccounted": ledger.unaccounted,
        "uncertain": ledger.uncertain,
        "balanced": ledger.balanced,
        "explained": ledger.explained,
    }
