"""The work plane's connection on the lean AMQP client (decision 0003), reopened with backoff.

The input (``inputs.rabbit``: manual acks, prefetch), the output (``outputs.rabbit``: persistent,
``mandatory``, publisher confirms) and the dead letters (``outputs.rabbit``) each use a channel of it;
``transports.rabbit.transports`` builds them. The control plane stays on aio-pika
(``transports.rabbit.control``).
"""

from __future__ import annotations

import asyncio
import logging

from hivekeeper.protocol import naming
from hivekeeper.worker.transports.rabbit.amqp.connection import (
    BLOCKED_TIMEOUT,
    CONFIRM_TIMEOUT,
    AmqpConnection,
    AmqpError,
    Channel,
)
from hivekeeper.worker.transports.rabbit.amqp.url import BrokerUrl, parse

log = logging.getLogger("hivekeeper.worker.rabbit")


class WorkLink:
    """The worker's work-plane connection (lean AMQP client), reopened with backoff when it drops."""

    BACKOFF = (0.2, 0.5, 1.0, 2.0, 5.0)

    def __init__(
        self,
        url: str | BrokerUrl,
        swarm: str,
        *,
        exchange: str | None = None,
        confirm_timeout: float = CONFIRM_TIMEOUT,
        blocked_timeout: float = BLOCKED_TIMEOUT,
    ) -> None:
        self.broker = parse(url) if isinstance(url, str) else url
        self.swarm = swarm
        self.exchange = exchange or naming.work_exchange(swarm)
        """The swarm's work exchange (``naming.Exchanges``); items go there, routed by queue name."""
        self.confirm_timeout = confirm_timeout
        self.blocked_timeout = blocked_timeout
        self._connection: AmqpConnection | None = None
        self._lock = asyncio.Lock()
        self.reconnects = 0
        self._past_blocks = 0
        self._depth_channel: Channel | None = None
        """The channel of the buffer guard's passive declares (a 404 closes it: opened again on the next read)."""

    @property
    def blocked(self) -> bool:
        """True while the broker blocks this worker's publishes (a memory or disk alarm)."""
        current = self._connection
        return current is not None and current.blocked is not None and not current.lost.done()

    @property
    def blocks(self) -> int:
        """How many times the broker blocked this worker's publishes, over every connection so far."""
        current = self._connection
        return self._past_blocks + (current.blocks if current is not None else 0)

    async def connection(self) -> AmqpConnection:
        current = self._connection
        if current is not None and not current.lost.done():
            return current
        async with self._lock:
            if self._connection is not None and not self._connection.lost.done():
                return self._connection
            if self._connection is not None:
                self._past_blocks += self._connection.blocks
                self._connection = None
            attempt = 0
            while True:
                try:
                    self._connection = await AmqpConnection.open(
                        self.broker, confirm_timeout=self.confirm_timeout, blocked_timeout=self.blocked_timeout
                    )
                    break
                except (OSError, AmqpError, TimeoutError) as exc:
                    delay = self.BACKOFF[min(attempt, len(self.BACKOFF) - 1)]
                    if attempt == 0 or attempt % 10 == 0:
                        log.warning(
                            "work-plane connection failed (%s); retrying every %.1fs", type(exc).__name__, delay
                        )
                    attempt += 1
                    await asyncio.sleep(delay)
            if current is not None:
                self.reconnects += 1
            return self._connection

    async def declare(self, channel: Channel, queue: str) -> None:
        await channel.exchange_declare(self.exchange)
        await channel.queue_declare(queue)
        await channel.queue_bind(queue, self.exchange, queue)

    async def depth(self, queue: str) -> int:
        """Messages ready in ``queue`` (a passive declare: it never creates the queue); raises ``AmqpError``
        when the queue does not exist or the connection is lost."""
        channel = self._depth_channel
        if channel is None or not channel.is_open() or channel.connection.lost.done():
            channel = self._depth_channel = await (await self.connection()).channel()
        return await channel.queue_declare(queue, passive=True)

    async def close(self) -> None:
        if self._connection is not None:
            await self._connection.close()
