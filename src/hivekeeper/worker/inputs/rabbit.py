"""The RabbitMQ work input: a work queue consumed with manual acks on the work-plane connection."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from hivekeeper.errors import HivekeeperError
from hivekeeper.protocol.batch import BatchError, split
from hivekeeper.worker.inputs.batch_books import BatchBooks
from hivekeeper.worker.inputs.redeliveries import RedeliveryCounter
from hivekeeper.worker.outputs.coalescing import NO_BATCHES
from hivekeeper.worker.outputs.rabbit import RabbitSink
from hivekeeper.worker.ports import Delivery
from hivekeeper.worker.transports.rabbit.amqp.connection import AmqpConnection, AmqpError, Channel
from hivekeeper.worker.transports.rabbit.link import WorkLink

log = logging.getLogger("hivekeeper.worker.rabbit")

Buffered = tuple[Channel, int, bytes, bool, int | None, BatchBooks | None]
"""A delivered item not yet taken: its channel, delivery tag, body, redelivered flag, the broker's delivery count,
and the books of the batch message it came in (None for a message of one item)."""

MALFORMED_LOG_EVERY = 60.0
"""Seconds between two warnings about malformed batches on one queue (the ones in between are counted)."""


class RabbitSource:
    """Consumes a work queue with manual acks; ``pause`` cancels the consumer so messages stay queued.

    When the connection drops, deliveries not yet acknowledged are void (the broker redelivers them)
    and, if the worker is enabled, the source reconnects and consumes again by itself. When the
    broker cancels the consumer because someone deleted the queue, the source declares the queue
    again and goes on consuming. Each delivery says how often it came back (``Delivery.redeliveries``:
    the broker's ``x-delivery-count`` if it keeps one, else a :class:`RedeliveryCounter`).

    A batch message (``protocol.batch``, decision 0013) becomes one delivery per item; the message is acknowledged
    once every item is settled. An item given back (``requeue``) is published back alone to the queue and then
    counts as settled; an item rejected without requeue counts as settled (dropped). A malformed batch is rejected
    without requeue (the broker drops it, or dead-letters it if the queue has a policy for that) and logged,
    throttled. Each item of a redelivered batch carries the message's redelivery count.
    """

    def __init__(self, link: WorkLink, queue: str, prefetch: int) -> None:
        self._link = link
        self._queue_name = queue
        self._prefetch = prefetch
        self._channel: Channel | None = None
        self._tag: str | None = None
        self._buffer: asyncio.Queue[Buffered] = asyncio.Queue()
        self.redeliveries = RedeliveryCounter()
        self._seq = 0
        self._consuming = False
        self._watch: asyncio.Task[None] | None = None
        self._recover: asyncio.Task[None] | None = None
        self._error = False
        self._returns: RabbitSink | None = None
        """Publishes an item of a batch back to this queue alone (given back with requeue); made on first use."""
        self._returning = 0
        """Items of batches published back alone whose return this worker has not seen yet: while there are any,
        first deliveries are looked up in the redelivery counter too (a given-back item comes back as a new
        message, without the redelivered flag, and must still count towards ``maxRedeliveries``)."""
        self.malformed = 0
        """Malformed batch messages rejected so far."""
        self._malformed_logged = 0
        self._malformed_log_at = 0.0

    def _on_delivery(self, tag: int, redelivered: bool, body: bytes, count: int | None, batch: object) -> None:
        channel = self._channel
        assert channel is not None
        if batch is None:
            self._buffer.put_nowait((channel, tag, body, redelivered, count, None))
            return
        try:
            items = split(body, batch)
        except BatchError as exc:
            channel.nack(tag, requeue=False)
            self._malformed_batch(exc)
            return
        times, key = 0, None
        if redelivered:  # every item of a redelivered batch came back as often as its message
            if count is not None:
                times = count
            else:
                key, times = self.redeliveries.count(body)
        books = BatchBooks(len(items), times, key)
        put = self._buffer.put_nowait
        for item in items:
            put((channel, tag, item, False, None, books))

    def _malformed_batch(self, error: BatchError) -> None:
        self.malformed += 1
        now = asyncio.get_running_loop().time()
        if self._malformed_logged and now - self._malformed_log_at < MALFORMED_LOG_EVERY:
            return
        held, self._malformed_logged = self.malformed - self._malformed_logged - 1, self.malformed
        self._malformed_log_at = now
        more = f" ({held} more since the last warning)" if held > 0 else ""
        log.warning(
            "work queue %s: rejected a malformed batch message (dropped, not requeued): %.300s%s",
            self._queue_name,
            error,
            more,
        )

    async def get(self) -> Delivery:
        channel, tag, body, redelivered, count, books = await self._buffer.get()
        self._seq += 1
        if books is not None:
            return self._batch_item(channel, tag, body, books)
        times, key = 0, None
        if redelivered:  # rare: only items that came back pay for counting
            if count is not None:
                times = count
            else:
                key, times = self.redeliveries.count(body)
        elif self._returning:  # rare: an item of a batch given back alone may be this one
            key, times = self.redeliveries.seen(body)
            if times:
                self._returning -= 1
            else:
                key = None

        def ack() -> None:
            channel.ack(tag)
            if key is not None:
                self.redeliveries.forget(key)

        async def reject(requeue: bool) -> None:
            channel.nack(tag, requeue)

        return Delivery(body, self._seq, None, reject, redeliveries=times, live=channel.is_open, ack_now=ack)

    def _batch_item(self, channel: Channel, tag: int, body: bytes, books: BatchBooks) -> Delivery:
        books.taken += 1

        def ack() -> None:
            self._settled(channel, tag, books)

        async def reject(requeue: bool) -> None:
            if requeue and channel.is_open():  # a dead channel: the broker redelivers the whole message anyway
                await self._give_back(body, books)
            self._settled(channel, tag, books)

        return Delivery(
            body, self._seq, None, reject, redeliveries=books.redeliveries, live=channel.is_open, ack_now=ack
        )

    def _settled(self, channel: Channel, tag: int, books: BatchBooks) -> None:
        outcome = books.settle()
        if outcome == "ack":
            channel.ack(tag)
            if books.key is not None:
                self.redeliveries.forget(books.key)
        elif outcome == "requeue":
            channel.nack(tag, requeue=True)

    async def _give_back_and_settle(self, channel: Channel, tag: int, body: bytes, books: BatchBooks) -> None:
        if channel.is_open():
            await self._give_back(body, books)
        self._settled(channel, tag, books)

    async def _give_back(self, body: bytes, books: BatchBooks) -> None:
        """Publish one item of a batch back to this queue alone (confirmed); if that fails, the whole message goes
        back to the queue once its other items are settled."""
        if self._returns is None:
            self._returns = RabbitSink(self._link, self._queue_name, NO_BATCHES)
        self.redeliveries.count(body)  # it comes back as a new message: this worker counts the return itself
        try:
            await self._returns.publish(body)
            self._returning += 1
        except (HivekeeperError, OSError) as exc:
            books.give_back_failed()
            log.warning(
                "work queue %s: could not publish an item of a batch back alone (%s); the whole batch goes back "
                "to the queue once its other items are settled",
                self._queue_name,
                exc,
            )

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
        self._returning = 0  # items given back may reach another worker first: stop looking for them
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
        back: list[tuple[Channel, int, bytes, BatchBooks]] = []
        while not self._buffer.empty():  # delivered but not taken: back to the queue
            owner, delivery_tag, body, _, _, books = self._buffer.get_nowait()
            if books is None:
                owner.nack(delivery_tag, requeue=True)
            elif books.taken == 0:  # no item of the batch was taken: the message goes back whole, once
                if books.left > 0:
                    owner.nack(delivery_tag, requeue=True)
                    books.drop()
            else:  # some items are in work loops: the rest go back alone
                back.append((owner, delivery_tag, body, books))
        if back:  # together: their publishes share round trips
            await asyncio.gather(*(self._give_back_and_settle(*entry) for entry in back))
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
        if self._returns is not None:
            await self._returns.close()
