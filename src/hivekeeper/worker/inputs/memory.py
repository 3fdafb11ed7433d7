"""The in-memory work input: one queue of a :class:`~hivekeeper.worker.transports.memory.MemoryBroker`
(``hivekeeper run`` without a broker, and tests)."""

from __future__ import annotations

from hivekeeper.worker.ports import Delivery
from hivekeeper.worker.transports.memory import MemoryQueue


class MemorySource:
    """A worker input reading one memory queue."""

    def __init__(self, queue: MemoryQueue) -> None:
        self._queue = queue
        self._seq = 0
        self._queue.consumers += 1

    async def get(self) -> Delivery:
        body = await self._queue.queue.get()
        self._seq += 1
        return Delivery(body, self._seq)

    def buffered(self) -> int:
        return 0

    async def pause(self) -> None:
        return None

    async def resume(self) -> None:
        return None

    def state(self) -> str:
        return "ok"

    async def close(self) -> None:
        self._queue.consumers = max(0, self._queue.consumers - 1)
