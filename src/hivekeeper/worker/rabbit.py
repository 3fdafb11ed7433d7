"""RabbitMQ transports for workers: control bus, work input (manual acks) and output (confirms).

The control plane uses aio-pika's robust connection (it reconnects and re-declares by itself); the
work plane, which carries every item, uses the lean client in ``worker.amqp`` on its own connection
(decision 0003), reopened by :class:`WorkLink`. Consuming: manual acks, prefetch bounds what is in
flight. Publishing: persistent, ``mandatory``, publisher confirms, so ``publish`` returns only when
the broker has the item. Declarations are idempotent: the operator declares the same topology,
and a worker run with ``hivekeeper run --broker`` declares it itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging

import aio_pika
from aio_pika.abc import (
    AbstractChannel,
    AbstractExchange,
    AbstractIncomingMessage,
    AbstractQueue,
    AbstractRobustConnection,
)
from pamqp import commands, frame
from pamqp.body import ContentBody
from pamqp.header import ContentHeader

from hivekeeper.protocol import naming
from hivekeeper.worker.amqp.connection import AmqpConnection, AmqpError, Channel, ConnectionLost
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


class WorkLink:
    """The worker's work-plane connection (lean AMQP client), reopened with backoff when it drops."""

    BACKOFF = (0.2, 0.5, 1.0, 2.0, 5.0)

    def __init__(self, url: str, swarm: str) -> None:
        self._url = url
        self.swarm = swarm
        self._connection: AmqpConnection | None = None
        self._lock = asyncio.Lock()
        self.reconnects = 0

    async def connection(self) -> AmqpConnection:
        current = self._connection
        if current is not None and not current.lost.done():
            return current
        async with self._lock:
            if self._connection is not None and not self._connection.lost.done():
                return self._connection
            attempt = 0
            while True:
                try:
                    self._connection = await AmqpConnection.open(self._url)
                    break
                except (OSError, AmqpError, TimeoutError) as exc:
                    delay = self.BACKOFF[min(attempt, len(self.BACKOFF) - 1)]
                    if attempt == 0 or attempt % 10 == 0:
                        log.warning(
                            "work-plane connection failed (%s); retrying every %.1fs", type(exc).__name__, delay
                        )
                    attempt += 1
                    await asyncio.sleep(delay)
            if current is not None:
                self.reconnects += 1
            return self._connection

    async def declare(self, channel: Channel, queue: str) -> None:
        exchange = naming.work_exchange(self.swarm)
        await channel.exchange_declare(exchange)
        await channel.queue_declare(queue)
        await channel.queue_bind(queue, exchange, queue)

    async def close(self) -> None:
        if self._connection is not None:
            await self._connection.close()


