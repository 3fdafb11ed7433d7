"""A worker's I/O edges on RabbitMQ (:class:`~hivekeeper.worker.ports.Transports`): aio-pika for the
(quiet) control plane, the lean client for work.

Consuming: manual acks, prefetch bounds what is in flight (``inputs.rabbit``). Publishing:
persistent, ``mandatory``, publisher confirms, so ``publish`` returns only when the broker has the
item (``outputs.rabbit``). Both use the worker's one work-plane connection (``transports.rabbit.link``).
"""

from __future__ import annotations

import contextlib

from aio_pika.abc import AbstractRobustConnection

from hivekeeper.protocol import naming
from hivekeeper.worker.identity import Identity
from hivekeeper.worker.inputs.rabbit import RabbitSource
from hivekeeper.worker.outputs.rabbit import RabbitDeadLetters, RabbitSink
from hivekeeper.worker.transports.rabbit.amqp.url import BrokerUrl
from hivekeeper.worker.transports.rabbit.control import RabbitControlBus
from hivekeeper.worker.transports.rabbit.link import WorkLink
from hivekeeper.worker.wiring_errors import no_work_in, no_work_out


class RabbitTransports:
    """What a worker needs from RabbitMQ: aio-pika for the (quiet) control plane, the lean client for work."""

    def __init__(
        self,
        connection: AbstractRobustConnection,
        swarm: str,
        url: str | BrokerUrl,
        exchanges: naming.Exchanges = naming.DEFAULT_EXCHANGES,
    ) -> None:
        self.connection = connection
        self.swarm = swarm
        self._control = RabbitControlBus(connection, exchanges.control)
        self.link = WorkLink(url, swarm, exchange=exchanges.work_exchange(swarm))
        self._dead_letters: RabbitDeadLetters | None = None

    @property
    def control(self) -> RabbitControlBus:
        return self._control

    def source(self, identity: Identity, prefetch: int) -> RabbitSource:
        if identity.work_in is None:
            raise no_work_in(identity.role)
        return RabbitSource(self.link, identity.work_in, prefetch)

    def sink(self, identity: Identity) -> RabbitSink:
        if identity.work_out is None:
            raise no_work_out(identity.role)
        return RabbitSink(self.link, identity.work_out)

    def dead_letters(self, identity: Identity) -> RabbitDeadLetters:
        if self._dead_letters is None:  # one per swarm: every worker on these transports shares it
            self._dead_letters = RabbitDeadLetters(self.link)
        return self._dead_letters

    async def queue_depth(self, queue: str) -> int:
        return await self.link.depth(queue)

    async def close(self) -> None:
        await self._control.close()
        await self.link.close()
        with contextlib.suppress(Exception):
            await self.connection.close()
