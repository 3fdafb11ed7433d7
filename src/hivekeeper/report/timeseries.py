"""A run's time series: one point per role per fixed interval, bounded in size, JSON-serialisable.

Each point holds what the role did during its interval: items processed, errors (by kind) and items
dropped, as counts with the interval's length (the rates derive from them), latency percentiles of that
interval only (from the difference of two histogram snapshots, not since the start), and the depth of the
role's input queue at the interval's end.

Bounded: a series holds at most ``max_points`` points per role. Past that, consecutive pairs are merged
(:meth:`TimeSeries.downsample`) and the interval doubles: counts and lengths add up (so the rates stay exact
means), percentiles and queue depth keep the larger of the two (an upper bound: a one-interval spike stays
visible), and the recorder goes on at the doubled interval. A week-long run at 5 s ends with at most
``max_points`` points at ~15 min.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, TypeVar

DEFAULT_INTERVAL = 5.0
"""Seconds between points of a run of a minute or more (or of unknown length)."""
SHORT_RUN_INTERVAL = 1.0
"""Seconds between points of a run shorter than ``SHORT_RUN``: it still gets tens of points."""
SHORT_RUN = 60.0
MAX_POINTS = 720
"""Points per role before pairs merge: an hour at 5 s, then two hours at 10 s, and so on."""

_N = TypeVar("_N", int, float)


def interval_for(duration: float | None) -> float:
    """The interval for a run of ``duration`` seconds (None: until stopped): 1 s under a minute, else 5 s."""
    if duration is not None and duration < SHORT_RUN:
        return SHORT_RUN_INTERVAL
    return DEFAULT_INTERVAL


@dataclass
class Point:
    """What one role did in one interval, ending ``t`` seconds after the run started."""

    t: float
    seconds: float
    processed: int = 0
    errors: int = 0
    dropped: int = 0
    errors_by_kind: dict[str, int] = field(default_factory=dict)
    latency_count: int = 0
    """Latencies recorded in the interval; the percentiles are None when there were none."""
    p50: float | None = None
    p95: float | None = None
    p99: float | None = None
    queue_depth: int | None = None
    """Items waiting in the role's input queue at the interval's end (None: the role has no input queue)."""

    def rate(self, count: int) -> float:
        return count / self.seconds if self.seconds > 0 else 0.0

    @property
    def start(self) -> float:
        return self.t - self.seconds

    def merged(self, later: Point) -> Point:
        """This point and the next as one (see the module docstring for how each field combines)."""
        kinds = dict(self.errors_by_kind)
        for kind, n in later.errors_by_kind.items():
            kinds[kind] = kinds.get(kind, 0) + n
        return Point(
            t=later.t,
            seconds=self.seconds + later.seconds,
            processed=self.processed + later.processed,
            errors=self.errors + later.errors,
            dropped=self.dropped + later.dropped,
            errors_by_kind=kinds,
            latency_count=self.latency_count + later.latency_count,
            p50=_larger(self.p50, later.p50),
            p95=_larger(self.p95, later.p95),
            p99=_larger(self.p99, later.p99),
            queue_depth=_larger(self.queue_depth, later.queue_depth),
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "t": round(self.t, 3),
            "seconds": round(self.seconds, 3),
            "processed": self.processed,
            "errors": self.errors,
            "dropped": self.dropped,
            "errorsByKind": dict(sorted(self.errors_by_kind.items())),
            "processedPerSec": round(self.rate(self.processed), 3),
            "errorsPerSec": round(self.rate(self.errors), 3),
            "droppedPerSec": round(self.rate(self.dropped), 3),
            "errorsByKindPerSec": {k: round(self.rate(n), 3) for k, n in sorted(self.errors_by_kind.items())},
            "latencyCount": self.latency_count,
            "latencyMs": None if self.p50 is None else {"p50": self.p50, "p95": self.p95, "p99": self.p99},
            "queueDepth": self.queue_depth,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Point:
        latency = data.get("latencyMs") or {}
        return cls(
            t=float(data["t"]),
            seconds=float(data["seconds"]),
            processed=int(data.get("processed", 0)),
            errors=int(data.get("errors", 0)),
            dropped=int(data.get("dropped", 0)),
            errors_by_kind={str(k): int(n) for k, n in (data.get("errorsByKind") or {}).items()},
            latency_count=int(data.get("latencyCount", 0)),
            p50=_float_or_none(latency.get("p50")),
            p95=_float_or_none(latency.get("p95")),
            p99=_float_or_none(latency.get("p99")),
            queue_depth=None if data.get("queueDepth") is None else int(data["queueDepth"]),
        )


@dataclass
class TimeSeries:
    """Every role's points of one swarm's run, at ``interval`` seconds (doubled by each downsampling)."""

    interval: float
    max_points: int = MAX_POINTS
    roles: dict[str, list[Point]] = field(default_factory=dict)
    downsampled: int = 0
    """How many times pairs were merged (the interval is the starting one times 2**downsampled)."""

    def append(self, role: str, point: Point) -> None:
        """Add ``role``'s next point; when a role reaches ``max_points``, halve every role (and double the
        interval)."""
        points = self.roles.setdefault(role, [])
        points.append(point)
        if len(points) >= self.max_points:
            self.downsample()

    def downsample(self) -> None:
        """Merge consecutive pairs of every role's points (an odd last one stays) and double the interval."""
        for role, points in self.roles.items():
            pairs = [points[i].merged(points[i + 1]) for i in range(0, len(points) - 1, 2)]
            self.roles[role] = pairs + ([points[-1]] if len(points) % 2 else [])
        self.interval *= 2
        self.downsampled += 1

    def as_json(self) -> dict[str, Any]:
        return {
            "intervalSeconds": self.interval,
            "maxPoints": self.max_points,
            "downsampled": self.downsampled,
            "roles": [{"role": role, "points": [p.as_json() for p in points]} for role, points in self.roles.items()],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TimeSeries:
        return cls(
            interval=float(data["intervalSeconds"]),
            max_points=int(data.get("maxPoints", MAX_POINTS)),
            downsampled=int(data.get("downsampled", 0)),
            roles={str(r["role"]): [Point.from_json(p) for p in r["points"]] for r in data.get("roles", [])},
        )


def within(points: list[Point], start: float, end: float) -> Point | None:
    """The points whose interval's middle lies in [start, end) merged into one (see :meth:`Point.merged`: exact
    rates, the highest interval percentiles), or None when there are none."""
    inside = [p for p in points if start <= p.t - p.seconds / 2 < end]
    if not inside:
        return None
    merged = inside[0]
    for point in inside[1:]:
        merged = merged.merged(point)
    return merged


def _larger(a: _N | None, b: _N | None) -> _N | None:
    if a is None:
        return b
    if b is None:
        return a
    return max(a, b)


def _float_or_none(value: Any) -> float | None:
    return None if value is None else float(value)