class RabbitSource:
    """Consumes a work queue with manual acks; ``pause`` cancels the consumer so messages stay queued.

    When the connection drops, deliveries not yet acknowledged are void (the broker redelivers them)
    and, if the worker is enabled, the source reconnects and consumes again by itself. When the
    broker cancels the consumer because someone deleted the queue, the source declares the queue
    again and goes on consuming.
    """

    def __init__(self, link: WorkLink, queue: str, prefetch: int) -> None:
        self._link = link
        self._queue_name = queue
        self._prefetch = prefetch
        self._channel: Channel | None = None
        self._tag: str | None = None
        self._buffer: asyncio.Queue[tuple[Channel, int, bytes]] = asyncio.Queue()
        self._seq = 0
        self._consuming = False
        self._watch: asyncio.Task[None] | None = None
        self._recover: asyncio.Task[None] | None = None
        self._error = False

    def _on_delivery(self, tag: int, redelivered: bool, body: bytes) -> None:
        assert self._channel is not None
        self._buffer.put_nowait((self._channel, tag, body))

    async def get(self) -> Delivery:
        channel, tag, body = await self._buffer.get()
        self._seq += 1

        async def ack() -> None:
            channel.ack(tag)

        async def reject(requeue: bool) -> None:
            channel.nack(tag, requeue)

        return Delivery(body, self._seq, ack, reject)

    async def _start_consuming(self) -> None:
        connection = await self._link.connection()
        channel = await connection.channel(prefetch=self._prefetch)
        await self._link.declare(channel, self._queue_name)
        self._channel = channel
        self._tag = await channel.consume(self._queue_name, self._on_delivery, self._on_cancelled)
        self._error = False
        if self._watch is None or self._watch.done():
            self._watch = asyncio.create_task(self._watch_connection(connection), name="work-source-watch")

    def _on_cancelled(self, tag: str) -> None:
        if tag != self._tag or not self._consuming:
            return
        self._tag = None
        self._error = True
        log.warning("work queue %s was deleted under this consumer; declaring it again", self._queue_name)
        self._recover = asyncio.create_task(self._consume_again(), name="work-source-recover")

    async def _consume_again(self) -> None:
        channel = self._channel
        while self._consuming and self._tag is None:
            try:
                if channel is None or channel.closed is not None:
                    return  # the connection watcher takes over
                await self._link.declare(channel, self._queue_name)
                self._tag = await channel.consume(self._queue_name, self._on_delivery, self._on_cancelled)
                self._error = False
            except (AmqpError, OSError):
                await asyncio.sleep(1.0)

    async def _watch_connection(self, connection: AmqpConnection) -> None:
        # shield: cancelling this watcher must not cancel the connection's own `lost` future
        reason = await asyncio.shield(connection.lost)
        while not self._buffer.empty():  # their delivery tags died with the channel
            self._buffer.get_nowait()
        self._channel, self._tag = None, None
        if not self._consuming:
            return
        self._error = True
        log.warning("work input lost its connection (%s); reconnecting", reason)
        while self._consuming:
            try:
                await self._start_consuming()
                return
            except (AmqpError, OSError):
                await asyncio.sleep(1.0)

    async def pause(self) -> None:
        self._consuming = False
        channel, tag = self._channel, self._tag
        if channel is not None and tag is not None:
            with contextlib.suppress(AmqpError):
                await channel.cancel(tag)
            self._tag = None
        while not self._buffer.empty():  # delivered but not taken: back to the queue
            owner, delivery_tag, _ = self._buffer.get_nowait()
            owner.nack(delivery_tag, requeue=True)
        if channel is not None and channel.closed is None:
            # A round trip on the same channel: once it returns, the broker has handled the nacks
            # above, so the queue depth already counts those items again.
            with contextlib.suppress(AmqpError):
                await channel.qos(self._prefetch)

    def buffered(self) -> int:
        """Items delivered to this worker but not yet taken by a work loop."""
        return self._buffer.qsize()

    async def resume(self) -> None:
        self._consuming = True
        if self._tag is None:
            await self._start_consuming()

    def state(self) -> str:
        return "upstream-error" if self._error else "ok"

    async def close(self) -> None:
        await self.pause()
        for task in (self._watch, self._recover):
            if task is not None:
                task.cancel()


class RabbitSink:
    """Publishes to the swarm's work exchange, persistent and ``mandatory``, with publisher confirms.

    ``publish`` returns when the broker confirmed the item; concurrent publishes share round trips
    (their frames go out in one write and confirms come back together).
    """

    def __init__(self, link: WorkLink, routing_key: str) -> None:
        self._link = link
        self._routing_key = routing_key
        self._exchange = naming.work_exchange(link.swarm)
        self._channel: Channel | None = None
        self._lock = asyncio.Lock()
        self._failing = False

    async def _ensure(self) -> Channel:
        channel = self._channel
        if channel is not None and channel.closed is None:
            return channel
        async with self._lock:
            if self._channel is None or self._channel.closed is not None:
                connection = await self._link.connection()
                channel = await connection.channel(confirms=True)
                await self._link.declare(channel, self._routing_key)
                self._channel = channel
            return self._channel

    async def publish(self, body: bytes) -> None:
        channel = self._channel
        if channel is None or channel.closed is not None:
            channel = await self._ensure()
        try:
            await channel.publish(self._exchange, self._routing_key, body)
        except AmqpError:
            self._failing = True
            raise
        self._failing = False

    def state(self) -> str:
        return "downstream-error" if self._failing else "ok"

    async def close(self) -> None:
        return None


