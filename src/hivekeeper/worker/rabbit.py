"""RabbitMQ transports for workers: control bus, work input (manual acks) and output (confirms).

The control plane uses aio-pika's robust connection (it reconnects and re-declares by itself); the
work plane, which carries every item, uses the lean client in ``worker.amqp`` on its own connection
(decision 0003), reopened by :class:`WorkLink` (``worker.rabbit_work``). Consuming: manual acks,
prefetch bounds what is in flight. Publishing: persistent, ``mandatory``, publisher confirms, so
``publish`` returns only when the broker has the item. Declarations are idempotent: the operator
declares the same topology, and a worker run with ``hivekeeper run --broker`` declares it itself.

Both connections read the broker URL through ``worker.amqp.url``: one meaning of its options
(heartbeat, timeouts, TLS, auth, name, max_message_size) on both, unknown options refused.
"""

from __future__ import annotations

import contextlib

import aio_pika
from aio_pika.abc import (
    AbstractChannel,
    AbstractExchange,
    AbstractIncomingMessage,
    AbstractQueue,
    AbstractRobustConnection,
)

from hivekeeper.protocol import naming
from hivekeeper.worker.amqp.url import BrokerUrl, parse
from hivekeeper.worker.ports import ControlHandler
from hivekeeper.worker.rabbit_work import RabbitDeadLetters, RabbitSink, RabbitSource, WorkLink
from hivekeeper.worker.runtime import Identity

__all__ = [
    "RabbitControlBus",
    "RabbitDeadLetters",
    "RabbitSink",
    "RabbitSource",
    "RabbitTransports",
    "WorkLink",
    "connect",
    "connect_plain",
    "declare_work_queue",
]


async def connect(url: str | BrokerUrl) -> AbstractRobustConnection:
    """A robust connection; the URL carries credentials, so it is never logged."""
    broker = parse(url) if isinstance(url, str) else url
    return await aio_pika.connect_robust(
        broker.aio_pika_url(),
        client_properties={"connection_name": broker.name or "hivekeeper-worker"},
        timeout=broker.connection_timeout,
        ssl_context=broker.ssl_context(),
    )


async def connect_plain(url: str | BrokerUrl, name: str) -> aio_pika.abc.AbstractConnection:
    """A plain (not robust) aio-pika connection with the URL's options, named ``name`` unless the URL names it."""
    broker = parse(url) if isinstance(url, str) else url
    return await aio_pika.connect(
        broker.aio_pika_url(),
        client_properties={"connection_name": broker.name or name},
        timeout=broker.connection_timeout,
        ssl_context=broker.ssl_context(),
    )


async def declare_work_queue(channel: AbstractChannel, swarm: str, queue: str) -> AbstractQueue:
    exchange = await channel.declare_exchange(naming.work_exchange(swarm), aio_pika.ExchangeType.TOPIC, durable=True)
    declared = await channel.declare_queue(queue, durable=True)
    await declared.bind(exchange, routing_key=queue)
    return declared


class RabbitControlBus:
    def __init__(self, connection: AbstractRobustConnection) -> None:
        self._connection = connection
        self._channel: AbstractChannel | None = None
        self._exchange: AbstractExchange | None = None

    async def _ready(self) -> AbstractExchange:
        if self._exchange is None:
            self._channel = await self._connection.channel()
            self._exchange = await self._channel.declare_exchange(
                naming.CONTROL_EXCHANGE, aio_pika.ExchangeType.TOPIC, durable=True
            )
        return self._exchange

    async def listen(self, queue: str, bindings: list[str], handler: ControlHandler) -> None:
        exchange = await self._ready()
        assert self._channel is not None
        declared = await self._channel.declare_queue(queue, exclusive=True, auto_delete=True)
        for binding in bindings:
            await declared.bind(exchange, routing_key=binding)

        async def on_message(message: AbstractIncomingMessage) -> None:
            async with message.process(ignore_processed=True):
                await handler(message.body)

        await declared.consume(on_message)

    async def publish(self, routing_key: str, body: bytes) -> None:
        exchange = await self._ready()
        await exchange.publish(aio_pika.Message(body, content_type="application/json"), routing_key=routing_key)

    async def close(self) -> None:
        if self._channel is not None:
            with contextlib.suppress(Exception):
                await self._channel.close()


class RabbitTransports:
    """What a worker needs from RabbitMQ: aio-pika for the (quiet) control plane, the lean client for work."""

    def __init__(self, connection: AbstractRobustConnection, swarm: str, url: str | BrokerUrl) -> None:
        self.connection = connection
        self.swarm = swarm
        self._control = RabbitControlBus(connection)
        self.link = WorkLink(url, swarm)
        self._dead_letters: RabbitDeadLetters | None = None

    @property
    def control(self) -> RabbitControlBus:
        return self._control

    def source(self, identity: Identity, prefetch: int) -> RabbitSource:
        assert identity.work_in is not None, f"role {identity.role} has no work.in queue"
        return RabbitSource(self.link, identity.work_in, prefetch)

    def sink(self, identity: Identity) -> RabbitSink:
        assert identity.work_out is not None, f"role {identity.role} has no work.out queue"
        return RabbitSink(self.link, identity.work_out)

    def dead_letters(self, identity: Identity) -> RabbitDeadLetters:
        if self._dead_letters is None:  # one per swarm: every worker on these transports shares it
            self._dead_letters = RabbitDeadLetters(self.link)
        return self._dead_letters

    async def close(self) -> None:
        await self._control.close()
        await self.link.close()
        with contextlib.suppress(Exception):
            await self.connection.close()
