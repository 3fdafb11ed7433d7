"""Work-plane batches (decision 0013) on a real RabbitMQ: the output coalesces concurrent publishes into fewer
messages, the input splits them back into the same items in order, a batch is acknowledged only once all its items
are settled (so a lost channel redelivers it whole), an item given back comes back alone, batching off gives one
message per item, and a malformed batch is dropped without stopping the consumer."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import aio_pika
import pytest

from hivekeeper.protocol import naming
from hivekeeper.protocol.batch import BATCH_HEADER, CONTENT_TYPE
from hivekeeper.worker.inputs.rabbit import RabbitSource
from hivekeeper.worker.outputs.coalescing import NO_BATCHES, BatchLimits
from hivekeeper.worker.outputs.rabbit import RabbitSink
from hivekeeper.worker.ports import Delivery
from hivekeeper.worker.transports.rabbit.link import WorkLink
from testbench.waiting import eventually
from testbench.work_messages import items

pytestmark = pytest.mark.integration


@dataclass
class Plane:
    """One swarm's work queue, an output to it and an input from it (each on its own connection), and an
    aio-pika channel to look at the queue as a bystander."""

    swarm: str
    queue: str
    sink: RabbitSink
    source: RabbitSource
    out_link: WorkLink
    in_link: WorkLink
    channel: aio_pika.abc.AbstractChannel

    async def depth(self) -> int:
        declared = await self.channel.declare_queue(self.queue, passive=True)
        return declared.declaration_result.message_count or 0

    async def take_messages(self) -> list[aio_pika.abc.AbstractIncomingMessage]:
        """Every message in the queue, acknowledged (the input is not consuming)."""
        queue = await self.channel.get_queue(self.queue)
        taken = []
        while (message := await queue.get(no_ack=False, fail=False)) is not None:
            await message.ack()
            taken.append(message)
        return taken

    async def deliveries(self, n: int) -> list[Delivery]:
        return [await asyncio.wait_for(self.source.get(), timeout=10) for _ in range(n)]


@pytest.fixture
async def plane(rabbitmq_url: str) -> AsyncIterator[Plane]:
    swarm = f"batch-{uuid.uuid4().hex[:8]}"
    queue = naming.work_queue(swarm, "out")
    out_link, in_link = WorkLink(rabbitmq_url, swarm), WorkLink(rabbitmq_url, swarm)
    connection = await aio_pika.connect(rabbitmq_url)
    channel = await connection.channel()
    plane = Plane(
        swarm, queue, RabbitSink(out_link, queue), RabbitSource(in_link, queue, prefetch=10), out_link, in_link, channel
    )
    try:
        yield plane
    finally:
        await plane.source.close()
        await plane.sink.close()
        await out_link.close()
        await in_link.close()
        await channel.queue_delete(queue)
        await channel.exchange_delete(naming.work_exchange(swarm))
        await connection.close()


def _bodies(publishers: int, each: int) -> list[bytes]:
    """Items of several publishers, interleaved as their publishes would be: ``p<publisher>-<n>``."""
    return [f'{{"p": {p}, "n": {n}}}'.encode() for n in range(each) for p in range(publishers)]


async def test_concurrent_publishes_travel_as_fewer_messages_and_split_back_to_the_same_items_in_order(
    plane: Plane,
) -> None:
    bodies = _bodies(publishers=4, each=75)
    await asyncio.gather(*(plane.sink.publish(body) for body in bodies))
    messages = await plane.take_messages()
    assert len(messages) < len(bodies) / 10, f"{len(bodies)} items in {len(messages)} messages"
    assert all(len(items(m)) <= 128 for m in messages), "no batch above maxItems"
    batched = [m for m in messages if m.headers and BATCH_HEADER in m.headers]
    assert batched, "several items per message"
    assert all(m.content_type == CONTENT_TYPE for m in batched)
    assert [item for m in messages for item in items(m)] == bodies, "every item, once, in publish order"
    assert plane.sink.items == len(bodies)
    assert plane.sink.messages == len(messages)

    # Through the input: the same items, one delivery each, in order; the messages are acknowledged once settled.
    await asyncio.gather(*(plane.sink.publish(body) for body in bodies))
    await plane.source.resume()
    deliveries = await plane.deliveries(len(bodies))
    assert [d.body for d in deliveries] == bodies
    assert {d.redeliveries for d in deliveries} == {0}
    for delivery in deliveries:
        await delivery.ack()
    await plane.source.pause()
    assert await plane.depth() == 0, "every batch acknowledged once all its items were"


async def test_a_lone_item_and_an_item_larger_than_max_bytes_go_as_plain_messages(plane: Plane) -> None:
    plane.sink.configure_batching(128, 4096)
    await plane.sink.publish(b'{"alone": true}')
    large = b'{"large": "' + b"x" * 5000 + b'"}'
    small = [f'{{"small": {n}}}'.encode() for n in range(5)]
    await asyncio.gather(plane.sink.publish(large), *(plane.sink.publish(body) for body in small))
    messages = await plane.take_messages()
    plain = [m.body for m in messages if not (m.headers or {}).get(BATCH_HEADER)]
    assert plain == [b'{"alone": true}', large]
    assert [item for m in messages for item in items(m)] == [b'{"alone": true}', large, *small]


async def test_with_batching_off_every_item_is_a_message_of_its_own(plane: Plane) -> None:
    plane.sink.configure_batching(NO_BATCHES.max_items, NO_BATCHES.max_bytes)
    bodies = _bodies(publishers=2, each=25)
    await asyncio.gather(*(plane.sink.publish(body) for body in bodies))
    messages = await plane.take_messages()
    assert [m.body for m in messages] == bodies
    assert all(BATCH_HEADER not in (m.headers or {}) for m in messages)


async def test_a_batch_partly_settled_when_its_channel_is_lost_is_redelivered_whole(plane: Plane) -> None:
    bodies = _bodies(publishers=1, each=10)
    await asyncio.gather(*(plane.sink.publish(body) for body in bodies))
    assert await plane.depth() == 1, "the ten items travel as one message"
    await plane.source.resume()
    first = await plane.deliveries(10)
    for delivery in first[:4]:
        await delivery.ack()
    connection = await plane.in_link.connection()
    await connection.close()  # the input's connection drops with six items unsettled
    assert not first[5].live()

    again = await plane.deliveries(10)  # the source reconnects by itself and the broker redelivers the message
    assert [d.body for d in again] == bodies, "the whole batch, the four finished items too (at-least-once)"
    assert {d.redeliveries for d in again} == {1}, "every item of a redelivered batch counts the redelivery"
    for delivery in again:
        await delivery.ack()
    await plane.source.pause()
    assert await plane.depth() == 0


async def test_an_item_given_back_comes_back_alone_and_the_rest_of_its_batch_is_acknowledged(plane: Plane) -> None:
    bodies = _bodies(publishers=1, each=5)
    await asyncio.gather(*(plane.sink.publish(body) for body in bodies))
    assert await plane.depth() == 1
    await plane.source.resume()
    deliveries = await plane.deliveries(5)
    await deliveries[2].requeue()  # published back alone, then counted as settled
    for n in (0, 1, 3, 4):
        await deliveries[n].ack()
    back = await plane.deliveries(1)
    assert back[0].body == bodies[2]
    assert back[0].redeliveries == 1, "a given-back item still counts towards maxRedeliveries"
    await back[0].requeue()  # a plain item: an ordinary requeue
    await plane.source.pause()
    [message] = await plane.take_messages()
    assert message.body == bodies[2]
    assert BATCH_HEADER not in (message.headers or {}), "it came back as a message of its own"


async def test_a_malformed_batch_is_dropped_and_logged_and_the_consumer_goes_on(
    plane: Plane, caplog: pytest.LogCaptureFixture
) -> None:
    await plane.sink.publish(b'{"before": 1}')  # declares the queue and its binding
    exchange = await plane.channel.get_exchange(naming.work_exchange(plane.swarm))
    broken = aio_pika.Message(b"\x00\x00\x00\x09short", headers={BATCH_HEADER: 3}, content_type=CONTENT_TYPE)
    await exchange.publish(broken, routing_key=plane.queue)
    await plane.sink.publish(b'{"after": 1}')
    caplog.set_level(logging.WARNING, logger="hivekeeper.worker.rabbit")
    await plane.source.resume()
    got = await plane.deliveries(2)
    assert [d.body for d in got] == [b'{"before": 1}', b'{"after": 1}']
    for delivery in got:
        await delivery.ack()

    async def settled() -> bool:
        return await plane.depth() == 0

    await eventually(settled, timeout=10, what="the malformed batch rejected and the good items acknowledged")
    assert plane.source.malformed == 1
    [warning] = [r.getMessage() for r in caplog.records if "malformed batch" in r.getMessage()]
    assert plane.queue in warning
    assert "item 0 of the batch says 9 bytes" in warning
    assert plane.source.state() == "ok"


async def test_a_batch_larger_than_the_urls_max_message_size_is_never_sent(rabbitmq_url: str, plane: Plane) -> None:
    link = WorkLink(f"{rabbitmq_url}?max_message_size=20000", plane.swarm)
    sink = RabbitSink(link, plane.queue, BatchLimits(max_items=128, max_bytes=256 * 1024))
    try:
        bodies = [b"x" * 1000 for _ in range(60)]
        await sink.publish(b"first")  # the sink learns the broker's bound with its first message
        await asyncio.gather(*(sink.publish(body) for body in bodies))
        messages = await plane.take_messages()
        assert all(len(m.body) <= 20000 for m in messages)
        assert [item for m in messages for item in items(m)] == [b"first", *bodies]
    finally:
        await sink.close()
        await link.close()
