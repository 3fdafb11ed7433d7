"""A producer's items are handed to an output that confirms later (``runtime.work``: ``_hand_over``): its work loops
do not wait for each confirm, the items count as processed only once confirmed, the unconfirmed ones are bounded,
and a failed confirm takes the way of a failed publish, item by item."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import orjson
import pytest

from hivekeeper.local.transports import MemoryTransports
from hivekeeper.protocol.workitem import new_item
from hivekeeper.worker.identity import Identity
from hivekeeper.worker.ports import ConfirmsLater, Delivery, OutputRefused, WorkSink
from hivekeeper.worker.runtime.parts import DEFAULT_CONCURRENCY
from hivekeeper.worker.runtime.work import UNCONFIRMED_PER_LOOP
from testbench.waiting import eventually
from testbench.workers import WorkerHarness

SWARM = "unit"
BATCH = 16
GENERATOR = {
    "inputs": {"scheduler": {"ratePerSec": 100_000}},
    "message": {"body": '{"n": {{ randInt(1, 9) }}}', "headers": {"x-ph-call-id": "balance"}},
}
SEQUENCED = {**GENERATOR, "message": {"body": "{{ sequence('orders', 'numeric', 'o-%d') }}"}}
LIMIT = UNCONFIRMED_PER_LOOP * DEFAULT_CONCURRENCY


class HeldConfirms:
    """An output that confirms only when the test says so: every ``BATCH`` items share one future, as a RabbitMQ
    batch's do."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []
        self.batches: list[tuple[asyncio.Future[None], list[bytes]]] = []

    def publish_later(self, body: bytes) -> asyncio.Future[None]:
        if not self.batches or len(self.batches[-1][1]) >= BATCH or self.batches[-1][0].done():
            self.batches.append((asyncio.get_running_loop().create_future(), []))
        confirmed, bodies = self.batches[-1]
        bodies.append(body)
        self.bodies.append(body)
        return confirmed

    async def publish(self, body: bytes) -> None:
        await self.publish_later(body)

    def settle(self, error: Exception | None = None) -> int:
        """Confirm (or fail with ``error``) every batch handed out so far; return how many items that settled."""
        settled = 0
        for confirmed, bodies in self.batches:
            if not confirmed.done():
                settled += len(bodies)
                if error is None:
                    confirmed.set_result(None)
                else:
                    confirmed.set_exception(error)
        return settled

    def state(self) -> str:
        return "ok"

    async def close(self) -> None:
        return None


class HeldTransports(MemoryTransports):
    def __init__(self, harness: WorkerHarness, sink: HeldConfirms) -> None:
        super().__init__(harness.broker, SWARM)
        self.held = sink

    def sink(self, identity: Identity) -> WorkSink:
        return self.held


@pytest.fixture
async def held() -> AsyncIterator[tuple[WorkerHarness, HeldConfirms]]:
    harness = WorkerHarness(SWARM)
    sink = HeldConfirms()
    harness.transports = HeldTransports(harness, sink)
    await harness.start()
    yield harness, sink
    sink.settle()
    await harness.stop()


def test_the_held_output_is_one_that_confirms_later() -> None:
    assert isinstance(HeldConfirms(), ConfirmsLater)


async def test_a_generator_hands_items_over_without_waiting_and_counts_them_once_confirmed(
    held: tuple[WorkerHarness, HeldConfirms],
) -> None:
    harness, sink = held
    worker = await harness.worker("feeder", "generator", GENERATOR, work_out="build")
    await harness.enable(worker)

    async def bound_reached() -> bool:
        return len(sink.bodies) >= LIMIT

    await eventually(bound_reached, timeout=10, what=f"{LIMIT} items handed over before any confirm")
    await asyncio.sleep(0)  # one more turn: the loops that could go on would
    handed = len(sink.bodies)
    assert handed <= LIMIT + DEFAULT_CONCURRENCY, "at the bound each loop waits (at most one item more each)"
    assert worker.stats.processed == 0, "nothing counts before its confirm"
    assert worker.stats.in_flight == handed, "unconfirmed items are in flight"
    assert orjson.loads(sink.bodies[0])["headers"]["x-ph-call-id"] == "balance"

    settled = sink.settle()

    async def counted() -> bool:
        return worker.stats.processed >= settled

    await eventually(counted, timeout=5, what="the confirmed items counted as processed")
    assert worker.stats.processed == settled == handed

    async def going_on() -> bool:
        return len(sink.bodies) > handed

    await eventually(going_on, timeout=5, what="more items once the confirms made room")


