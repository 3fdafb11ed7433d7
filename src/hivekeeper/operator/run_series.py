"""What a cluster run did, folded from the workers' reports (pure): a time series per role, and each role's (and
http-sequence step's) latency histogram over the whole run.

The Swarm's roll-up calls :meth:`RunRecording.observe` every tick with the reports the operator holds for each
role's instances (:class:`~hivekeeper.operator.observations.Observations`). Every report is cumulative since its
worker started, so the recording keeps, per instance, the last report it folded and adds only what changed since:

- an instance heard for the first time after the start counts whole (it started during the run); the instances
  heard at the start are the baseline (:meth:`RunRecording.start`), so what they did before the run never counts;
- an instance whose figures went down restarted: its new figures count whole;
- an instance that went away keeps what it added: a pod that died mid-run still counts for the run.

So the run's histogram is exact however instances come and go, unlike "now minus the start" over the live ones.

The time series has one point per role each time its reports advanced by about an interval (workers report
every 5 s): a point's time is the report's, not the tick's, so its rate is the items of whole report intervals
over their length, without the beat of a 2-second tick against a 5-second report. Bounded by
:class:`~hivekeeper.report.timeseries.TimeSeries` (pairs merge past its maximum of points per role).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from hivekeeper.operator import counts
from hivekeeper.operator.status import InstanceReport
from hivekeeper.protocol.latency import LatencyHistogram, LatencyReport, merge
from hivekeeper.report.timeseries import DEFAULT_INTERVAL, Point, TimeSeries

MAX_POINTS = 360
"""Points per role before pairs merge: 30 minutes at 5 s, then an hour at 10 s, and so on; a few roles' series
stay well within the run record's bound (``report.run_document.MAX_DOCUMENT_BYTES``)."""
POINT_SHARE = 0.8
"""A role's point is made once its reports cover this share of the interval (reports come every ~5 s, not to
the millisecond)."""


