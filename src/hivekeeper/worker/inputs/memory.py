"""The in-memory work input: one queue of a :class:`~hivekeeper.worker.transports.memory.MemoryBroker`
(``hivekeeper run`` without a broker, and tests)."""

from __future__ import annotations

import asyncio

from hivekeeper.worker.ports import Delivery
from hivekeeper.worker.transports.memory import MemoryQueue

YIELD_EVERY = 32
"""Deliveries between two turns given to the event loop (a RabbitMQ input suspends on its own: a socket read)."""


class MemorySource:
    """A worker input reading one memory queue."""

    def __init__(self, queue: MemoryQueue) -> None:
        self._queue = queue
        self._seq = 0
        self._queue.consumers += 1

    async def get(self) -> Delivery:
        if self._seq % YIELD_EVERY == YIELD_EVERY - 1:
            # A get from a non-empty asyncio.Queue does not suspend, nor does a put into one with room: without this,
            # one work loop of a role that does no I/O ran through its whole input in one go, while the other loops,
            # the status reports, the control signals and the buffer guard's reads waited.
            await asyncio.sleep(0)
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
