"""The in-memory work output and dead-letter queue (``hivekeeper run`` without a broker, and tests)."""

from __future__ import annotations

import collections
import time
from collections.abc import Callable

from hivekeeper.worker.transports.memory import MemoryBroker


class MemorySink:
    """A worker output publishing to one routing key of a memory exchange."""

    def __init__(self, broker: MemoryBroker, exchange: str, routing_key: str) -> None:
        self._broker = broker
        self._exchange = exchange
        self._routing_key = routing_key
        self._blocked = False

    async def publish(self, body: bytes) -> None:
        self._blocked = True
        try:
            await self._broker.publish(self._exchange, self._routing_key, body)
        finally:
            self._blocked = False

    def state(self) -> str:
        return "blocked" if self._blocked else "ok"

    async def close(self) -> None:
        return None


class MemoryDeadLetters:
    """The swarm's dead-letter queue in memory: bounded (the oldest go first) and expiring, like the broker's."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._items: collections.deque[tuple[float, bytes, dict[str, str]]] = collections.deque()

    async def publish(self, body: bytes, headers: dict[str, str], *, max_length: int, ttl_seconds: int) -> None:
        if self._items.maxlen != max_length:
            self._items = collections.deque(self._items, maxlen=max_length)
        self._items.append((self._clock() + ttl_seconds, body, headers))  # a full deque drops its head

    def items(self) -> list[tuple[bytes, dict[str, str]]]:
        """What the queue holds now, oldest first (expired items are dropped)."""
        now = self._clock()
        live = [entry for entry in self._items if entry[0] > now]
        if len(live) != len(self._items):
            self._items = collections.deque(live, maxlen=self._items.maxlen)
        return [(body, headers) for _, body, headers in live]

    def count(self) -> int:
        return len(self.items())
