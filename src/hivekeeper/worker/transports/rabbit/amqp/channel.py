"""One AMQP channel of the lean client: RPCs in order, publishes with confirms, one consumer's deliveries.

The per-item frames (publish, ack, deliver, confirm, return) are read and written with ``codec``;
everything rare goes through pamqp. Publish bookkeeping (returns, timeouts, held publishes) is in
``confirms``; the connection (``connection``) owns the socket, the clock and the blocked state.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from pamqp import commands, frame
from pamqp.base import Frame
from pamqp.header import ContentHeader

from hivekeeper.protocol.batch import BATCH_HEADER
from hivekeeper.worker.transports.rabbit.amqp import codec
from hivekeeper.worker.transports.rabbit.amqp.confirms import PublishTracker
from hivekeeper.worker.transports.rabbit.amqp.errors import AmqpError, ConnectionLost, MessageTooLarge

if TYPE_CHECKING:
    from hivekeeper.worker.transports.rabbit.amqp.connection import AmqpConnection

R = TypeVar("R", bound=Frame)
DeliveryCallback = Callable[[int, bool, bytes, int | None, object], None]
"""``(delivery_tag, redelivered, body, delivery_count, batch)``; ``delivery_count`` is the broker's
``x-delivery-count`` header of a redelivered item (quorum queues), else None; ``batch`` is the message's
``hivekeeper-batch`` header as sent (``protocol.batch``: unchecked, the consumer checks it), None without one."""

_MAX_SIZE = re.compile(r"larger than (?:configured )?max size (\d+)")
"""RabbitMQ's 406 reply text for a too-large publish names its limit (rabbit_channel:check_msg_size)."""


