"""RabbitMQ transports for workers: control bus, work input (manual acks) and output (confirms).

One robust connection per worker (aio-pika reconnects and re-declares what it declared), with a
channel per concern: control, consuming (its prefetch bounds what is in flight), publishing (with
publisher confirms, so ``publish`` returns only when the broker has the item; concurrent publishes
share confirm round trips). Declarations are idempotent: the operator declares the same topology,
and a worker run with ``hivekeeper run --broker`` declares it itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import aio_pika
from aio_pika.abc import (
    AbstractChannel,
    AbstractExchange,
    AbstractIncomingMessage,
    AbstractQueue,
    AbstractRobustConnection,
)

from hivekeeper.protocol import naming
from hivekeeper.worker.ports import ControlHandler, Delivery
from hivekeeper.worker.runtime import Identity

log = logging.getLogger("hivekeeper.worker.rabbit")


async def connect(url: str) -> AbstractRobustConnection:
    """A robust connection; the URL carries credentials, so it is never logged."""
    return await aio_pika.connect_robust(url, client_properties={"connection_name": "hivekeeper-worker"})


async def declare_work_queue(channel: AbstractChannel, swarm: str, queue: str) -> AbstractQueue:
    exchange = await channel.declare_exchange(naming.work_exchange(swarm), aio_pika.ExchangeType.TOPIC, durable=True)
    declared = await channel.declare_queue(queue, durable=True)
    await declared.bind(exchange, routing_key=queue)
    return declared


class RabbitControlBus:
    def __init__(self, connection: AbstractRobustConnection) -> None:
        self._connection = connection
        self._channel: AbstractChannel | None = None
        self._exchange: AbstractExchange | None = None

    async def _ready(self) -> AbstractExchange:
        if self._exchange is None:
            self._channel = await self._connection.channel()
            self._exchange = await self._channel.declare_exchange(
                naming.CONTROL_EXCHANGE, aio_pika.ExchangeType.TOPIC, durable=True
            )
        return self._exchange

    async def listen(self, queue: str, bindings: list[str], handler: ControlHandler) -> None:
        exchange = await self._ready()
        assert self._channel is not None
        declared = await self._channel.declare_queue(queue, exclusive=True, auto_delete=True)
        for binding in bindings:
            await declared.bind(exchange, routing_key=binding)

        async def on_message(message: AbstractIncomingMessage) -> None:
            async with message.process(ignore_processed=True):
                await handler(message.body)

        await declared.consume(on_message)

    async def publish(self, routing_key: str, body: bytes) -> None:
        exchange = await self._ready()
        await exchange.publish(aio_pika.Message(body, content_type="application/json"), routing_key=routing_key)

    async def close(self) -> None:
        if self._channel is not None:
            with contextlib.suppress(Exception):
                await self._channel.close()


class RabbitSource:
    """Consumes a work queue with manual acks; ``pause`` cancels the consumer so messages stay queued."""

    def __init__(self, connection: AbstractRobustConnection, swarm: str, queue: str, prefetch: int) -> None:
        self._connection = connection
        self._swarm = swarm
        self._queue_name = queue
        self._prefetch = prefetch
        self._channel: AbstractChannel | None = None
        self._queue: AbstractQueue | None = None
        self._tag: str | None = None
        self._buffer: asyncio.Queue[AbstractIncomingMessage] = asyncio.Queue()
        self._seq = 0
        self._error = False

    async def _ensure(self) -> AbstractQueue:
        if self._queue is None:
            self._channel = await self._connection.channel()
            await self._channel.set_qos(prefetch_count=self._prefetch)
            self._queue = await declare_work_queue(self._channel, self._swarm, self._queue_name)
        return self._queue

    async def get(self) -> Delivery:
        message = await self._buffer.get()
        self._seq += 1

        async def ack() -> None:
            try:
                await message.ack()
            except Exception:  # the channel died; the broker will redeliver, which is the safe outcome
                self._error = True

        async def reject(requeue: bool) -> None:
            with contextlib.suppress(Exception):
                await message.nack(requeue=requeue)

        return Delivery(message.body, self._seq, ack, reject)

    async def pause(self) -> None:
        if self._queue is not None and self._tag is not None:
            with contextlib.suppress(Exception):
                await self._queue.cancel(self._tag)
            self._tag = None
        while not self._buffer.empty():  # delivered but not taken: back to the queue, in order
            message = self._buffer.get_nowait()
            with contextlib.suppress(Exception):
                await message.nack(requeue=True)

    async def resume(self) -> None:
        queue = await self._ensure()
        if self._tag is None:
            self._tag = await queue.consume(self._buffer.put, no_ack=False)

    def state(self) -> str:
        if self._error or (self._channel is not None and self._channel.is_closed):
            return "upstream-error"
        return "ok"

    async def close(self) -> None:
        await self.pause()
        if self._channel is not None:
            with contextlib.suppress(Exception):
                await self._channel.close()


class RabbitSink:
    """Publishes to the swarm's work exchange with publisher confirms and ``mandatory`` routing."""

    def __init__(self, connection: AbstractRobustConnection, swarm: str, routing_key: str) -> None:
        self._connection = connection
        self._swarm = swarm
        self._routing_key = routing_key
        self._exchange: AbstractExchange | None = None
        self._lock = asyncio.Lock()
        self._failing = False

    async def _ensure(self) -> AbstractExchange:
        if self._exchange is None:
            async with self._lock:
                if self._exchange is None:
                    channel = await self._connection.channel(publisher_confirms=True)
                    await declare_work_queue(channel, self._swarm, self._routing_key)
                    self._exchange = await channel.declare_exchange(
                        naming.work_exchange(self._swarm), aio_pika.ExchangeType.TOPIC, durable=True
                    )
        return self._exchange

    async def publish(self, body: bytes) -> None:
        exchange = await self._ensure()
        message = aio_pika.Message(
            body, content_type="application/json", delivery_mode=aio_pika.DeliveryMode.PERSISTENT
        )
        try:
            await exchange.publish(message, routing_key=self._routing_key, mandatory=True)
        except Exception:
            self._failing = True
            raise
        self._failing = False

    def state(self) -> str:
        return "downstream-error" if self._failing else "ok"

    async def close(self) -> None:
        return None


class RabbitTransports:
    """What a worker needs from RabbitMQ, built on one robust connection."""

    def __init__(self, connection: AbstractRobustConnection, swarm: str) -> None:
        self.connection = connection
        self.swarm = swarm
        self._control = RabbitControlBus(connection)

    @property
    def control(self) -> RabbitControlBus:
        return self._control

    def source(self, identity: Identity, prefetch: int) -> RabbitSource:
        assert identity.work_in is not None, f"role {identity.role} has no work.in queue"
        return RabbitSource(self.connection, self.swarm, identity.work_in, prefetch)

    def sink(self, identity: Identity) -> RabbitSink:
        assert identity.work_out is not None, f"role {identity.role} has no work.out queue"
        return RabbitSink(self.connection, self.swarm, identity.work_out)

    async def close(self) -> None:
        await self._control.close()
        with contextlib.suppress(Exception):
            await self.connection.close()
