"""Counts of results by business code and by dimension value, with a bounded number of keys.

Codes and dimension values come from the system under test: a pattern that catches a timestamp or an id would
make every result a new key, and every key is a Prometheus series and a line of a status report. So each count
keeps the first :data:`MAX_KEYS` keys it sees and counts the rest under :data:`OTHER`; a role keeps at most
:data:`MAX_DIMENSIONS` dimension names (a foreign producer's headers may carry more). The processor counts what
its rules read (:mod:`hivekeeper.worker.result_rules`), the postprocessor what the result steps' headers say;
``RoleStats.results`` holds the counts and status, metrics and ``hivekeeper run`` read them from there.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field

from hivekeeper.worker.result_rules import RuleValues

OTHER = "(other)"
"""The bucket of keys past the limit (no business code or dimension value is written with parentheses)."""
MAX_KEYS = 32
"""Distinct business codes, and distinct values per dimension, counted apart."""
MAX_DIMENSIONS = 8
"""Dimension names counted per worker (a rule set has at most as many): with :data:`MAX_KEYS` values each and
values of at most ``result_rules.MAX_VALUE`` characters, the counts add at most about 20 KB to a status report."""
MAX_ERROR_KINDS = 32
"""Distinct error kinds a role counts apart (kinds read from items are bounded like codes)."""


class BoundedCounts:
    """A counter of at most ``limit`` keys (the first seen) plus :data:`OTHER` for the rest."""

    __slots__ = ("counts", "limit")

    def __init__(self, limit: int = MAX_KEYS) -> None:
        self.limit = limit
        self.counts: Counter[str] = Counter()

    def add(self, key: str, n: int = 1) -> None:
        self.counts[bounded_key(self.counts, key, self.limit)] += n

    def merge(self, other: Mapping[str, int]) -> None:
        for key, n in other.items():
            self.add(key, n)

    def as_dict(self) -> dict[str, int]:
        """Largest first (ties by key), :data:`OTHER` last."""
        ordered = sorted(((k, n) for k, n in self.counts.items() if k != OTHER), key=lambda kv: (-kv[1], kv[0]))
        if OTHER in self.counts:
            ordered.append((OTHER, self.counts[OTHER]))
        return dict(ordered)

    def __bool__(self) -> bool:
        return bool(self.counts)


def bounded_key(counts: Mapping[str, int], key: str, limit: int) -> str:
    """``key`` when ``counts`` has it or has room for it (fewer than ``limit`` keys besides :data:`OTHER`), else
    :data:`OTHER`."""
    if key in counts:
        return key
    return key if len(counts) - (OTHER in counts) < limit else OTHER


@dataclass
class ResultTally:
    """Results by business code and by dimension value, and how often the rules judged or ran out of time."""

    codes: BoundedCounts = field(default_factory=BoundedCounts)
    dimensions: dict[str, BoundedCounts] = field(default_factory=dict)
    successes: int = 0
    """Results the rules judged a business success."""
    failures: int = 0
    """Results the rules judged a business failure (whatever their status: a 2xx among them is an error of kind
    ``business``, a 5xx an error of its status)."""
    over_budget: int = 0
    """Results whose patterns ran out of the template budget's wall time (their later values are missing)."""

    def record(self, values: RuleValues) -> None:
        if values.code is not None:
            self.codes.add(values.code)
        if values.success is True:
            self.successes += 1
        elif values.success is False:
            self.failures += 1
        if values.over_budget:
            self.over_budget += 1
        for name, value in values.dimensions:
            counts = self.dimensions.get(name)
            if counts is None:
                if len(self.dimensions) >= MAX_DIMENSIONS:
                    continue
                counts = self.dimensions[name] = BoundedCounts()
            counts.add(value)

    def merge(self, other: ResultTally) -> None:
        """Add ``other``'s counts (several workers of one role), bounded the same way."""
        self.codes.merge(other.codes.counts)
        for name, counts in other.dimensions.items():
            mine = self.dimensions.get(name)
            if mine is None:
                if len(self.dimensions) >= MAX_DIMENSIONS:
                    continue
                mine = self.dimensions[name] = BoundedCounts()
            mine.merge(counts.counts)
        self.successes += other.successes
        self.failures += other.failures
        self.over_budget += other.over_budget

    def snapshot(self) -> dict[str, object]:
        """The status report's keys (only those with counts): ``businessCodes``, ``businessResults``
        (``{success, failure}``), ``dimensions`` (``{name: {value: n}}``), ``resultRulesOverBudget``."""
        out: dict[str, object] = {}
        if self.codes:
            out["businessCodes"] = self.codes.as_dict()
        if self.successes or self.failures:
            out["businessResults"] = {"success": self.successes, "failure": self.failures}
        if self.dimensions:
            out["dimensions"] = {name: counts.as_dict() for name, counts in sorted(self.dimensions.items())}
        if self.over_budget:
            out["resultRulesOverBudget"] = self.over_budget
        return out

    def __bool__(self) -> bool:
        return bool(self.codes or self.dimensions or self.successes or self.failures or self.over_budget)
