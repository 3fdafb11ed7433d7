"""What a closed buffer guard holds back: a producer's ticks already granted at its configured rate, and a stage
on a queue input (RABBITMQ), whose work loops stop taking items (``runtime.hold``) until the guard opens.
In-memory transports; the gate itself without a worker; and the in-memory input yielding while it has items, so that
a guard's read, like every control message, gets its turn."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from hivekeeper.protocol import envelope as env
from hivekeeper.protocol import naming
from hivekeeper.protocol.workitem import new_item
from hivekeeper.worker.inputs.scheduler import SchedulerSource
from hivekeeper.worker.ports import ControlMessage
from hivekeeper.worker.runtime.hold import InputHold
from hivekeeper.worker.runtime.parts import DEFAULT_CONCURRENCY
from hivekeeper.worker.runtime.worker import Worker
from testbench.waiting import eventually
from testbench.workers import WorkerHarness

SWARM = "holds"
GUARD = {"high": 40, "low": 10, "minRatePerSec": 0, "intervalMs": 100}
OBSERVE = 0.3
"""Seconds watched for items that should not move (three reads of the guard)."""


@pytest.fixture
async def harness() -> AsyncIterator[WorkerHarness]:
    h = WorkerHarness(SWARM)
    await h.start()
    yield h
    await h.stop()


async def test_ticks_granted_at_the_configured_rate_are_held_back_when_the_rate_drops() -> None:
    """A generator behind its rate is granted up to a second of ticks at a time; before, those still went out after
    the guard closed (a RabbitMQ pipeline's queue grew by that much again past high)."""
    loop = asyncio.get_running_loop()
    source = SchedulerSource(1000)
    await source.resume()
    source.pacer.due(loop.time() - 1.0)  # the pacer started a second ago and nobody asked since: 1,000 ticks due
    await source.get()
    assert source.pacer.dispatched > 900, "the ticks of that second were granted at once"
    source.hold_back()  # what the worker does when its guard closes, before the rate drops
    source.pacer.set_rate(0, loop.time())
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(source.get(), OBSERVE)
    assert source.context()["dispatched"] == 1, "the ticks not handed out are given back"


async def depths_while_held(harness: WorkerHarness, worker: Worker, alias: str) -> tuple[int, int]:
    """Once ``worker``'s guard is closed and its items in flight finished: ``alias``'s depth then, and ``OBSERVE``
    seconds later."""

    async def closed_and_settled() -> bool:
        return worker.guard.throttled and worker.stats.in_flight == 0

    await eventually(closed_and_settled, timeout=10, what="the guard closed and the items in flight finished")
    depth = harness.queue(alias).qsize()
    await asyncio.sleep(OBSERVE)
    return depth, harness.queue(alias).qsize()


async def test_a_closing_guard_stops_a_generator(harness: WorkerHarness) -> None:
    """(At most half of the in-memory queue's 10,000 items go out between two reads of the guard at this rate.)"""
    config: dict[str, Any] = {
        "inputs": {"scheduler": {"ratePerSec": 50_000}},
        "message": {"body": "x"},
        "bufferGuard": {"queue": "out", **GUARD},
    }
    worker = await harness.worker("feeder", "generator", config, work_out="out")
    await harness.enable(worker)

    depth, later = await depths_while_held(harness, worker, "out")
    assert later == depth, "the generator went on producing behind a closed guard"
    assert worker.source.context()["ratePerSec"] == 0  # type: ignore[attr-defined]

    harness.drain("out")

    async def producing_again() -> bool:
        return not worker.guard.throttled and harness.queue("out").qsize() > 0

    await eventually(producing_again, timeout=10, what="the guard open and the generator producing again")


BUILDER = {
    "serviceId": "svc",
    "templates": [{"serviceId": "svc", "callId": "get", "method": "GET", "pathTemplate": "/"}],
    "bufferGuard": {"queue": "call", **GUARD},
}


def fill(harness: WorkerHarness, alias: str, count: int) -> None:
    for _ in range(count):
        item = new_item('{"n": 1}', swarm=SWARM, service="feeder", instance="feeder-0", headers={"x-ph-call-id": "get"})
        harness.queue(alias).put_nowait(item.to_json())


async def test_a_stage_on_a_queue_takes_no_items_while_its_output_is_deep_and_takes_them_all_after(
    harness: WorkerHarness,
) -> None:
    items = 2000
    worker = await harness.worker("builder", "request-builder", BUILDER, work_in="build", work_out="call")
    fill(harness, "build", items)
    deep = GUARD["high"]
    fill(harness, "call", deep)  # the output is deep from the start

    async def closed() -> bool:
        return worker.guard.throttled

    # Before the enable: the guard reads every 100 ms, and in memory the builder takes its 2,000 items in less.
    await eventually(closed, timeout=10, what="the guard closed by the deep output")
    await harness.enable(worker)

    waiting, later = await depths_while_held(harness, worker, "build")
    assert later == waiting, "the stage took items from its input behind a closed guard"
    assert waiting > items // 2, "the backlog stays upstream, in the input's queue"
    await harness.signal(worker, "status-request")
    status = harness.of("metric", "status-full")[-1].data
    assert status["ioState"]["work"]["input"] == "backpressure"
    assert status["context"]["bufferGuard"]["state"] == "throttled"

    built = len(harness.drain("call")) - deep
    while built < items:  # the consumer catches up, again and again: every item goes through, once

        async def more() -> bool:
            return harness.queue("call").qsize() > 0

        await eventually(more, timeout=10, what=f"requests built after {built}")
        built += len(harness.drain("call"))
    assert built == items
    assert harness.queue("build").qsize() == 0


async def test_the_gate_holds_loops_until_it_opens_at_a_rate_of_zero() -> None:
    hold = InputHold()
    await asyncio.wait_for(hold.wait(), 1)  # open: at once
    hold.set(True, 0)
    waiters = [asyncio.create_task(hold.wait()) for _ in range(3)]
    await asyncio.sleep(OBSERVE)
    assert not any(task.done() for task in waiters), "a loop went on behind a closed gate at a rate of 0"
    hold.set(False, 0)
    await asyncio.wait_for(asyncio.gather(*waiters), 1)


async def test_the_gate_lets_loops_through_at_min_rate_and_an_opening_does_not_wait_for_far_slots() -> None:
    hold = InputHold()
    hold.set(True, 0.01)  # one slot every 100 s
    await asyncio.wait_for(hold.wait(), 1)  # the first slot is now
    late = asyncio.create_task(hold.wait())  # its slot is 100 s away
    await asyncio.sleep(OBSERVE)
    assert not late.done()
    hold.set(False, 0)
    await asyncio.wait_for(late, 1)

    hold.set(True, 1000)
    await asyncio.wait_for(asyncio.gather(*(hold.wait() for _ in range(DEFAULT_CONCURRENCY))), 5)


async def test_in_memory_a_stage_without_io_yields_to_the_control_plane_while_it_works(harness: WorkerHarness) -> None:
    """A get from a non-empty in-memory queue does not suspend: without the input's own yields one work loop ran
    through its whole input before a signal, a status report or the guard's read could run (``hivekeeper run``)."""
    items = 9000
    builder = {key: value for key, value in BUILDER.items() if key != "bufferGuard"}
    worker = await harness.worker("builder", "request-builder", builder, work_in="build", work_out="call")
    fill(harness, "build", items)
    left_at_outcome: list[int] = []

    async def probe(message: ControlMessage) -> None:
        if env.parse(message.body).kind == "outcome":
            left_at_outcome.append(harness.queue("build").qsize())

    await harness.transports.control.listen("probe", [naming.events_binding(SWARM)], probe)
    await harness.enable(worker)  # its outcome is sent once the loops were let go: they run before it is delivered

    async def all_built() -> bool:
        return harness.queue("call").qsize() == items

    await eventually(all_built, timeout=30, what=f"all {items} requests built")
    assert left_at_outcome, "the enable's outcome was never delivered"
    assert left_at_outcome[0] > 0, "the enable's outcome was delivered only once the whole input was done"
