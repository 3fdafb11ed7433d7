"""The I/O edges of a worker, as small Protocols: its work input and output, the dead-letter queue, the
control bus, the data store, and :class:`Transports` that builds them for one worker.

Each has an in-memory twin (``transports.memory``, ``inputs.memory``, ``outputs.memory``) and a real
implementation (RabbitMQ: ``transports.rabbit``, ``inputs.rabbit``, ``outputs.rabbit``; Redis:
``transports.redis``). Roles see none of them except the data store; their HTTP edge is
``worker.http_port``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from hivekeeper.errors import Refused, Unavailable
from hivekeeper.worker.identity import Identity


class Delivery:
    """One unit of work from an input: a message body (``None`` for a scheduler tick) and how to settle it.

    ``redeliveries``: how many times the broker delivered this item before (0 on a first delivery): the
    broker's own count when it keeps one (quorum queues' ``x-delivery-count``), else this worker's
    count of the redelivered flag (see ``worker.inputs.redeliveries``). ``live()``: False once
    the delivery can no longer be settled (its channel died; the broker will redeliver it anyway).
    """

    __slots__ = ("_ack", "_ack_now", "_live", "_reject", "body", "redeliveries", "seq")

    def __init__(
        self,
        body: bytes | None,
        seq: int,
        ack: Callable[[], Awaitable[None]] | None = None,
        reject: Callable[[bool], Awaitable[None]] | None = None,
        *,
        redeliveries: int = 0,
        live: Callable[[], bool] | None = None,
        ack_now: Callable[[], None] | None = None,
    ) -> None:
        self.body = body
        self.seq = seq
        self._ack = ack
        self._ack_now = ack_now
        """An input whose acknowledgement needs no I/O of its own (RabbitMQ's: a frame queued on the channel) gives
        it here instead of ``ack``, and it can then be acknowledged from a callback (:meth:`ack_at_once`)."""
        self._reject = reject
        self.redeliveries = redeliveries
        self._live = live

    @property
    def settles(self) -> bool:
        """False for inputs with nothing to acknowledge (scheduler ticks, memory queues)."""
        return self._ack is not None or self._ack_now is not None

    @property
    def acks_at_once(self) -> bool:
        """True when :meth:`ack_at_once` can settle it (or there is nothing to settle)."""
        return self._ack is None

    def ack_at_once(self) -> None:
        """:meth:`ack` without awaiting, for an input that gave ``ack_now`` (see :attr:`acks_at_once`)."""
        if self._ack_now is not None:
            self._ack_now()

    def live(self) -> bool:
        """True while acknowledging or giving back this delivery still means something."""
        return self._live() if self._live is not None else True

    async def ack(self) -> None:
        """Done with it (processed, or dropped on purpose and counted)."""
        if self._ack_now is not None:
            self._ack_now()
        elif self._ack is not None:
            await self._ack()

    async def requeue(self) -> None:
        """Give it back to the broker (the worker is stopping or paused mid-flight)."""
        if self._reject is not None:
            await self._reject(True)


class WorkSource(Protocol):
    """Where a worker's items come from. ``get`` blocks; ``pause``/``resume`` follow ``enabled``."""

    async def get(self) -> Delivery: ...

    async def pause(self) -> None: ...

    async def resume(self) -> None: ...

    def buffered(self) -> int:
        """Items received from the broker but not yet taken by a work loop."""
        ...

    def state(self) -> str:
        """``ok``, ``out-of-data``, ``backpressure`` or ``upstream-error`` (status ioState.work.input)."""
        ...

    async def close(self) -> None: ...


class OutputRefused(Refused):
    """The output will never take this item as it is (too large, unroutable): a permanent failure.

    Sending it again fails again, so the runtime does not retry it: the input goes to the dead-letter
    queue (or is dropped, counted and alerted). Any other exception from ``WorkSink.publish`` is
    transient (connection lost, broker blocked, no confirm in time) and is retried with backoff.
    """


class WorkSink(Protocol):
    """Where results go. ``publish`` returns once the item is safely handed over (confirmed); it raises
    :class:`OutputRefused` for an item the output can never take, anything else for a transient failure."""

    async def publish(self, body: bytes) -> None: ...

    def state(self) -> str:
        """``ok``, ``blocked``, ``throttled`` or ``downstream-error``."""
        ...

    async def close(self) -> None: ...


@runtime_checkable
class ConfirmsLater(Protocol):
    """A sink that takes an item without its caller waiting for the confirm (RabbitMQ's): a producer's work loop
    makes a whole batch in one loop turn with it, instead of one item per confirm (``runtime.work``)."""

    def publish_later(self, body: bytes) -> asyncio.Future[None]:
        """Hand ``body`` over; the future ends as :meth:`WorkSink.publish` would (confirmed, or its error)."""
        ...


@runtime_checkable
class Blockable(Protocol):
    """A sink the broker can block (RabbitMQ's ``connection.blocked``).

    While the broker blocks publishing it blocks the control plane too, so a status computed during a
    block cannot leave the worker until the block ends: the count lets the next status-delta report
    ``blocked`` for an interval in which a block came and went.
    """

    def blocks(self) -> int:
        """How many times the broker blocked this sink's publishes so far."""
        ...


@runtime_checkable
class Batching(Protocol):
    """A sink that sends several items per message (RabbitMQ, decision 0013), bounded by ``outputs.batching``."""

    messages: int
    """Messages sent since the worker started (a batch counts once)."""
    items: int
    """Items those messages carried: ``items / messages`` is the mean batch size (the operator turns a queue's depth
    in messages into items with it)."""

    def configure_batching(self, max_items: int, max_bytes: int) -> None:
        """At most ``max_items`` items (1: one message per item) and ``max_bytes`` of body per message."""
        ...


class DeadLetters(Protocol):
    """The swarm's dead-letter queue (opt-in ``deadLetter``): items a role failed to process, with the reason.

    ``publish`` declares the queue (bounded by ``max_length``, expiring after ``ttl_seconds``) when it
    has not yet, then hands the item over; the runtime calls it from a background task only, never
    from a work loop.
    """

    async def publish(self, body: bytes, headers: dict[str, str], *, max_length: int, ttl_seconds: int) -> None: ...


@dataclass(frozen=True)
class ControlMessage:
    """One message of a control queue: its body (an envelope's JSON) and, on a signal its operator signed, the
    signature of that body (the AMQP header ``protocol.signing.SIGNATURE_HEADER``, beside the envelope)."""

    body: bytes
    signature: str | None = None


ControlHandler = Callable[[ControlMessage], Awaitable[None]]


class ControlBus(Protocol):
    """The control-plane topic exchange: signals in, outcomes/metrics/alerts out."""

    async def listen(self, queue: str, bindings: list[str], handler: ControlHandler) -> None: ...

    async def publish(self, routing_key: str, body: bytes) -> None: ...

    async def close(self) -> None: ...


class Transports(Protocol):
    """Builds the I/O edges for a worker (memory for ``hivekeeper run``, RabbitMQ in a cluster)."""

    @property
    def control(self) -> ControlBus: ...

    def source(self, identity: Identity, prefetch: int) -> WorkSource: ...

    def sink(self, identity: Identity) -> WorkSink: ...

    def dead_letters(self, identity: Identity) -> DeadLetters:
        """The swarm's dead-letter queue (asked for only when a config enables ``deadLetter``)."""
        ...

    async def queue_depth(self, queue: str) -> int:
        """Items ready in the work queue named ``queue`` now (the buffer guard's reading); raises when the
        broker cannot say (the queue does not exist, the connection is down)."""
        ...


class StoreUnavailable(Unavailable, ConnectionError):
    """The data store (Redis) cannot be reached or did not answer within its timeout; the message names the
    server (never its password) and the cause. Items that needed it are dropped with a ``redis.unavailable``
    alert; datasets and pushes report ``upstream-error`` / ``downstream-error`` and retry.

    ``sent``: the command reached the connection before it broke, so Redis may have run it (a pop may have
    taken an element, a push may have added one) although no answer came: the datasets' books count those as
    uncertain. False when no connection could be made (the command certainly did not run)."""

    def __init__(self, message: str, *, sent: bool) -> None:
        super().__init__(message)
        self.sent = sent


class DataStore(Protocol):
    """The few Redis commands workers use: datasets (LPOP), pushes (LPUSH/RPUSH + LTRIM), debug
    captures (SETEX), ``sequence()`` counters (INCR). Redis in a cluster, :class:`MemoryStore` locally."""

    async def incr(self, key: str) -> int: ...

    async def lpop(self, key: str) -> bytes | None: ...

    async def push(self, key: str, value: bytes, *, left: bool = False, max_len: int = 0) -> int:
        """LPUSH (``left``) or RPUSH; with ``max_len`` > 0 the list is trimmed to its first ``max_len``
        elements afterwards. Returns the list length after the push (before trimming)."""
        ...

    async def llen(self, key: str) -> int: ...

    async def setex(self, key: str, ttl_seconds: int, value: bytes) -> None: ...

    async def setex_many(self, entries: list[tuple[str, bytes]], ttl_seconds: int) -> None:
        """SETEX every ``(key, value)`` with one TTL, in one round trip."""
        ...

    async def get(self, key: str) -> bytes | None: ...

    async def ttl(self, key: str) -> int:
        """Seconds left (-1 no expiry, -2 missing), like Redis TTL."""
        ...

    async def keys(self, prefix: str, limit: int = 1000) -> list[str]:
        """Up to ``limit`` keys starting with ``prefix`` (SCAN, never KEYS)."""
        ...

    async def close(self) -> None: ...