class RabbitDeadLetters:
    """The swarm's dead-letter queue on the work-plane connection: declared on first use (durable, with
    :func:`naming.dead_letter_arguments`), then published to through the default exchange.

    Dead letters are diagnostics and rare next to items, so they go out without publisher confirms:
    one write, no round trip (the lean client's confirmed publish carries no headers). A dropped
    connection loses the few in flight; the next publish reopens it.
    """

    def __init__(self, link: WorkLink) -> None:
        self._link = link
        self.queue = naming.dead_letter_queue(link.swarm)
        self._channel: Channel | None = None
        self._declared: tuple[int, int] | None = None
        self._lock = asyncio.Lock()
        self._method: tuple[int, bytes] | None = None
        """The Basic.Publish frame (the same for every dead letter on a channel), by channel number."""

    async def _ready(self, limits: tuple[int, int]) -> Channel:
        channel = self._channel
        if channel is not None and channel.closed is None and self._declared == limits:
            return channel
        async with self._lock:
            if self._channel is None or self._channel.closed is not None:
                connection = await self._link.connection()
                self._channel, self._declared = await connection.channel(), None
            channel = self._channel
            if self._declared != limits:
                declare = commands.Queue.Declare(
                    queue=self.queue, durable=True, arguments=dict(naming.dead_letter_arguments(*limits))
                )
                try:
                    await channel.rpc(declare, commands.Queue.DeclareOk)
                except ConnectionLost as exc:
                    if "PRECONDITION_FAILED" not in str(exc):
                        raise
                    raise AmqpError(
                        f"{self.queue} exists with limits other than maxLength {limits[0]}, ttlSeconds "
                        f"{limits[1]} ({exc}); delete the queue (rabbitmqctl delete_queue {self.queue}) or set "
                        "deadLetter back to the limits it was declared with"
                    ) from exc
                self._declared = limits
            return channel

    async def publish(self, body: bytes, headers: dict[str, str], *, max_length: int, ttl_seconds: int) -> None:
        channel = await self._ready((max_length, ttl_seconds))
        number, connection = channel.number, channel.connection
        properties = commands.Basic.Properties(
            delivery_mode=2, headers=dict(headers), timestamp=dt.datetime.now(dt.UTC).replace(microsecond=0)
        )
        if self._method is None or self._method[0] != number:
            self._method = (number, frame.marshal(commands.Basic.Publish(exchange="", routing_key=self.queue), number))
        frames = [self._method[1], frame.marshal(ContentHeader(0, len(body), properties), number)]
        chunk = connection.frame_max - 8
        frames.extend(frame.marshal(ContentBody(body[i : i + chunk]), number) for i in range(0, len(body), chunk))
        if channel.closed is not None:
            raise ConnectionLost(f"channel {number} {channel.closed}")
        connection.write(b"".join(frames))


class RabbitTransports:
    """What a worker needs from RabbitMQ: aio-pika for the (quiet) control plane, the lean client for work."""

    def __init__(self, connection: AbstractRobustConnection, swarm: str, url: str) -> None:
        self.connection = connection
        self.swarm = swarm
        self._control = RabbitControlBus(connection)
        self.link = WorkLink(url, swarm)
        self._dead_letters: RabbitDeadLetters | None = None

    @property
    def control(self) -> RabbitControlBus:
        return self._control

    def source(self, identity: Identity, prefetch: int) -> RabbitSource:
        assert identity.work_in is not None, f"role {identity.role} has no work.in queue"
        return RabbitSource(self.link, identity.work_in, prefetch)

    def sink(self, identity: Identity) -> RabbitSink:
        assert identity.work_out is not None, f"role {identity.role} has no work.out queue"
        return RabbitSink(self.link, identity.work_out)

    def dead_letters(self, identity: Identity) -> RabbitDeadLetters:
        if self._dead_letters is None:  # one per swarm: every worker on these transports shares it
            self._dead_letters = RabbitDeadLetters(self.link)
        return self._dead_letters

    async def close(self) -> None:
        await self._control.close()
        await self.link.close()
        with contextlib.suppress(Exception):
            await self.connection.close()
