"""In-memory twins for one process: of RabbitMQ (topic exchanges, bounded queues, the control bus)
and of Redis (:class:`MemoryStore`).

``hivekeeper run`` wires every role of a swarm through one :class:`MemoryBroker`; unit tests use it
too. Queues are bounded, so a slow stage blocks its producers (the backlog stays visible as queue
depth, like a broker's, instead of growing without limit in memory).
"""

from __future__ import annotations

import asyncio
import collections
import re
import time
from collections import defaultdict
from collections.abc import Callable
from functools import lru_cache

from hivekeeper.worker.ports import ControlHandler, ControlMessage

DEFAULT_QUEUE_LIMIT = 10_000


@lru_cache(maxsize=1024)
def _pattern(binding: str) -> re.Pattern[str]:
    parts = []
    for word in binding.split("."):
        parts.append({"*": r"[^.]+", "#": r".*"}.get(word, re.escape(word)))
    return re.compile("^" + r"\.".join(parts).replace(r"\..*", r"(\..*)?") + "$")


def topic_matches(binding: str, routing_key: str) -> bool:
    """AMQP topic matching: ``*`` is one word, ``#`` is zero or more words."""
    return bool(_pattern(binding).match(routing_key))


class MemoryQueue:
    def __init__(self, name: str, limit: int) -> None:
        self.name = name
        self.queue: asyncio.Queue[bytes] = asyncio.Queue(maxsize=limit)
        self.consumers = 0

    @property
    def depth(self) -> int:
        return self.queue.qsize()


class MemoryBroker:
    def __init__(self, queue_limit: int = DEFAULT_QUEUE_LIMIT) -> None:
        self.queue_limit = queue_limit
        self.queues: dict[str, MemoryQueue] = {}
        self._bindings: dict[str, list[tuple[str, str]]] = defaultdict(list)

    def declare_queue(self, name: str, limit: int | None = None) -> MemoryQueue:
        if name not in self.queues:
            self.queues[name] = MemoryQueue(name, self.queue_limit if limit is None else limit)
        return self.queues[name]

    def bind(self, exchange: str, queue: str, binding: str) -> None:
        if (binding, queue) not in self._bindings[exchange]:
            self._bindings[exchange].append((binding, queue))

    def route(self, exchange: str, routing_key: str) -> list[MemoryQueue]:
        names = {q for b, q in self._bindings.get(exchange, []) if b == routing_key or topic_matches(b, routing_key)}
        return [self.queues[name] for name in sorted(names)]

    async def publish(self, exchange: str, routing_key: str, body: bytes) -> int:
        """Put ``body`` on every bound queue (waiting while one is full); return how many got it."""
        targets = self.route(exchange, routing_key)
        for queue in targets:
            await queue.queue.put(body)
        return len(targets)


class MemoryControlBus:
    """The control topic exchange in memory; handlers run in their own task per queue."""

    def __init__(self, broker: MemoryBroker, exchange: str) -> None:
        self._broker = broker
        self._exchange = exchange
        self._tasks: list[asyncio.Task[None]] = []

    async def listen(self, queue: str, bindings: list[str], handler: ControlHandler) -> None:
        q = self._broker.declare_queue(queue, limit=0)
        for binding in bindings:
            self._broker.bind(self._exchange, queue, binding)

        async def pump() -> None:
            while True:
                body = await q.queue.get()
                await handler(ControlMessage(body))  # in memory, signals come from the local controller: unsigned

        self._tasks.append(asyncio.create_task(pump(), name=f"control:{queue}"))

    async def publish(self, routing_key: str, body: bytes) -> None:
        await self._broker.publish(self._exchange, routing_key, body)

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()


class MemoryStore:
    """The in-process twin of :class:`~hivekeeper.worker.transports.redis.store.RedisStore` for ``hivekeeper run``:
    every swarm of one run shares it, as swarms in a cluster share one Redis. TTLs are honoured on read."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._lists: dict[str, collections.deque[bytes]] = {}
        self._values: dict[str, tuple[bytes, float | None]] = {}
        self._counters: dict[str, int] = {}
        self._clock = clock

    async def incr(self, key: str) -> int:
        value = self._counters.get(key, 0) + 1
        self._counters[key] = value
        return value

    async def lpop(self, key: str) -> bytes | None:
        found = self._lists.get(key)
        return found.popleft() if found else None

    async def push(self, key: str, value: bytes, *, left: bool = False, max_len: int = 0) -> int:
        found = self._lists.setdefault(key, collections.deque())
        if left:
            found.appendleft(value)
        else:
            found.append(value)
        length = len(found)
        while max_len > 0 and len(found) > max_len:
            found.pop()  # LTRIM 0..max_len-1 keeps the head
        return length

    async def llen(self, key: str) -> int:
        return len(self._lists.get(key) or ())

    def _live(self, key: str) -> tuple[bytes, float | None] | None:
        entry = self._values.get(key)
        if entry is not None and entry[1] is not None and entry[1] <= self._clock():
            del self._values[key]
            return None
        return entry

    async def setex(self, key: str, ttl_seconds: int, value: bytes) -> None:
        self._values[key] = (value, self._clock() + ttl_seconds)

    async def setex_many(self, entries: list[tuple[str, bytes]], ttl_seconds: int) -> None:
        expires = self._clock() + ttl_seconds
        for key, value in entries:
            self._values[key] = (value, expires)

    async def get(self, key: str) -> bytes | None:
        entry = self._live(key)
        return entry[0] if entry else None

    async def ttl(self, key: str) -> int:
        entry = self._live(key)
        if entry is None:
            return -2
        return -1 if entry[1] is None else max(0, round(entry[1] - self._clock()))

    async def keys(self, prefix: str, limit: int = 1000) -> list[str]:
        names = [k for k in list(self._values) if k.startswith(prefix) and self._live(k) is not None]
        names += [k for k, v in self._lists.items() if k.startswith(prefix) and v]
        return names[:limit]

    async def close(self) -> None:
        return None