class Channel:
    """One AMQP channel: RPCs in order, publishes with confirms, one consumer's deliveries."""

    def __init__(self, connection: AmqpConnection, number: int) -> None:
        self.connection = connection
        self.number = number
        self.closed: str | None = None
        self._rpc_lock = asyncio.Lock()
        self._rpc_waiter: asyncio.Future[Frame] | None = None
        self._confirming = False
        self.publishes = PublishTracker()
        self._consumers: dict[str, DeliveryCallback] = {}
        self._consume_pending: DeliveryCallback | None = None
        self._on_cancel: dict[str, Callable[[str], None]] = {}
        # content being assembled: (consumer tag, delivery tag, redelivered, delivery count, batch) or a return
        self._pending: tuple[str, int, bool, int | None, object] | None = None
        self._returning: tuple[str, str, str] | None = None
        self._size = 0
        self._parts: list[bytes] = []

    # -- RPCs (rare: declarations, qos, consume) ----------------------------------------------
    async def rpc(self, command: Frame, reply: type[R]) -> R:
        async with self._rpc_lock:
            self._check_open()
            waiter: asyncio.Future[Frame] = self.connection.loop.create_future()
            self._rpc_waiter = waiter
            self.connection.write(frame.marshal(command, self.number))
            result = await waiter
        if not isinstance(result, reply):
            raise AmqpError(f"expected {reply.__name__} on channel {self.number}, got {type(result).__name__}")
        return result

    async def open(self) -> None:
        await self.rpc(commands.Channel.Open(), commands.Channel.OpenOk)

    async def confirm_select(self) -> None:
        await self.rpc(commands.Confirm.Select(), commands.Confirm.SelectOk)
        self._confirming = True

    async def qos(self, prefetch: int) -> None:
        await self.rpc(commands.Basic.Qos(prefetch_count=prefetch), commands.Basic.QosOk)

    async def exchange_declare(self, name: str, kind: str = "topic", durable: bool = True) -> None:
        await self.rpc(
            commands.Exchange.Declare(exchange=name, exchange_type=kind, durable=durable), commands.Exchange.DeclareOk
        )

    async def queue_declare(self, name: str, *, durable: bool = True, passive: bool = False) -> int:
        """Declare a queue; return how many messages it holds."""
        ok = await self.rpc(
            commands.Queue.Declare(queue=name, durable=durable, passive=passive), commands.Queue.DeclareOk
        )
        return int(ok.message_count or 0)

    async def queue_bind(self, queue: str, exchange: str, routing_key: str) -> None:
        await self.rpc(
            commands.Queue.Bind(queue=queue, exchange=exchange, routing_key=routing_key), commands.Queue.BindOk
        )

    async def consume(
        self, queue: str, callback: DeliveryCallback, on_cancel: Callable[[str], None] | None = None
    ) -> str:
        """Start delivering ``queue`` to ``callback`` (see :data:`DeliveryCallback`; manual acks).

        ``on_cancel(consumer_tag)`` runs when the broker cancels the consumer (its queue was deleted).
        """
        # Deliveries can arrive in the same read as ConsumeOk, before this coroutine resumes, so
        # the callback is registered the moment ConsumeOk is parsed (see _on_rpc_frame).
        self._consume_pending = callback
        ok = await self.rpc(commands.Basic.Consume(queue=queue), commands.Basic.ConsumeOk)
        tag = str(ok.consumer_tag)
        if on_cancel is not None:
            self._on_cancel[tag] = on_cancel
        return tag

    async def cancel(self, consumer_tag: str) -> None:
        self._on_cancel.pop(consumer_tag, None)
        await self.rpc(commands.Basic.Cancel(consumer_tag=consumer_tag), commands.Basic.CancelOk)
        self._consumers.pop(consumer_tag, None)

    async def close(self) -> None:
        if self.closed is None:
            with contextlib.suppress(AmqpError):
                bye = commands.Channel.Close(reply_code=200, reply_text="bye", class_id=0, method_id=0)
                await self.rpc(bye, commands.Channel.CloseOk)
            self._fail("closed by the client")

    # -- the hot path ---------------------------------------------------------------------------
    def publish(self, exchange: str, routing_key: str, body: bytes, batch: int = 0) -> asyncio.Future[None]:
        """Publish persistently with ``mandatory``; the future completes when the broker confirms.

        ``batch`` > 0: ``body`` is a batch of that many items (``protocol.batch``), sent with its header.

        Raises :class:`MessageTooLarge` at once for a body above the connection's ``max_message_size``.
        While the connection is blocked the publish is held and sent when the broker unblocks it.
        """
        self._check_open()
        assert self._confirming, "publish needs confirm_select() first"
        connection = self.connection
        if len(body) > connection.max_message_size:
            raise MessageTooLarge(
                f"the item is {len(body)} bytes, more than the broker's max_message_size of "
                f"{connection.max_message_size} bytes; it was not sent (raise max_message_size in the broker URL "
                "only if the broker's own limit is higher)"
            )
        future: asyncio.Future[None] = connection.loop.create_future()
        if connection.blocked is not None:
            deadline = connection.loop.time() + connection.blocked_timeout
            self.publishes.held.append((future, exchange, routing_key, body, deadline, batch))
            return future
        tracker = self.publishes  # PublishTracker.sent, inlined: this runs for every item
        tracker.seq = seq = tracker.seq + 1
        tracker.unconfirmed[seq] = (future, exchange, routing_key, body)
        connection.write(codec.publish(self.number, exchange, routing_key, body, connection.frame_max, batch=batch))
        return future

    def ack(self, delivery_tag: int) -> None:
        if self.closed is None:
            self.connection.write(codec.ack(self.number, delivery_tag))

    def nack(self, delivery_tag: int, requeue: bool = True) -> None:
        if self.closed is None:
            self.connection.write(codec.nack(self.number, delivery_tag, requeue=requeue))

    def release_held(self) -> None:
        """Send the publishes held while the connection was blocked, in order."""
        tracker, connection = self.publishes, self.connection
        held, tracker.held = tracker.held, type(tracker.held)()
        for future, exchange, routing_key, body, _, batch in held:
            if not future.done():  # a publish whose caller gave up is not sent at all
                tracker.sent(future, exchange, routing_key, body)
                frames = codec.publish(self.number, exchange, routing_key, body, connection.frame_max, batch=batch)
                connection.write(frames)

    # -- incoming frames ------------------------------------------------------------------------
    def on_method(self, payload: memoryview) -> None:
        ident = codec.method_id(payload)
        if ident == codec.BASIC_DELIVER:
            consumer, tag, redelivered = codec.deliver(payload)
            self._pending = (consumer, tag, redelivered, None, None)
            self._returning = None
        elif ident == codec.BASIC_ACK:
            tag, multiple = codec.confirm(payload)
            self.publishes.on_confirm(tag, multiple, ok=True)
        elif ident == codec.BASIC_NACK:
            tag, multiple = codec.confirm(payload)
            self.publishes.on_confirm(tag, multiple, ok=False)
        elif ident == codec.BASIC_RETURN:
            code, text, exchange, routing_key = codec.returned(payload)
            self._returning = (f"{code} {text}", exchange, routing_key)
            self._pending = None
        else:  # rare frames: let pamqp read them
            _, _, value = frame.unmarshal(codec.frame(codec.FRAME_METHOD, self.number, bytes(payload)))
            if isinstance(value, Frame):
                self._on_rpc_frame(value)

    def on_header(self, payload: memoryview) -> None:
        self._size = codec.body_size(payload)
        self._parts = []
        pending = self._pending
        if pending is not None and (pending[2] or codec.has_headers(payload)):
            # Only redelivered items and messages with headers (batches) pay for reading properties: the broker's
            # delivery count, if it keeps one, and the batch header.
            count, batch = _read_headers(self.number, payload)
            self._pending = (*pending[:2], pending[2], count if pending[2] else None, batch)
        if self._size == 0:
            self._content_done(b"")

    def on_body(self, payload: memoryview) -> None:
        self._parts.append(bytes(payload))
        self._size -= len(payload)
        if self._size <= 0:
            parts = self._parts
            self._content_done(parts[0] if len(parts) == 1 else b"".join(parts))

    def _content_done(self, body: bytes) -> None:
        pending, self._pending = self._pending, None
        if pending is not None:
            consumer, tag, redelivered, count, batch = pending
            callback = self._consumers.get(consumer)
            if callback is not None:
                callback(tag, redelivered, body, count, batch)
        elif self._returning is not None:
            # The return comes before the confirm of the same publish: mark that publish, and its
            # confirm (single or part of a `multiple` ack) fails it with Unroutable.
            reason, exchange, routing_key = self._returning
            self._returning = None
            self.publishes.on_return(reason, exchange, routing_key, body)

    def _on_rpc_frame(self, value: Frame) -> None:
        if isinstance(value, commands.Channel.Close):
            self.connection.write(frame.marshal(commands.Channel.CloseOk(), self.number))
            self._fail(f"closed by the broker: {value.reply_code} {value.reply_text}", _size_limit(value))
            return
        if isinstance(value, commands.Basic.ConsumeOk) and self._consume_pending is not None:
            self._consumers[str(value.consumer_tag)] = self._consume_pending
            self._consume_pending = None
        if isinstance(value, commands.Basic.Cancel):  # the queue was deleted under the consumer
            tag = str(value.consumer_tag)
            self._consumers.pop(tag, None)
            notify = self._on_cancel.pop(tag, None)
            if notify is not None:
                notify(tag)
            return
        waiter, self._rpc_waiter = self._rpc_waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(value)

    def is_open(self) -> bool:
        return self.closed is None

    def _check_open(self) -> None:
        if self.closed is not None:
            raise ConnectionLost(f"channel {self.number} {self.closed}")

    def _fail(self, reason: str, size_limit: int | None = None) -> None:
        """Close the channel's books: pending publishes and RPCs fail with ``reason``.

        ``size_limit``: the broker closed the channel because a publish was larger than this. Only the
        publishes above it are refused (permanently); the others fail as lost and may be sent again.
        """
        if self.closed is not None:
            return
        self.closed = reason
        error = ConnectionLost(f"channel {self.number} {reason}")
        if size_limit is not None:
            self.connection.max_message_size = min(self.connection.max_message_size, size_limit)

            def error_for(body: bytes) -> Exception:
                if len(body) > size_limit:
                    return MessageTooLarge(
                        f"the item is {len(body)} bytes and the broker refused it: its max_message_size is "
                        f"{size_limit} bytes ({reason}); set max_message_size={size_limit} in the broker URL so "
                        "such items are refused before they are sent"
                    )
                return error
        else:

            def error_for(body: bytes) -> Exception:
                return error

        self.publishes.fail_unconfirmed(error_for)
        self.publishes.fail_held(error)
        if self._rpc_waiter is not None and not self._rpc_waiter.done():
            self._rpc_waiter.set_exception(error)
        self._consumers.clear()
        self._on_cancel.clear()
        self.connection.forget(self.number)


def _size_limit(close: commands.Channel.Close) -> int | None:
    """The broker's max message size, when it closed the channel for a publish larger than that."""
    if close.reply_code != 406 or (close.class_id, close.method_id) != codec.BASIC_PUBLISH:
        return None
    found = _MAX_SIZE.search(close.reply_text or "")
    return int(found.group(1)) if found else None


def _read_headers(channel: int, payload: memoryview) -> tuple[int | None, object]:
    """``x-delivery-count`` (quorum queues count redeliveries) and the ``hivekeeper-batch`` header from a content
    header's properties: ``(count or None, batch header or None)``."""
    try:
        _, _, value = frame.unmarshal(codec.frame(codec.FRAME_HEADER, channel, bytes(payload)))
    except Exception:  # a header pamqp cannot read still has a body to deliver: just no count
        return None, None
    headers = value.properties.headers if isinstance(value, ContentHeader) else None
    if not headers:
        return None, None
    count = headers.get("x-delivery-count")
    return (count if isinstance(count, int) else None), headers.get(BATCH_HEADER)
