"""The RabbitMQ work output (publisher confirms) and the swarm's dead-letter queue, on the work-plane
connection."""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import logging
from collections.abc import Coroutine
from typing import Any

from pamqp import commands, frame
from pamqp.body import ContentBody
from pamqp.header import ContentHeader

from hivekeeper.protocol import naming
from hivekeeper.protocol.batch import encode
from hivekeeper.worker.outputs.coalescing import BatchLimits, Pending
from hivekeeper.worker.ports import OutputRefused
from hivekeeper.worker.transports.rabbit.amqp.connection import (
    AmqpError,
    Channel,
    ConnectionLost,
    MessageTooLarge,
    PublishRefused,
    Unroutable,
)
from hivekeeper.worker.transports.rabbit.link import WorkLink

log = logging.getLogger("hivekeeper.worker.rabbit")


class RabbitSink:
    """Publishes to the swarm's work exchange, persistent and ``mandatory``, with publisher confirms.

    ``publish`` returns when the broker confirmed the item; concurrent publishes share round trips
    (their frames go out in one write and confirms come back together). An item the broker can never
    take (larger than ``max_message_size``, or unroutable even after the queue is declared again)
    raises :class:`OutputRefused`; other failures are transient (``AmqpError``). While the broker
    blocks publishing, publishes wait (up to the blocked timeout) and ``state()`` is ``blocked``.

    Batches (decision 0013): the items passed to ``publish`` in one turn of the event loop go out as one batch
    message (``protocol.batch``) at the end of that turn, or earlier when the next item would pass ``max_items`` or
    ``max_bytes`` (capped by the broker's ``max_message_size``); each ``publish`` returns, or raises, when the
    message that carried its item is confirmed or refused. A lone item, and an item too large for a batch, goes as
    a plain message (no batch header): at low rates the wire looks as without batches. With ``max_items`` 1
    (``outputs.batching.enabled: false``) every item is a message of its own.
    """

    REDECLARE_EVERY = 1.0
    """Seconds between two re-declarations of the output queue after unroutable publishes (someone
    deleted it); in between, unroutable items are refused without a declaration each."""

    def __init__(self, link: WorkLink, routing_key: str, batching: BatchLimits | None = None) -> None:
        self._link = link
        self._routing_key = routing_key
        self._exchange = link.exchange
        self._channel: Channel | None = None
        self._lock = asyncio.Lock()
        self._failing = False
        self._redeclared = -self.REDECLARE_EVERY
        self._limits = batching if batching is not None else BatchLimits()
        self._pending: Pending[asyncio.Future[None]] = Pending(self._limits)
        self._scheduled = False
        self._batch: asyncio.Future[None] | None = None
        """The future of the batch being filled (None before the first)."""
        self._tasks: set[asyncio.Task[None]] = set()
        """Sends that wait for the channel (opened again) or for the queue to be declared again."""
        self.messages = 0
        """Messages sent so far (a batch counts once; those sent alone are confirmed ones); ``items`` /
        ``messages`` is the mean batch size."""
        self.items = 0

    def configure_batching(self, max_items: int, max_bytes: int) -> None:
        """New batch bounds (``outputs.batching``; ``max_items`` 1: no batches); what is held now goes out at the end
        of this loop turn."""
        self._limits = batching = BatchLimits(max_items, max_bytes)
        channel = self._channel
        self._pending.limit(batching, channel.connection.max_message_size if channel is not None else None)

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
        if self._pending.alone(body):  # awaited here: no task of its own per item (batching off: every item)
            await self._publish_alone(body)
            return
        await self.publish_later(body)

    def publish_later(self, body: bytes) -> asyncio.Future[None]:
        """:meth:`publish` without waiting: the future is done when the broker confirmed the item (or failed with what
        ``publish`` raises). The item goes out at the end of this loop turn, or at once when its batch is full.

        The items of one batch share one future (they are confirmed or fail together): a caller handing over many
        items can wait for, or count, each batch once."""
        pending = self._pending
        loop = asyncio.get_running_loop()
        if pending.alone(body):
            return loop.create_task(self._publish_alone(body))
        if pending.bodies and not pending.room(body):
            self._flush()
        waiter = self._batch
        if waiter is None or not pending.bodies:
            waiter = self._batch = loop.create_future()
        if pending.add(body, waiter):
            self._flush()
        elif not self._scheduled:
            self._scheduled = True
            loop.call_soon(self._turn_over)
        return waiter

    def _turn_over(self) -> None:
        self._scheduled = False
        self._flush()

    def _flush(self) -> None:
        """Send what is held as one message (a plain one for a single item)."""
        bodies, waiters = self._pending.take()
        if not bodies:
            return
        channel = self._channel
        if channel is None or channel.closed is not None:
            self._later(self._send_when_open(bodies, waiters))
        else:
            self._send(channel, bodies, waiters, retry=True)

    def _later(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _send_when_open(
        self, bodies: list[bytes], waiters: list[asyncio.Future[None]], retry: bool = True
    ) -> None:
        try:
            channel = await self._ensure()
        except asyncio.CancelledError:
            _fail(waiters, ConnectionLost("the output closed before the items were sent"))
            raise
        except Exception as exc:  # the connection could not be had: every item fails as transient
            self._failing = True
            _fail(waiters, exc)
            return
        self._send(channel, bodies, waiters, retry=retry)

    def _send(self, channel: Channel, bodies: list[bytes], waiters: list[asyncio.Future[None]], *, retry: bool) -> None:
        count = len(bodies)
        self._pending.limit(self._limits, channel.connection.max_message_size)  # the next batches: the broker's bound
        try:
            if count == 1:
                confirmed = channel.publish(self._exchange, self._routing_key, bodies[0])
            else:
                confirmed = channel.publish(self._exchange, self._routing_key, encode(bodies), count)
        except Exception as exc:  # the channel closed, or the body is above max_message_size
            _fail(waiters, self._error(exc, count))
            return
        self.messages += 1
        self.items += count
        confirmed.add_done_callback(functools.partial(self._confirmed, channel, bodies, waiters, retry))

    def _confirmed(
        self,
        channel: Channel,
        bodies: list[bytes],
        waiters: list[asyncio.Future[None]],
        retry: bool,
        confirmed: asyncio.Future[None],
    ) -> None:
        error = ConnectionLost("the publish was cancelled") if confirmed.cancelled() else confirmed.exception()
        if error is None:
            self._failing = False
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_result(None)
            return
        if isinstance(error, Unroutable) and retry:
            self._later(self._route_again(channel, bodies, waiters, error))
            return
        _fail(waiters, self._error(error, len(bodies)))

    async def _route_again(
        self, channel: Channel, bodies: list[bytes], waiters: list[asyncio.Future[None]], error: Unroutable
    ) -> None:
        if await self._declared_again(channel):  # once: the queue is bound again now, or it is refused for good
            await self._send_when_open(bodies, waiters, retry=False)
        else:
            _fail(waiters, self._error(error, len(bodies)))

    def _error(self, error: BaseException, items: int) -> BaseException:
        """What the publishers of a message's ``items`` get for ``error``: :class:`OutputRefused` for what the broker
        will never take; a batch too large for the broker's limit is transient (its items fit in smaller ones)."""
        if isinstance(error, PublishRefused):
            if isinstance(error, MessageTooLarge) and items > 1:
                self._failing = True
                return AmqpError(f"a batch of {items} items was too large for the broker; sent again smaller: {error}")
            refused = OutputRefused(str(error))
            refused.__cause__ = error
            return refused
        if isinstance(error, AmqpError):
            self._failing = True
        return error

    async def _publish_alone(self, body: bytes) -> None:
        channel = self._channel
        if channel is None or channel.closed is not None:
            channel = await self._ensure()
        try:
            await channel.publish(self._exchange, self._routing_key, body)
        except Unroutable as exc:
            if not await self._declared_again(channel):
                raise OutputRefused(str(exc)) from exc
            await self._publish_alone(body)  # once: the queue is bound again now, or it is refused for good
            return
        except PublishRefused as exc:  # too large: the same every time
            raise OutputRefused(str(exc)) from exc
        except AmqpError:
            self._failing = True
            raise
        self._failing = False
        self.messages += 1
        self.items += 1

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
        self._flush()  # what is held goes out; its publishers wait for the confirm as usual


def _fail(waiters: list[asyncio.Future[None]], error: BaseException) -> None:
    for waiter in waiters:
        if not waiter.done():
            waiter.set_exception(error)


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
