"""What the HTML report shows: runs (a swarm's summary rows and time series) plus, when given, the run's
stages and thresholds. Plain data, so that a local run and a cluster run fill it the same way.

:func:`from_run_summary` reads the JSON summary of ``hivekeeper run`` (one swarm, or ``swarms[]``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from hivekeeper.report.timeseries import TimeSeries

LATENCY_METRICS = ("p50", "p90", "p95", "p99", "max", "mean")
"""Threshold metrics drawn on a role's latency plot (milliseconds)."""
RATE_METRICS = ("rate", "tps", "processedPerSec")
"""Threshold metrics drawn on a role's rate plot (items per second)."""
ERROR_METRICS = ("errorsPerSec", "droppedPerSec")
"""Threshold metrics drawn on a role's errors plot (per second); any other metric (error %, status classes)
is listed in the thresholds table only."""


@dataclass(frozen=True)
class StageSpan:
    """A stage of the run's load shape: from ``start`` to ``end`` seconds after the run started."""

    start: float
    end: float
    label: str
    role: str | None = None
    """The role whose stage it is; None: the whole run's."""


@dataclass(frozen=True)
class ThresholdResult:
    """One threshold's outcome: ``metric`` of ``role`` was ``observed`` against ``limit``."""

    role: str
    metric: str
    limit: float
    observed: float | None
    passed: bool
    unit: str = ""
    step: str | None = None
    """The http-sequence step it is about, if any (drawn on no plot: the plots are the role's)."""
    label: str | None = None
    """How the threshold reads, e.g. ``caller p95 <= 300`` (default: built from the fields)."""

    @property
    def plot(self) -> str | None:
        """Which of the role's plots draws it: latency, rate, errors, or None (listed only)."""
        if self.step is not None:
            return None
        if self.metric in LATENCY_METRICS:
            return "latency"
        if self.metric in RATE_METRICS:
            return "rate"
        if self.metric in ERROR_METRICS:
            return "errors"
        return None

    def describe(self) -> str:
        target = f"{self.role}/{self.step}" if self.step else self.role
        unit = f" {self.unit}" if self.unit else ""
        seen = "n/a" if self.observed is None else f"{self.observed:.4g}{unit}"
        result = "passed" if self.passed else "FAILED"
        written = self.label or f"{target} {self.metric} limit {self.limit:g}{unit}"
        return f"{written}: observed {seen}, {result}"


@dataclass
class RunMarks:
    """What a run was asked to do and how it went: drawn on its plots and listed (all optional)."""

    stages: list[StageSpan] = field(default_factory=list)
    thresholds: list[ThresholdResult] = field(default_factory=list)
    verdict: str | None = None
    """Passed / Failed (the runner's verdict); None: derived from the thresholds when there are any."""
    reason: str | None = None

    @property
    def shown_verdict(self) -> str | None:
        if self.verdict is not None:
            return self.verdict
        if not self.thresholds:
            return None
        return "Passed" if all(t.passed for t in self.thresholds) else "Failed"


@dataclass
class SwarmRun:
    """One swarm's run: its summary rows (``roles[]`` of the JSON summary), its time series and its marks."""

    swarm: str
    duration_seconds: float
    drain_seconds: float = 0.0
    started_at: float | None = None
    """Unix time the load started (None: unknown, or the swarm was paused)."""
    roles: list[dict[str, Any]] = field(default_factory=list)
    timeseries: TimeSeries | None = None
    marks: RunMarks = field(default_factory=RunMarks)


@dataclass
class Report:
    title: str
    runs: list[SwarmRun]
    subtitle: str | None = None
    """A line under the title: where and when the run ran (a cluster run's), or None."""

    @property
    def shown_verdict(self) -> str | None:
        """Failed when any run failed, Passed when every judged run passed, None when none was judged."""
        verdicts = [v for run in self.runs if (v := run.marks.shown_verdict) is not None]
        if not verdicts:
            return None
        return "Passed" if all(v == "Passed" for v in verdicts) else "Failed"


def from_run_summary(
    summary: dict[str, Any],
    *,
    title: str | None = None,
    marks: Callable[[dict[str, Any]], RunMarks] | None = None,
) -> Report:
    """The report of a ``hivekeeper run`` JSON summary (a swarm's, or ``{"swarms": [...]}``); ``marks`` gives
    each swarm entry's stages, thresholds and verdict."""
    entries = summary.get("swarms") or [summary]
    runs = [
        SwarmRun(
            swarm=str(entry.get("swarm", "?")),
            duration_seconds=float(entry.get("durationSeconds") or 0.0),
            drain_seconds=float(entry.get("drainSeconds") or 0.0),
            started_at=entry.get("startedAt"),
            roles=list(entry.get("roles") or []),
            timeseries=TimeSeries.from_json(entry["timeseries"]) if entry.get("timeseries") else None,
            marks=marks(entry) if marks else RunMarks(),
        )
        for entry in entries
    ]
    name = title or "hivekeeper run: " + ", ".join(run.swarm for run in runs)
    return Report(name, runs)
