"""The items a RabbitMQ output holds for its next message (decision 0013): pure, no I/O.

The output (``outputs.rabbit.RabbitSink``) adds the bodies passed to ``publish`` in one event-loop turn here and
sends what it holds as one message at the end of the turn, or earlier when the next item would not fit. Each item
comes with its waiter (whatever the output resolves when the message is confirmed); an item larger than the byte
bound alone is not held at all (it goes out alone, as before batches).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

from hivekeeper.protocol.batch import MAX_ITEMS

T = TypeVar("T")

LENGTH_PREFIX = 4
"""Bytes each item adds to a batch besides its own (``protocol.batch``: a 4-byte length)."""


@dataclass(frozen=True)
class BatchLimits:
    """How large one batch message may grow: ``max_items`` items (1 = no batches) and ``max_bytes`` of body."""

    max_items: int = 128
    max_bytes: int = 256 * 1024

    def __post_init__(self) -> None:
        if not 1 <= self.max_items <= MAX_ITEMS:
            raise ValueError(f"max_items is {self.max_items}: it must be 1 to {MAX_ITEMS}")
        if self.max_bytes < 1:
            raise ValueError(f"max_bytes is {self.max_bytes}: it must be positive")


NO_BATCHES = BatchLimits(max_items=1)


class Pending(Generic[T]):
    """The bodies (and their waiters) held for the next message, within ``max_items`` and ``max_bytes``."""

    __slots__ = ("bodies", "max_bytes", "max_items", "size", "waiters")

    def __init__(self, limits: BatchLimits) -> None:
        self.bodies: list[bytes] = []
        self.waiters: list[T] = []
        self.size = 0
        """The body of a batch of what is held: every item plus its length prefix (``batch.encoded_size``)."""
        self.max_items = limits.max_items
        self.max_bytes = limits.max_bytes

    def limit(self, limits: BatchLimits, max_bytes: int | None = None) -> None:
        """New bounds (a config change, or ``max_bytes``: the broker's own limit when that is lower)."""
        self.max_items = limits.max_items
        self.max_bytes = limits.max_bytes if max_bytes is None else min(limits.max_bytes, max_bytes)

    def alone(self, body: bytes) -> bool:
        """True when ``body`` goes out as a message of its own: batches are off, or it would not fit in one."""
        return self.max_items <= 1 or len(body) + LENGTH_PREFIX > self.max_bytes

    def room(self, body: bytes) -> bool:
        """True when ``body`` fits in the batch held now."""
        return len(self.bodies) < self.max_items and self.size + len(body) + LENGTH_PREFIX <= self.max_bytes

    def add(self, body: bytes, waiter: T) -> bool:
        """Hold ``body`` (call :meth:`room` first); True when the batch is full now and should go at once."""
        self.bodies.append(body)
        self.waiters.append(waiter)
        self.size += len(body) + LENGTH_PREFIX
        return len(self.bodies) >= self.max_items or self.size + LENGTH_PREFIX >= self.max_bytes

    def take(self) -> tuple[list[bytes], list[T]]:
        """Everything held (in the order added), leaving nothing."""
        bodies, waiters = self.bodies, self.waiters
        self.bodies, self.waiters, self.size = [], [], 0
        return bodies, waiters
