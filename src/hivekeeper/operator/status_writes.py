"""When a status patch is written: state at once, figures within a budget shared by every object (pure but the clock).

A roll-up runs every 2 s per object. Its figures (rates, counts, latencies, each instance's last report time)
change in nearly every roll-up, so writing every change costs one PATCH per object per 2 s: 150 a second for
100 swarms, and each PATCH comes back to the operator as a watch event it must process too (bench/control_scale.py).
So only a change of **state** is written at once: conditions, replicas, generations, failures, an instance's config
generation, enabled flag or I/O state, anything not listed below. A change of **figures** alone is written at most
every ``max(2 s, objects / FIGURE_PATCHES_PER_SECOND)`` per object: every 2 s up to 40 objects, every 15 s at 300.
An edit therefore shows as fast as before (its generations are state); figures get staler only as the installation
grows, and the API server's load from status stays bounded.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from typing import Any

FIGURE_PATCHES_PER_SECOND = 20.0
"""Figure-only status patches per second over all objects (state changes are not counted against it)."""
MIN_INTERVAL = 2.0
"""The roll-up period: figures are never written more often than this per object."""
SEEN_FOR = 60.0
"""An object not rolled up this long no longer counts towards the number sharing the budget."""
MAX_OBJECTS = 100_000
"""Objects remembered at most (the oldest go first)."""

FIGURES = frozenset(
    {"tps", "errors", "processed", "dropped", "statusCodes", "errorKinds", "businessCodes", "latencyMs", "totals"}
)
"""Top-level status keys that are figures (WorkerRole and Swarm)."""
ITEM_FIGURES = {
    "instances": frozenset({"tps", "lastSeen"}),
    "roles": frozenset({"tps", "errors", "latencyMs"}),
    "queues": frozenset({"depth", "messages"}),
}
"""Per list key of a status: the figures of each of its entries."""

Key = tuple[str, str, str]
"""(kind, namespace, name) of an object."""


def _state(key: str, value: Any) -> Any:
    """``value`` of status key ``key`` without its figures (None for a key that is all figures)."""
    if key in FIGURES:
        return None
    figures = ITEM_FIGURES.get(key)
    if figures is not None and isinstance(value, list):
        return [
            {k: v for k, v in entry.items() if k not in figures} if isinstance(entry, dict) else entry
            for entry in value
        ]
    return value


def differences(current: dict[str, Any], patch: dict[str, Any]) -> tuple[bool, bool]:
    """(anything changed, state changed): ``patch`` against the ``current`` status (a key the status lacks counts
    as changed)."""
    changed = state = False
    for key, value in patch.items():
        if key in current and current[key] == value:
            continue
        changed = True
        if key not in current or _state(key, current[key]) != _state(key, value):
            return True, True
    return changed, state


class StatusWrites:
    """Per object, when its figures were last written; decides whether a patch is due (see the module docstring)."""

    def __init__(self, clock: Callable[[], float], budget: float = FIGURE_PATCHES_PER_SECOND) -> None:
        self._clock = clock
        self._budget = budget
        self._written: OrderedDict[Key, float] = OrderedDict()
        self._seen: OrderedDict[Key, float] = OrderedDict()

    def interval(self) -> float:
        """Seconds between two figure-only patches of one object, for the objects rolled up now."""
        now = self._clock()
        while self._seen and now - next(iter(self._seen.values())) > SEEN_FOR:
            self._seen.popitem(last=False)
        return max(MIN_INTERVAL, len(self._seen) / self._budget)

    def due(self, key: Key, current: dict[str, Any], patch: dict[str, Any]) -> bool:
        """Whether to write ``patch`` over ``current`` now; call :meth:`written` once it is written."""
        now = self._clock()
        self._seen[key] = now
        self._seen.move_to_end(key)
        while len(self._seen) > MAX_OBJECTS:
            self._seen.popitem(last=False)
        changed, state = differences(current, patch)
        if not changed:
            return False
        if state:
            return True
        last = self._written.get(key)
        return last is None or now - last >= self.interval()

    def written(self, key: Key) -> None:
        self._written[key] = self._clock()
        self._written.move_to_end(key)
        while len(self._written) > MAX_OBJECTS:
            self._written.popitem(last=False)

    def forget(self, key: Key) -> None:
        """The object is gone."""
        self._written.pop(key, None)
        self._seen.pop(key, None)
