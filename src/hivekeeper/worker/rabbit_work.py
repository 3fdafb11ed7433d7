"""The work plane on the lean AMQP client (decision 0003): the connection, the input, the output and the
dead-letter queue of one worker.

:class:`WorkLink` opens (and reopens, with backoff) the worker's one work-plane connection; the input
(:class:`RabbitSource`, manual acks, prefetch), the output (:class:`RabbitSink`, persistent,
``mandatory``, publisher confirms) and the dead letters (:class:`RabbitDeadLetters`) each use a channel
of it. ``worker.rabbit`` builds them; the control plane stays on aio-pika there.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging

from pamqp import commands, frame
from pamqp.body import ContentBody
from pamqp.header import ContentHeader

from hivekeeper.protocol import naming
from hivekeeper.worker.amqp.connection import (
    BLOCKED_TIMEOUT,
    CONFIRM_TIMEOUT,
    AmqpConnection,
    AmqpError,
    Channel,
    ConnectionLost,
    MessageTooLarge,
    PublishRefused,
    Unroutable,
)
from hivekeeper.worker.amqp.url import BrokerUrl, parse
from hivekeeper.worker.ports import Delivery, OutputRefused
from hivekeeper.worker.redeliveries import RedeliveryCounter

log = logging.getLogger("hivekeeper.worker.rabbit")


class WorkLink:
    """The worker's work-plane connection (lean AMQP client), reopened with backoff when it drops."""

    BACKOFF = (0.2, 0.5, 1.0, 2.0, 5.0)

    def __init__(
        self,
        url: str | BrokerUrl,
        swarm: str,
        *,
        confirm_timeout: float = CONFIRM_TIMEOUT,
        blocked_timeout: float = BLOCKED_TIMEOUT,
    ) -> None:
        self.broker = parse(url) if isinstance(url, str) else url
        self.swarm = swarm
        self.confirm_timeout = confirm_timeout
        self.blocked_timeout = blocked_timeout
        self._connection: AmqpConnection | None = None
        self._lock = asyncio.Lock()
        self.reconnects = 0
        self._past_blocks = 0

    @property
    def blocked(self) -> bool:
        """True while the broker blocks this worker's publishes (a memory or disk alarm)."""
        current = self._connection
        return current is not None and current.blocked is not None and not current.lost.done()

    @property
    def blocks(self) -> int:
        """How many times the broker blocked this worker's publishes, over every connection so far."""
        current = self._connection
        return self._past_blocks + (current.blocks if current is not None else 0)

    async def connection(self) -> AmqpConnection:
        current = self._connection
        if current is not None and not current.lost.done():
            return current
        async with self._lock:
            if self._connection is not None and not self._connection.lost.done():
                return self._connection
            if self._connection is not None:
                self._past_blocks += self._connection.blocks
                self._connection = None
            attempt = 0
            while True:
                try:
                    self._connection = await AmqpConnection.open(
                        self.broker, confirm_timeout=self.confirm_timeout, blocked_timeout=self.blocked_timeout
                    )
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
    again and goes on consuming. Each delivery says how often it came back (``Delivery.redeliveries``:
    the broker's ``x-delivery-count`` if it keeps one, else a :class:`RedeliveryCounter`).
    """

    def __init__(self, link: WorkLink, queue: str, prefetch: int) -> None:
        self._link = link
        self._queue_name = queue
        self._prefetch = prefetch
        self._channel: Channel | None = None
        self._tag: str | None = None
        self._buffer: asyncio.Queue[tuple[Channel, int, bytes, bool, int | None]] = asyncio.Queue()
        self.redeliveries = RedeliveryCounter()
        self._seq = 0
        self._consuming = False
        self._watch: asyncio.Task[None] | None = None
        self._recover: asyncio.Task[None] | None = None
        self._error = False

    def _on_delivery(self, tag: int, redelivered: bool, body: bytes, count: int | None) -> None:
        assert self._channel is not None
        self._buffer.put_nowait((self._channel, tag, body, redelivered, count))

    async def get(self) -> Delivery:
        channel, tag, body, redelivered, count = await self._buffer.get()
        self._seq += 1
        times, key = 0, None
        if redelivered:  # rare: only items that came back pay for counting
            if count is not None:
                times = count
            else:
                key, times = self.redeliveries.count(body)

        async def ack() -> None:
            channel.ack(tag)
            if key is not None:
                self.redeliveries.forget(key)

        async def reject(requeue: bool) -> None:
            channel.nack(tag, requeue)

        return Delivery(body, self._seq, ack, reject, redeliveries=times, live=channel.is_open)

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
            owner, delivery_tag, *_ = self._buffer.get_nowait()
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
    (their frames go out in one write and confirms come back together). An item the broker can never
    take (larger than ``max_message_size``, or unroutable even after the queue is declared again)
    raises :class:`OutputRefused`; other failures are transient (``AmqpError``). While the broker
    blocks publishing, publishes wait (up to the blocked timeout) and ``state()`` is ``blocked``.
    """

    REDECLARE_EVERY = 1.0
    """Seconds between two re-declarations of the output queue after unroutable publishes (someone
    deleted it); in between, unroutable items are refused without a declaration each."""

    def __init__(self, link: WorkLink, routing_key: str) -> None:
        self._link = link
        self._routing_key = routing_key
        self._exchange = naming.work_exchange(link.swarm)
        self._channel: Channel | None = None
        self._lock = asyncio.Lock()
        self._failing = False
        self._redeclared = -self.REDECLARE_EVERY

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
        except Unroutable as exc:
            if not await self._declared_again(channel):
                raise OutputRefused(str(exc)) from exc
            await self.publish(body)  # once: the queue is bound again now, or it is refused for good
            return
        except PublishRefused as exc:  # too large: the same every time
            raise OutputRefused(str(exc)) from exc
        except AmqpError:
            self._failing = True
            raise
        self._failing = False

    async def _declared_again(self, channel: Channel) -> bool:
        """Declare the output queue and its binding again (someone deleted them), at most once a second."""
        now = asyncio.get_running_loop().time()
        if now - self._redeclared < self.REDECLARE_EVERY or channel.closed is not None:
            return False
        self._redeclared = now
        try:
            await self._link.declare(channel, self._routing_key)
        except AmqpError:
            return False
        return True

    def state(self) -> str:
        if self._link.blocked:
            return "blocked"
        return "downstream-error" if self._failing else "ok"

    def blocks(self) -> int:
        return self._link.blocks

    async def close(self) -> None:
        return None


class RabbitDeadLetters:
    """The swarm's dead-letter queue on the work-plane connection: declared on first use (durable, with
    :func:`naming.dead_letter_arguments`), then published to through the default exchange.

    Dead letters are diagnostics and rare next to items, so they go out without publisher confirms:
    one write, no round trip (the lean client's confirmed publish carries no headers). A dropped
    connection loses the few in flight; the next publish reopens it. Like items, they are never larger
    than the broker's ``max_message_size``, and while the broker blocks publishing they wait (bounded)
    instead of piling up in the socket's buffer.
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
        if len(body) > connection.max_message_size:
            raise MessageTooLarge(
                f"the item is {len(body)} bytes, more than the broker's max_message_size of "
                f"{connection.max_message_size} bytes; it cannot be kept"
            )
        await connection.wait_unblocked()
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
