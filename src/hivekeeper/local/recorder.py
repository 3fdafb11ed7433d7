"""The time series of a ``hivekeeper run``: every interval, one point per role from the workers' counters.

Sampling reads what the workers already count (``RoleStats``) and copies their latency histograms; nothing is
added to the per-request path. A point's percentiles come from the histogram recorded during its interval
only (:meth:`Histogram.since` of the role's merged histograms at both ends). The model and its bounds are in
:mod:`hivekeeper.report.timeseries`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from hivekeeper.local.local_swarm import LocalSwarm
from hivekeeper.protocol import naming
from hivekeeper.report.timeseries import Point, TimeSeries
from hivekeeper.worker.stats import Histogram

FOLD_FRACTION = 0.25
"""A last interval shorter than this share of the interval joins the point before it (a few milliseconds
of counts would otherwise be drawn as a spike of the rate)."""


@dataclass
class _Totals:
    """One role's counters since the start, summed over its workers, at one instant."""

    processed: int = 0
    errors: int = 0
    dropped: int = 0
    error_kinds: Counter[str] = field(default_factory=Counter)
    latency: Histogram = field(default_factory=Histogram)


class Recorder:
    """Records one swarm's :class:`TimeSeries`; call :meth:`begin` when the load starts, then :meth:`sample`."""

    def __init__(self, local: LocalSwarm, interval: float, max_points: int | None = None) -> None:
        self.local = local
        self.series = TimeSeries(interval) if max_points is None else TimeSeries(interval, max_points)
        self._started = 0.0
        self._last_t = 0.0
        self._previous: dict[str, _Totals] = {}
        self._windows: dict[str, Histogram] = {}
        """Each role's latencies of its last point (to refold that point exactly with a short last interval)."""
        self._windows_of = 0
        """The ``downsampled`` count when ``_windows`` were taken (after a downsampling they cover half a point)."""

    def begin(self, now: float) -> None:
        """Time 0 of the series is ``now``; counting starts from zero, not from the workers' counts at ``now``:
        a producer enabled a moment before ``now`` may have made an item already, and the summary counts it."""
        self._started = now
        self._last_t = 0.0
        self._previous = {name: _Totals() for name in self.local.workers}

    def _totals(self, role: str) -> _Totals:
        totals = _Totals()
        for worker in self.local.workers[role]:
            stats = worker.stats
            totals.processed += stats.processed
            totals.errors += stats.errors
            totals.dropped += stats.dropped
            totals.error_kinds.update(stats.error_kinds)
            totals.latency.merge(stats.latency)
        return totals

    def _depth(self, role: str) -> int | None:
        spec = next(r for r in self.local.swarm.spec.roles if r.name == role)
        if not spec.work.in_:
            return None
        return self.local.depths.get(naming.work_queue(self.local.name, spec.work.in_))

    async def sample(self, now: float, *, last: bool = False, refresh: bool = True) -> None:
        """Add one point per role for the time since the previous sample (``last``: the run's final one, folded
        into the previous point when it is short; ``refresh``: read the queue depths first)."""
        t = now - self._started
        seconds = t - self._last_t
        if seconds <= 0:
            return
        if refresh:
            await self.local.refresh_depths()
        generation = self.series.downsampled
        fold = last and seconds < FOLD_FRACTION * self.series.interval and bool(self._windows)
        for role in self.local.workers:
            current = self._totals(role)
            before = self._previous[role]
            window = current.latency.since(before.latency)
            kinds = {k: n - before.error_kinds.get(k, 0) for k, n in current.error_kinds.items()}
            point = Point(
                t=t,
                seconds=seconds,
                processed=current.processed - before.processed,
                errors=current.errors - before.errors,
                dropped=current.dropped - before.dropped,
                errors_by_kind={k: n for k, n in kinds.items() if n},
                queue_depth=self._depth(role),
            )
            _set_percentiles(point, window)
            points = self.series.roles.get(role)
            if fold and points:
                point = points.pop().merged(point)
                if self._windows_of == self.series.downsampled:  # the earlier point is one interval: exact
                    window.merge(self._windows[role])
                    _set_percentiles(point, window)
            self._previous[role] = current
            self._windows[role] = window
            self.series.append(role, point)
        # After a downsampling during these appends the last points are pairs: their windows no longer match.
        self._windows_of = generation if self.series.downsampled == generation else -1
        self._last_t = t

    def next_due(self) -> float:
        """The loop time of the next regular sample."""
        return self._started + self._last_t + self.series.interval


def _set_percentiles(point: Point, window: Histogram) -> None:
    """The point's latency fields from the latencies recorded in its interval (None when there were none)."""
    point.latency_count = window.count
    if window.count:
        point.p50, point.p95, point.p99 = (round(window.percentile(p), 3) for p in (50, 95, 99))
    else:
        point.p50 = point.p95 = point.p99 = None


async def record(recorders: list[Recorder], stop: asyncio.Event) -> None:
    """Sample every recorder each interval (re-read after each point: a downsampling doubles it) until
    ``stop`` is set; the caller takes the final sample."""
    if not recorders:
        return
    loop = asyncio.get_running_loop()
    while not stop.is_set():
        due = min(recorder.next_due() for recorder in recorders)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=max(0.0, due - loop.time()))
        if stop.is_set():
            return
        now = loop.time()
        for recorder in recorders:
            await recorder.sample(now)


@contextlib.asynccontextmanager
async def recording(locals_: list[LocalSwarm], interval: float, started: float) -> AsyncIterator[None]:
    """Record every swarm's time series from ``started`` while the block runs (``local.recorder``); the last
    sample is :func:`finish`'s, once the workers have stopped."""
    recorders = [Recorder(local, interval) for local in locals_]
    for local, recorder in zip(locals_, recorders, strict=True):
        recorder.begin(started)
        local.recorder = recorder
    done = asyncio.Event()
    task = asyncio.create_task(record(recorders, done))
    try:
        yield
    finally:
        done.set()
        await task


async def finish(local: LocalSwarm) -> None:
    """Take the last sample and set ``local.timeseries``. Called after the workers stopped, so that every item
    the summary counts (a producer's last one after the drain included) lands in exactly one point; the queue
    depths are the last ones read (the transports may be closed)."""
    if local.recorder is None:
        return
    await local.recorder.sample(asyncio.get_running_loop().time(), last=True, refresh=False)
    local.timeseries = local.recorder.series