@dataclass
class Seen:
    """An instance's figures as last folded: its report's counters and histograms since its worker started."""

    processed: int = 0
    errors: int = 0
    dropped: int = 0
    status_codes: dict[str, int] = field(default_factory=dict)
    error_kinds: dict[str, int] = field(default_factory=dict)
    business_codes: dict[str, int] = field(default_factory=dict)
    dimensions: dict[str, dict[str, int]] = field(default_factory=dict)
    latency: LatencyReport | None = None
    seen_at: float = float("-inf")

    @classmethod
    def of(cls, report: InstanceReport) -> Seen:
        return cls(
            processed=report.processed,
            errors=report.errors,
            dropped=report.dropped,
            status_codes=dict(report.status_codes),
            error_kinds=dict(report.error_kinds),
            business_codes=dict(report.business_codes),
            dimensions={name: dict(values) for name, values in report.dimensions.items()},
            latency=report.latency_since_start,
            seen_at=report.seen_at,
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "processed": self.processed,
            "errors": self.errors,
            "dropped": self.dropped,
            "statusCodes": self.status_codes,
            "errorKinds": self.error_kinds,
            "businessCodes": self.business_codes,
            "dimensions": self.dimensions,
            "latency": self.latency.to_json() if self.latency is not None else None,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Seen:
        latency = data.get("latency")
        return cls(
            processed=int(data.get("processed", 0)),
            errors=int(data.get("errors", 0)),
            dropped=int(data.get("dropped", 0)),
            status_codes=_int_counts(data.get("statusCodes")),
            error_kinds=_int_counts(data.get("errorKinds")),
            business_codes=_int_counts(data.get("businessCodes")),
            dimensions={str(name): _int_counts(values) for name, values in (data.get("dimensions") or {}).items()},
            latency=LatencyReport.model_validate(latency) if latency else None,
        )


def _int_counts(data: Any) -> dict[str, int]:
    return {str(k): int(v) for k, v in (data or {}).items()}


def _grown_counts(now: Mapping[str, int], before: Mapping[str, int], restarted: bool) -> dict[str, int]:
    """What each key grew by (all of it when the worker restarted, or for a key that went down)."""
    out = {}
    for key, n in now.items():
        grown = n if restarted else _grown(n, before.get(key, 0))
        if grown:
            out[key] = grown
    return out


def _add(into: dict[str, int], counts: Mapping[str, int]) -> None:
    for key, n in counts.items():
        into[key] = into.get(key, 0) + n


def _grown(now: int, before: int) -> int:
    """A counter's growth; one that went down (the worker restarted) counts whole."""
    return now - before if now >= before else now


def _window(now: LatencyHistogram, before: LatencyHistogram | None) -> LatencyHistogram:
    if before is None:
        return now
    window = now.since(before)
    return window if window is not None else now


@dataclass
class Delta:
    """What a role's instances added since they were last folded."""

    processed: int = 0
    errors: int = 0
    dropped: int = 0
    errors_by_kind: dict[str, int] = field(default_factory=dict)
    """The workers' error kinds (connect, timeout, business, ...) and the failed HTTP answers as ``http <code>``."""
    business_codes: dict[str, int] = field(default_factory=dict)
    dimensions: dict[str, dict[str, int]] = field(default_factory=dict)
    latency: list[LatencyHistogram] = field(default_factory=list)
    steps: dict[str, list[LatencyHistogram]] = field(default_factory=dict)

    def add(self, report: InstanceReport, seen: Seen) -> None:
        restarted = report.processed < seen.processed
        self.processed += _grown(report.processed, seen.processed)
        self.errors += _grown(report.errors, seen.errors)
        self.dropped += _grown(report.dropped, seen.dropped)
        failed = {c: n for c, n in report.status_codes.items() if not c.startswith(("1", "2", "3"))}
        answers = _grown_counts(failed, seen.status_codes, restarted)
        _add(self.errors_by_kind, {f"http {code}": n for code, n in answers.items()})
        _add(self.errors_by_kind, _grown_counts(report.error_kinds, seen.error_kinds, restarted))
        _add(self.business_codes, _grown_counts(report.business_codes, seen.business_codes, restarted))
        for name, values in report.dimensions.items():
            grown = _grown_counts(values, seen.dimensions.get(name, {}), restarted)
            if grown:
                _add(self.dimensions.setdefault(name, {}), grown)
        now = report.latency_since_start
        if now is None:
            return
        before = seen.latency if not restarted else None
        self.latency.append(_window(now.role, before.role if before else None))
        for step, histogram in now.steps.items():
            self.steps.setdefault(step, []).append(_window(histogram, before.steps.get(step) if before else None))


@dataclass
class RoleRecording:
    """One role's share of a run: its instances as last folded, its totals, and the point being gathered."""

    seen: dict[str, Seen] = field(default_factory=dict)
    latency: LatencyHistogram = field(default_factory=LatencyHistogram)
    steps: dict[str, LatencyHistogram] = field(default_factory=dict)
    error_kinds: dict[str, int] = field(default_factory=dict)
    business_codes: dict[str, int] = field(default_factory=dict)
    dimensions: dict[str, dict[str, int]] = field(default_factory=dict)
    """The run's counts so far (bounded when written: :mod:`~hivekeeper.operator.counts`)."""
    point_since: float = 0.0
    """Run time (s) the point being gathered starts at."""
    pending: Delta = field(default_factory=Delta)
    pending_until: float = 0.0

    def as_json(self) -> dict[str, Any]:
        return {
            "seen": {name: seen.as_json() for name, seen in self.seen.items()},
            "latency": self.latency.model_dump(mode="json"),
            "steps": {step: h.model_dump(mode="json") for step, h in self.steps.items()},
            "errorKinds": counts.bounded(self.error_kinds),
            "businessCodes": counts.bounded(self.business_codes),
            "dimensions": counts.summed_dimensions([self.dimensions]),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RoleRecording:
        return cls(
            seen={str(name): Seen.from_json(s) for name, s in (data.get("seen") or {}).items()},
            latency=LatencyHistogram.model_validate(data.get("latency") or {}),
            steps={str(step): LatencyHistogram.model_validate(h) for step, h in (data.get("steps") or {}).items()},
            error_kinds=_int_counts(data.get("errorKinds")),
            business_codes=_int_counts(data.get("businessCodes")),
            dimensions={str(n): _int_counts(v) for n, v in (data.get("dimensions") or {}).items()},
        )

    def counted(self) -> tuple[dict[str, int], dict[str, int], dict[str, dict[str, int]]]:
        """(error kinds, business codes, dimensions) over the run so far, the point being gathered included."""
        pending = self.pending
        kinds = counts.summed([self.error_kinds, pending.errors_by_kind])
        codes = counts.summed([self.business_codes, pending.business_codes])
        return kinds, codes, counts.summed_dimensions([self.dimensions, pending.dimensions])


def latency_figures(histogram: LatencyHistogram) -> dict[str, float]:
    """p50, p90, p95, p99, max and mean (ms) of a histogram; empty when it holds nothing."""
    count = histogram.count
    if not count:
        return {}
    figures = {name: round(histogram.percentile_ms(pct), 3) for name, pct in (("p50", 50), ("p90", 90))}
    figures |= {name: round(histogram.percentile_ms(pct), 3) for name, pct in (("p95", 95), ("p99", 99))}
    figures["max"] = round(histogram.maxUs / 1000.0, 3)
    figures["mean"] = round(histogram.sumUs / count / 1000.0, 3)
    return figures


@dataclass
class RunRecording:
    """One run of one Swarm: started at ``start`` on the operator's monotonic clock (reports' ``seen_at``)."""

    run_id: str
    started_at: str
    start: float
    series: TimeSeries = field(default_factory=lambda: TimeSeries(interval=DEFAULT_INTERVAL, max_points=MAX_POINTS))
    roles: dict[str, RoleRecording] = field(default_factory=dict)
    whole: bool = True
    """False when the recording was picked up without its baseline (an operator restarted and the run's record
    held none): its histograms then miss the run's first part and the verdict judges the worst intervals."""
    written_at: float | None = None
    """Monotonic time the run's record was last written (None: never)."""
    adopt: bool = False
    """Take a role first heard of as a baseline instead of counting it (a recording picked up without one)."""

    def begin(self, role: str, instances: list[InstanceReport]) -> None:
        """Take ``instances``' reports as the baseline of ``role``: nothing they did so far counts."""
        since = max([0.0, *(r.seen_at - self.start for r in instances)])
        recording = self.roles.setdefault(role, RoleRecording(point_since=since, pending_until=since))
        for report in instances:
            recording.seen[report.name] = Seen.of(report)

    def observe(self, role: str, instances: list[InstanceReport], queue_depth: int | None = None) -> None:
        """Fold ``role``'s new reports in; make its next point once they cover about an interval."""
        if role not in self.roles and self.adopt:
            self.begin(role, instances)
            return
        recording = self.roles.setdefault(role, RoleRecording())
        fresh = [r for r in instances if r.seen_at > recording.seen.get(r.name, Seen()).seen_at]
        if not fresh:
            return
        delta = recording.pending
        for report in fresh:
            seen = recording.seen.get(report.name, Seen())
            delta.add(report, seen)
            recording.seen[report.name] = Seen.of(report)
        recording.pending_until = max(recording.pending_until, max(r.seen_at for r in fresh) - self.start)
        self._point_if_due(role, recording, queue_depth)

    def _point_if_due(
        self, role: str, recording: RoleRecording, queue_depth: int | None, *, last: bool = False
    ) -> None:
        span = recording.pending_until - recording.point_since
        if span <= 0 or (span < POINT_SHARE * self.series.interval and not last):
            return
        delta = recording.pending
        window = merge(delta.latency)
        recording.latency = merge([recording.latency, window])
        for step, windows in delta.steps.items():
            held = recording.steps.get(step)
            recording.steps[step] = merge([held, *windows] if held is not None else windows)
        _add(recording.error_kinds, delta.errors_by_kind)
        _add(recording.business_codes, delta.business_codes)
        for name, values in delta.dimensions.items():
            _add(recording.dimensions.setdefault(name, {}), values)
        point = Point(
            t=recording.pending_until,
            seconds=span,
            processed=delta.processed,
            errors=delta.errors,
            dropped=delta.dropped,
            errors_by_kind=counts.bounded(delta.errors_by_kind),
            latency_count=window.count,
            queue_depth=queue_depth,
        )
        if window.count:
            point.p50, point.p95, point.p99 = (window.percentile_ms(p) for p in (50, 95, 99))
        self.series.append(role, point)
        recording.pending, recording.point_since = Delta(), recording.pending_until

    def close(self) -> None:
        """Make every role's last (partial) point: the run is over."""
        for role, recording in self.roles.items():
            self._point_if_due(role, recording, None, last=True)

    def latency(self, role: str) -> RunLatency | None:
        """The role's latency over the run (and each step's), the point being gathered included; None when
        unknown: the recording misses the run's start, or no instance of the role sends histograms (a custom
        worker image that reports only its percentiles)."""
        recording = self.roles.get(role)
        if recording is None or not self.whole or all(s.latency is None for s in recording.seen.values()):
            return None
        steps = dict(recording.steps)
        for step, windows in recording.pending.steps.items():
            steps[step] = merge([*([steps[step]] if step in steps else []), *windows])
        whole = merge([recording.latency, *recording.pending.latency])
        return RunLatency(
            role=latency_figures(whole), steps={step: latency_figures(h) for step, h in steps.items() if h.count}
        )


@dataclass(frozen=True)
class RunLatency:
    """A role's latency figures (p50, p90, p95, p99, max, mean in ms) over a whole run, and its steps'."""

    role: dict[str, float]
    steps: dict[str, dict[str, float]] = field(default_factory=dict)
