"""The lean work-plane AMQP client against a real RabbitMQ."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from hivekeeper.worker.transports.rabbit.amqp.connection import AmqpConnection, AmqpError, ConnectionLost, Unroutable
from testbench.waiting import eventually

pytestmark = pytest.mark.integration


async def test_published_items_are_confirmed_consumed_and_acknowledged(rabbitmq_url: str) -> None:
    connection = await AmqpConnection.open(rabbitmq_url)
    try:
        name = f"lean-{uuid.uuid4().hex[:8]}"
        publisher = await connection.channel(confirms=True)
        await publisher.exchange_declare(name)
        await publisher.queue_declare(name)
        await publisher.queue_bind(name, name, name)
        bodies = [f"item-{i}".encode() * (i + 1) for i in range(500)] + [b"x" * 300_000]
        await asyncio.gather(*(publisher.publish(name, name, body) for body in bodies))
        assert await publisher.queue_declare(name, passive=True) == len(bodies)

        received: list[bytes] = []
        consumer = await connection.channel(prefetch=50)

        def on_delivery(tag: int, redelivered: bool, body: bytes, delivery_count: int | None, batch: object) -> None:
            received.append(body)
            consumer.ack(tag)

        await consumer.consume(name, on_delivery)

        async def all_received() -> bool:
            return len(received) == len(bodies)

        await eventually(all_received, timeout=10, what="every published item delivered")
        assert sorted(received) == sorted(bodies), "large bodies are reassembled from several frames"
        await consumer.qos(50)  # a round trip: the acks above are processed
        assert await publisher.queue_declare(name, passive=True) == 0
    finally:
        await connection.close()


async def test_an_unroutable_item_is_an_error_not_a_silent_loss(rabbitmq_url: str) -> None:
    connection = await AmqpConnection.open(rabbitmq_url)
    try:
        channel = await connection.channel(confirms=True)
        name = f"lean-{uuid.uuid4().hex[:8]}"
        await channel.exchange_declare(name)
        with pytest.raises(Unroutable, match="NO_ROUTE"):
            await channel.publish(name, "nobody-listens", b"lost?")
    finally:
        await connection.close()


async def test_a_channel_closed_by_the_broker_fails_with_its_reason_and_the_connection_lives(
    rabbitmq_url: str,
) -> None:
    connection = await AmqpConnection.open(rabbitmq_url)
    try:
        channel = await connection.channel()
        with pytest.raises(ConnectionLost, match="404 NOT_FOUND"):
            await channel.queue_declare(f"missing-{uuid.uuid4().hex}", passive=True)
        with pytest.raises(ConnectionLost):
            await channel.queue_declare("anything")
        other = await connection.channel()
        assert await other.queue_declare(f"lean-{uuid.uuid4().hex[:8]}") == 0
    finally:
        await connection.close()


async def test_wrong_credentials_are_refused_with_the_brokers_reason(rabbitmq_url: str) -> None:
    bad = rabbitmq_url.replace("guest:guest", "guest:wrong")
    with pytest.raises((AmqpError, ConnectionError)):
        await AmqpConnection.open(f"{bad}?connection_timeout=10")


async def test_a_work_source_declares_its_queue_again_when_someone_deletes_it(rabbitmq_url: str) -> None:
    from hivekeeper.protocol import naming
    from hivekeeper.worker.inputs.rabbit import RabbitSource
    from hivekeeper.worker.transports.rabbit.link import WorkLink

    swarm = f"lean-{uuid.uuid4().hex[:8]}"
    queue = naming.work_queue(swarm, "call")
    link = WorkLink(rabbitmq_url, swarm)
    source = RabbitSource(link, queue, prefetch=10)
    admin = await AmqpConnection.open(rabbitmq_url)
    try:
        await source.resume()
        channel = await admin.channel(confirms=True)
        await channel.publish(naming.work_exchange(swarm), queue, b"before")
        first = await asyncio.wait_for(source.get(), timeout=10)
        await first.ack()
        assert first.body == b"before"

        import aio_pika

        pika = await aio_pika.connect(rabbitmq_url)
        async with pika:
            await (await pika.channel()).queue_delete(queue)

        async def declared_again() -> bool:
            probe = await admin.channel()
            try:
                await probe.queue_declare(queue, passive=True)
            except AmqpError:
                return False
            await probe.close()
            return True

        await eventually(declared_again, timeout=10, what="the consumer declaring its deleted queue again")

        async def routed() -> bool:  # declared first, bound a round trip later: publish once the binding is there
            try:
                await channel.publish(naming.work_exchange(swarm), queue, b"after")
            except Unroutable:
                return False
            return True

        await eventually(routed, timeout=10, interval=0.05, what="the queue bound again")
        second = await asyncio.wait_for(source.get(), timeout=10)
        await second.ack()
        assert second.body == b"after"
        assert source.state() == "ok"
    finally:
        await source.close()
        await admin.close()
        await link.close()
