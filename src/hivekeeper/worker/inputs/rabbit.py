"""The RabbitMQ work input: a work queue consumed with manual acks on the work-plane connection."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from hivekeeper.worker.inputs.redeliveries import RedeliveryCounter
from hivekeeper.worker.ports import Delivery
from hivekeeper.worker.transports.rabbit.amqp.connection import AmqpConnection, AmqpError, Channel
from hivekeeper.worker.transports.rabbit.link import WorkLink

log = logging.getLogger("hivekeeper.worker.rabbit")


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
