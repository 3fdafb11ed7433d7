"""The buffer guard: its hysteresis as a pure function, and a generator slowed while its output queue is deep
and restored once it drained (in-memory transports), with the state in status, the trips counted, and the
guard live."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest

from hivekeeper.api import roles as role_configs
from hivekeeper.api.roles import ConfigError
from hivekeeper.api.roles.buffer_guard import BufferGuard
from hivekeeper.worker.buffer_guard import GuardState, guarded_rate, throttled_after
from hivekeeper.worker.runtime.guard import BufferGuardRunner
from hivekeeper.worker.runtime.worker import Worker
from testbench.waiting import eventually
from testbench.workers import WorkerHarness

GUARD = BufferGuard(queue="out", high=100, low=20, minRatePerSec=5)


@pytest.mark.parametrize(
    ("throttled", "depth", "after"),
    [
        (False, 0, False),
        (False, 99, False),
        (False, 100, True),  # reaching high closes it
        (False, 5000, True),
        (True, 100, True),
        (True, 21, True),  # between the bounds a closed guard stays closed ...
        (True, 20, False),  # ... until the depth is down to low
        (True, 0, False),
    ],
)
def test_the_guard_closes_at_high_and_opens_only_at_low(throttled: bool, depth: int, after: bool) -> None:
    assert throttled_after(throttled, depth, high=100, low=20) is after


def test_a_depth_between_the_bounds_keeps_an_open_guard_open() -> None:
    assert throttled_after(False, 60, high=100, low=20) is False


def test_a_closed_guard_runs_at_min_rate_but_never_faster_than_configured() -> None:
    assert guarded_rate(200, throttled=True, min_rate=5) == 5
    assert guarded_rate(2, throttled=True, min_rate=5) == 2
    assert guarded_rate(200, throttled=False, min_rate=5) == 200


def test_the_state_counts_each_closing_once_and_a_failed_read_changes_nothing() -> None:
    state = GuardState()
    readings = [10, 150, 300, 60, 30, 20, 90, 100, 101, 0]
    changes = [state.observe(depth, GUARD, at=f"t{n}") for n, depth in enumerate(readings)]
    assert changes == [False, True, False, False, False, True, False, True, False, True]
    assert state.trips == 2
    state.observe(500, GUARD, at="t10")
    state.failed("ConnectionLost: gone")
    assert state.throttled, "a broker hiccup does not release the producer"
    assert (state.depth, state.read_errors) == (None, 1)


def test_high_must_be_above_low_and_the_queue_a_work_alias() -> None:
    with pytest.raises(ConfigError, match=r"bufferGuard: .*low \(50\) must be below high \(50\)"):
        role_configs.validate("generator", {"bufferGuard": {"queue": "out", "high": 50, "low": 50}})
    with pytest.raises(ConfigError, match=r"bufferGuard\.queue"):
        role_configs.validate("generator", {"bufferGuard": {"queue": "Not An Alias", "high": 5, "low": 1}})


SWARM = "guard"


@pytest.fixture
async def harness() -> AsyncIterator[WorkerHarness]:
    h = WorkerHarness(SWARM, check_schema=True)
    await h.start()
    yield h
    await h.stop()


def feeder(**guard: Any) -> dict[str, Any]:
    return {
        "inputs": {"scheduler": {"ratePerSec": 400}},
        "message": {"body": "x"},
        "bufferGuard": {"queue": "out", "high": 40, "low": 10, "minRatePerSec": 2, "intervalMs": 100, **guard},
    }


def rate(worker: Worker) -> float:
    return worker.source.pacer.rate_per_sec


async def test_a_producer_is_slowed_while_its_queue_is_deep_and_restored_once_it_drained(
    harness: WorkerHarness,
) -> None:
    worker = await harness.worker("feeder", "generator", feeder(), work_out="out")
    await harness.enable(worker)

    async def slowed() -> bool:
        return rate(worker) == 2

    await eventually(slowed, timeout=10, what="the guard slowing the producer")
    assert harness.queue("out").qsize() >= 40
    await harness.signal(worker, "status-request")
    status = harness.of("metric", "status-full")[-1].data
    assert status["ioState"]["work"]["input"] == "backpressure"
    guard = status["context"]["bufferGuard"]
    assert (guard["state"], guard["trips"], guard["queue"]) == ("throttled", 1, "out")
    assert guard["depth"] >= 40
    [alert] = harness.alerts("io.backpressure")
    assert alert.data["context"]["high"] == 40
    assert alert.data["level"] == "warning"

    harness.drain("out")  # the consumer caught up

    async def restored() -> bool:
        return rate(worker) == 400

    await eventually(restored, timeout=10, what="the configured rate back")
    assert worker.guard.context()["state"] == "open"
    assert worker.guard.state.trips == 1


async def test_a_rate_update_while_slowed_stays_slowed_and_becomes_the_rate_restored(
    harness: WorkerHarness,
) -> None:
    worker = await harness.worker("feeder", "generator", feeder(), work_out="out")
    await harness.enable(worker)

    async def slowed() -> bool:
        return rate(worker) == 2

    await eventually(slowed, timeout=10, what="the guard slowing the producer")
    applied = await harness.configure(worker, {"inputs": {"scheduler": {"ratePerSec": 300}}})
    assert applied.data["status"] == "Applied"
    assert rate(worker) == 2, "the guard still holds the producer back"
    harness.drain("out")

    async def restored() -> bool:
        return rate(worker) == 300

    await eventually(restored, timeout=10, what="the new configured rate")


async def test_the_guard_is_live_disabling_it_releases_the_producer_at_once(harness: WorkerHarness) -> None:
    worker = await harness.worker("feeder", "generator", feeder(), work_out="out")
    await harness.enable(worker)

    async def slowed() -> bool:
        return rate(worker) == 2

    await eventually(slowed, timeout=10, what="the guard slowing the producer")
    applied = await harness.configure(worker, {"bufferGuard": {"enabled": False}})
    assert applied.data["status"] == "Applied"
    assert rate(worker) == 400
    assert harness.queue("out").qsize() >= 40, "released although the queue is still deep"


async def test_an_unknown_queue_keeps_the_rate_and_warns(harness: WorkerHarness) -> None:
    worker = await harness.worker("feeder", "generator", feeder(queue="nowhere"), work_out="out")
    await harness.enable(worker)

    async def warned() -> bool:
        return bool(harness.alerts("io.buffer-guard-unavailable"))

    await eventually(warned, timeout=10, what="the unreadable depth alerted")
    assert rate(worker) == 400
    assert "hivekeeper.guard.nowhere" in harness.alerts("io.buffer-guard-unavailable")[0].data["message"]


async def test_failed_reads_wait_longer_each_time_and_a_good_read_goes_back_to_the_interval() -> None:
    readings: list[int | Exception] = [ConnectionError("gone"), ConnectionError("gone"), 5]

    async def depth(queue: str) -> int:
        reading = readings.pop(0)
        if isinstance(reading, Exception):
            raise reading
        return reading

    guard = BufferGuard(queue="out", high=10, low=2, intervalMs=500)
    runner = BufferGuardRunner(
        guard, depth=depth, on_change=lambda: None, alert=lambda *a, **k: None, queue_name=lambda alias: alias
    )
    waits = []
    for _ in range(3):
        await runner.check(guard)
        waits.append(runner.wait(guard))
    assert waits == [1.0, 2.0, 0.5]
    assert runner.state.read_errors == 2


async def test_a_config_update_reads_at_once_and_forgets_the_back_off_of_failed_reads() -> None:
    """The watched queue may appear only when the swarm starts: the enable must not wait out a long back-off."""
    reads: list[str] = []

    async def depth(queue: str) -> int:
        reads.append(queue)
        if len(reads) <= 6:
            raise ConnectionError("404: no queue yet")
        return 50

    guard = BufferGuard(queue="out", high=10, low=2, intervalMs=5000)
    runner = BufferGuardRunner(
        guard, depth=depth, on_change=lambda: None, alert=lambda *a, **k: None, queue_name=lambda alias: alias
    )
    for _ in range(5):
        await runner.check(guard)
    assert runner.wait(guard) == 30.0, "five failed reads in a row wait the longest"
    task = asyncio.create_task(runner.run())
    try:

        async def read_again() -> bool:
            return len(reads) == 6

        await eventually(read_again, timeout=5, what="the loop's own first read (it fails)")
        runner.configure(guard)  # e.g. the enable

        async def throttled() -> bool:
            return runner.throttled

        await eventually(throttled, timeout=2, what="a read right after the config-update, not 30 s later")
        assert runner.wait(guard) == 5.0
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_a_config_update_just_before_the_worker_stops_does_not_keep_the_guard_running() -> None:
    """Stopping cancels the guard's loop; a config-update landing in the same instant must not swallow that."""

    async def depth(queue: str) -> int:
        return 0

    runner = BufferGuardRunner(
        None, depth=depth, on_change=lambda: None, alert=lambda *a, **k: None, queue_name=lambda alias: alias
    )
    task = asyncio.create_task(runner.run())

    async def pausing() -> bool:
        return runner._pausing is not None

    await eventually(pausing, timeout=2, what="the guard's loop waiting")
    runner.configure(None)
    task.cancel()
    done, _ = await asyncio.wait({task}, timeout=2)
    assert done, "the guard's loop ran on after it was cancelled"
    assert task.cancelled()