async def test_a_refused_batch_is_refused_item_by_item_and_leaves_nothing_in_flight(
    held: tuple[WorkerHarness, HeldConfirms],
) -> None:
    harness, sink = held
    budget = {**GENERATOR, "inputs": {"scheduler": {"ratePerSec": 100_000, "maxMessages": 3 * BATCH}}}
    worker = await harness.worker("feeder", "generator", budget, work_out="build")
    await harness.enable(worker)

    async def all_handed() -> bool:
        return len(sink.bodies) == 3 * BATCH

    await eventually(all_handed, timeout=10, what="the generator's whole budget handed over")
    refused = sink.settle(OutputRefused("message too large"))
    assert refused == 3 * BATCH

    async def settled() -> bool:
        return worker.stats.in_flight == 0

    await eventually(settled, timeout=5, what="every refused item settled")
    assert worker.output.refused == refused
    assert worker.stats.processed == 0
    assert harness.alerts("io.output-refused"), "the refusal is alerted, as for a publish waited for"


async def test_a_generator_calling_sequence_waits_for_each_confirm_as_before(
    held: tuple[WorkerHarness, HeldConfirms],
) -> None:
    harness, sink = held
    worker = await harness.worker("feeder", "generator", SEQUENCED, work_out="build")
    assert worker.role.io_per_item is True  # type: ignore[attr-defined]
    await harness.enable(worker)

    async def every_loop_waits() -> bool:
        return len(sink.bodies) >= DEFAULT_CONCURRENCY

    await eventually(every_loop_waits, timeout=10, what="one item per work loop")
    await asyncio.sleep(0.05)  # time in which loops that did not wait would hand over more
    assert len(sink.bodies) == DEFAULT_CONCURRENCY, "each loop waits for its item's confirm"


BUILDER = {
    "serviceId": "bench",
    "templates": [{"serviceId": "bench", "callId": "get", "method": "GET", "pathTemplate": "/"}],
}


async def test_a_request_builder_hands_its_requests_over_too_and_counts_them_once_confirmed(
    held: tuple[WorkerHarness, HeldConfirms],
) -> None:
    harness, sink = held
    worker = await harness.worker("builder", "request-builder", BUILDER, work_in="build", work_out="call")
    assert worker.role.io_per_item is False  # type: ignore[attr-defined]
    items = LIMIT + 2 * DEFAULT_CONCURRENCY  # more than the bound
    for _ in range(items):
        item = new_item('{"n": 1}', swarm=SWARM, service="feeder", instance="feeder-0", headers={"x-ph-call-id": "get"})
        harness.queue("build").put_nowait(item.to_json())
    await harness.enable(worker)

    async def bound_reached() -> bool:
        return len(sink.bodies) >= LIMIT

    await eventually(bound_reached, timeout=10, what=f"{LIMIT} requests handed over before any confirm")
    assert len(sink.bodies) > DEFAULT_CONCURRENCY, "more than one per loop: the loops did not wait for confirms"
    assert worker.stats.processed == 0
    assert orjson.loads(orjson.loads(sink.bodies[0])["steps"][-1]["payload"])["kind"] == "http.request"

    settled = 0
    while settled < items:  # confirm what is out, until every item went through
        settled += sink.settle()
        target = settled

        async def counted(target: int = target) -> bool:
            return worker.stats.processed >= target and (target == items or len(sink.bodies) > target)

        await eventually(counted, timeout=5, what=f"{target} requests confirmed and counted")
    assert worker.stats.processed == items
    assert worker.stats.in_flight == 0


def test_only_an_input_acknowledged_without_io_of_its_own_can_be_acknowledged_from_a_confirm() -> None:
    acked: list[str] = []

    async def ack() -> None:
        acked.append("awaited")

    waited = Delivery(b"{}", 1, ack)
    at_once = Delivery(b"{}", 2, ack_now=lambda: acked.append("at once"))
    tick = Delivery(None, 3)

    assert not waited.acks_at_once
    assert at_once.acks_at_once
    assert at_once.settles
    assert tick.acks_at_once
    assert not tick.settles
    at_once.ack_at_once()
    asyncio.run(at_once.ack())
    assert acked == ["at once", "at once"]
