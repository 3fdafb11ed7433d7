"""The local run's recorder: one point per role per sample, from the differences of the workers' counters and
latency histograms between samples (never since the start)."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest

from hivekeeper.local.recorder import Recorder, finish, recording
from hivekeeper.report.timeseries import TimeSeries
from hivekeeper.worker.stats import RoleStats


class FakeSwarm:
    """What the recorder reads of a ``LocalSwarm``: the roles' workers, their specs and the queue depths."""

    def __init__(self) -> None:
        self.name = "demo"
        self.caller = [SimpleNamespace(stats=RoleStats()), SimpleNamespace(stats=RoleStats())]
        self.feeder = [SimpleNamespace(stats=RoleStats())]
        self.workers = {"feeder": self.feeder, "caller": self.caller}
        roles = [
            SimpleNamespace(name="feeder", work=SimpleNamespace(in_=None)),
            SimpleNamespace(name="caller", work=SimpleNamespace(in_="call")),
        ]
        self.swarm = SimpleNamespace(spec=SimpleNamespace(roles=roles))
        self.depths = {"hivekeeper.demo.call": 0}
        self.refreshed = 0
        self.recorder: Recorder | None = None
        self.timeseries: TimeSeries | None = None

    async def refresh_depths(self) -> None:
        self.refreshed += 1


def _recorder(fake: FakeSwarm, interval: float = 1.0, max_points: int | None = None) -> Recorder:
    local: Any = fake
    return Recorder(local, interval, max_points)


def _work(stats: RoleStats, n: int, seconds: float, **kinds: int) -> None:
    stats.processed += n
    for _ in range(n):
        stats.latency.record(seconds)
    for kind, count in kinds.items():
        stats.errors += count
        stats.error_kinds[kind] += count


async def test_each_point_counts_only_its_interval_summed_over_the_roles_workers() -> None:
    fake = FakeSwarm()
    recorder = _recorder(fake)
    recorder.begin(100.0)
    _work(fake.caller[0].stats, 30, 0.002)
    _work(fake.caller[1].stats, 20, 0.002, timeout=1, connect=2)
    fake.feeder[0].stats.processed += 50
    fake.depths["hivekeeper.demo.call"] = 7
    await recorder.sample(101.0)
    _work(fake.caller[1].stats, 10, 0.2)
    fake.caller[0].stats.dropped += 3
    await recorder.sample(102.0)
    first, second = recorder.series.roles["caller"]
    assert (first.t, first.seconds, first.processed, first.errors) == (1.0, 1.0, 50, 3)
    assert first.errors_by_kind == {"timeout": 1, "connect": 2}
    assert first.queue_depth == 7
    assert first.latency_count == 50
    assert first.p50 == pytest.approx(2.0, abs=0.1)
    assert first.p99 == pytest.approx(2.0, abs=0.1)
    assert (second.processed, second.dropped, second.errors_by_kind) == (10, 3, {})
    assert second.p50 == pytest.approx(200.0, abs=10.0)  # only this interval's 200 ms, not a mix since the start
    feeder = recorder.series.roles["feeder"][0]
    assert (feeder.processed, feeder.queue_depth, feeder.p50, feeder.latency_count) == (50, None, None, 0)
    assert fake.refreshed == 2


async def test_what_the_workers_did_before_the_load_started_is_in_the_first_point() -> None:
    fake = FakeSwarm()
    _work(fake.feeder[0].stats, 2, 0.001)  # a producer enabled a moment before time 0
    recorder = _recorder(fake)
    recorder.begin(10.0)
    _work(fake.feeder[0].stats, 5, 0.001)
    await recorder.sample(11.0)
    assert recorder.series.roles["feeder"][0].processed == 7


async def test_a_short_last_interval_joins_the_point_before_it_with_exact_percentiles() -> None:
    fake = FakeSwarm()
    recorder = _recorder(fake)
    recorder.begin(0.0)
    _work(fake.caller[0].stats, 10, 0.001)
    await recorder.sample(1.0)
    _work(fake.caller[0].stats, 90, 0.05)
    await recorder.sample(1.1, last=True)
    [point] = recorder.series.roles["caller"]
    assert (point.t, point.processed, point.latency_count) == (1.1, 100, 100)
    assert round(point.seconds, 3) == 1.1
    assert point.p50 == pytest.approx(50.0, abs=2.0)  # from the merged histogram, not the larger of two windows


async def test_a_long_enough_last_interval_is_a_point_of_its_own() -> None:
    fake = FakeSwarm()
    recorder = _recorder(fake)
    recorder.begin(0.0)
    await recorder.sample(1.0)
    _work(fake.caller[0].stats, 5, 0.001)
    await recorder.sample(1.5, last=True)
    assert [p.t for p in recorder.series.roles["caller"]] == [1.0, 1.5]
    assert recorder.series.roles["caller"][-1].rate(5) == 10.0


async def test_every_count_lands_in_some_point_through_downsampling() -> None:
    fake = FakeSwarm()
    recorder = _recorder(fake, interval=1.0, max_points=6)
    recorder.begin(0.0)
    for second in range(1, 40):
        _work(fake.caller[second % 2].stats, second, 0.001, timeout=1)
        await recorder.sample(float(second))
    _work(fake.caller[0].stats, 7, 0.001)
    await recorder.sample(39.1, last=True)
    points = recorder.series.roles["caller"]
    assert len(points) < 6
    assert sum(p.processed for p in points) == sum(range(1, 40)) + 7
    assert sum(p.errors_by_kind.get("timeout", 0) for p in points) == 39
    assert recorder.series.interval == 2.0**recorder.series.downsampled
    assert points[-1].t == 39.1


async def test_no_time_passed_adds_no_point() -> None:
    fake = FakeSwarm()
    recorder = _recorder(fake)
    recorder.begin(5.0)
    await recorder.sample(5.0, last=True)
    assert recorder.series.roles == {}


async def test_recording_samples_every_interval_and_finish_adds_the_last_point() -> None:
    fake = FakeSwarm()
    local: Any = fake
    loop = asyncio.get_running_loop()
    async with recording([local], 0.05, loop.time()):
        for _ in range(4):
            _work(fake.caller[0].stats, 3, 0.001)
            await asyncio.sleep(0.03)  # the time passing is what is recorded
    _work(fake.caller[1].stats, 1, 0.001)  # after the load: counted by the summary, so by the series too
    refreshed = fake.refreshed
    await finish(local)
    assert fake.timeseries is not None
    points = fake.timeseries.roles["caller"]
    assert len(points) >= 2
    assert sum(p.processed for p in points) == 13
    assert fake.refreshed == refreshed  # the last sample reads no depths: the transports may be closed
