"""Queue depths and consumer counts from RabbitMQ, read with passive declares on one reused channel.

Each roll-up asks for the queues of its object: a Swarm for all of its queues, each WorkerRole for its own, so one
queue is asked about up to three times per 2 s tick, and 100 swarms ask ~150 times a second. Opening a channel per
question cost three round trips each; here one channel is kept (a passive declare of a missing queue closes it,
and the next question opens another), and an answer younger than ``FRESH_SECONDS`` is given again without asking.
Questions go one at a time (a lock): concurrent RPCs on one channel time out under load, and a 404 closes the
channel for every question on it. Any other failure drops the connection, so the next question starts afresh.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractConnection

from hivekeeper.api.status import QueueStatus

FRESH_SECONDS = 1.0
"""How long one answer about a queue is given again (below the 2 s roll-up period: every tick reads anew)."""
MAX_REMEMBERED = 10_000
"""Queues whose last answer is kept at most."""


class QueueStats:
    """``queue_stats`` of :class:`~hivekeeper.operator.effects.AmqpBroker` (see the module docstring)."""

    def __init__(
        self, connect: Callable[[], Awaitable[AbstractConnection]], clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._connect = connect
        self._clock = clock
        self._connection: AbstractConnection | None = None
        self._channel: AbstractChannel | None = None
        self._answers: dict[str, tuple[float, QueueStatus | None]] = {}
        self._lock = asyncio.Lock()

    async def _open(self) -> AbstractChannel:
        if self._connection is None or self._connection.is_closed:
            self._connection = await self._connect()
            self._channel = None
        if self._channel is None or self._channel.is_closed:
            self._channel = await self._connection.channel()
        return self._channel

    async def _ask(self, name: str) -> QueueStatus | None:
        channel = await self._open()
        try:
            declared = await channel.declare_queue(name, passive=True)
        except aio_pika.exceptions.ChannelNotFoundEntity:
            return None  # not declared (yet): the role's reconcile will declare it
        except BaseException:
            connection, self._connection, self._channel = self._connection, None, None
            if connection is not None:
                asyncio.get_running_loop().create_task(connection.close())
            raise
        result = declared.declaration_result
        depth, consumers = int(result.message_count or 0), int(result.consumer_count or 0)
        return QueueStatus(name=name, depth=depth, messages=depth, consumers=consumers)

    async def stats(self, names: list[str]) -> list[QueueStatus]:
        """Each of ``names`` that exists (a missing queue is left out)."""
        async with self._lock:
            return await self._stats(names)

    async def _stats(self, names: list[str]) -> list[QueueStatus]:
        now = self._clock()
        out = []
        for name in names:
            held = self._answers.get(name)
            if held is not None and now - held[0] < FRESH_SECONDS:
                answer = held[1]
            else:
                answer = await self._ask(name)
                if len(self._answers) >= MAX_REMEMBERED:
                    self._answers.clear()
                self._answers[name] = (now, answer)
            if answer is not None:
                out.append(answer)
        return out

    async def close(self) -> None:
        if self._connection is not None:
            await self._connection.close()
