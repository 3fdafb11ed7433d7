"""The RabbitMQ control plane on aio-pika, and the aio-pika connections it (and tooling) opens.

The control plane uses aio-pika's robust connection (it reconnects and re-declares by itself); the
work plane, which carries every item, uses the lean client in ``transports.rabbit.amqp`` on its own
connection (decision 0003), opened by ``transports.rabbit.link``. Declarations are idempotent: the
operator declares the same topology, and a worker run with ``hivekeeper run --broker`` declares it
itself.

Both connections read the broker URL through ``transports.rabbit.amqp.url``: one meaning of its
options (heartbeat, timeouts, TLS, auth, name, max_message_size) on both, unknown options refused.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

import aio_pika
from aio_pika.abc import (
    AbstractChannel,
    AbstractExchange,
    AbstractIncomingMessage,
    AbstractQueue,
    AbstractRobustConnection,
)

from hivekeeper.errors import Unavailable
from hivekeeper.protocol import naming
from hivekeeper.protocol.signing import SIGNATURE_HEADER
from hivekeeper.worker.ports import ControlHandler, ControlMessage
from hivekeeper.worker.transports.rabbit.amqp.url import BrokerUrl, parse


async def connect(url: str | BrokerUrl) -> AbstractRobustConnection:
    """A robust connection; the URL carries credentials, so it is never logged."""
    broker = parse(url) if isinstance(url, str) else url
    return await aio_pika.connect_robust(
        broker.aio_pika_url(),
        client_properties={"connection_name": broker.name or "hivekeeper-worker"},
        timeout=broker.connection_timeout,
        ssl_context=broker.ssl_context(),
    )


def watch(connection: AbstractRobustConnection, lost: Callable[[], None], restored: Callable[[], None]) -> None:
    """Call ``lost`` each time the robust connection drops (a failed restore too) and ``restored`` once it is
    back with its channels and consumers (aio-pika's close and reconnect callbacks; both run on the loop)."""

    def on_close(_connection: object, _reason: BaseException | None = None) -> None:
        lost()

    def on_reconnect(_connection: object) -> None:
        restored()

    connection.close_callbacks.add(on_close)
    connection.reconnect_callbacks.add(on_reconnect)


async def connect_plain(url: str | BrokerUrl, name: str) -> aio_pika.abc.AbstractConnection:
    """A plain (not robust) aio-pika connection with the URL's options, named ``name`` unless the URL names it."""
    broker = parse(url) if isinstance(url, str) else url
    return await aio_pika.connect(
        broker.aio_pika_url(),
        client_properties={"connection_name": broker.name or name},
        timeout=broker.connection_timeout,
        ssl_context=broker.ssl_context(),
    )


async def declare_work_queue(channel: AbstractChannel, exchange_name: str, queue: str) -> AbstractQueue:
    """Declare ``queue`` and bind it, by its own name, to the work exchange ``exchange_name`` (declared too)."""
    exchange = await channel.declare_exchange(exchange_name, aio_pika.ExchangeType.TOPIC, durable=True)
    declared = await channel.declare_queue(queue, durable=True)
    await declared.bind(exchange, routing_key=queue)
    return declared


PUBLISH_WAIT = 30.0
"""Seconds a control message waits for a restored channel (a broker restart takes ~5-20 s to come back)."""
PUBLISH_RETRY = 0.25


class ControlUnavailable(Unavailable):
    """A control message could not be published: the broker did not come back in time."""


class RabbitControlBus:
    def __init__(self, connection: AbstractRobustConnection, exchange: str = naming.CONTROL_EXCHANGE) -> None:
        self._connection = connection
        self.exchange = exchange
        self._channel: AbstractChannel | None = None
        self._exchange: AbstractExchange | None = None

    async def _ready(self) -> AbstractExchange:
        if self._exchange is None:
            self._channel = await self._connection.channel()
            self._exchange = await self._channel.declare_exchange(
                self.exchange, aio_pika.ExchangeType.TOPIC, durable=True
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
                signature = (message.headers or {}).get(SIGNATURE_HEADER)
                await handler(ControlMessage(message.body, signature if isinstance(signature, str) else None))

        await declared.consume(on_message)

    async def publish(self, routing_key: str, body: bytes) -> None:
        """Publish one control message. While the robust connection is restoring its channel (a broker restart),
        retry for up to :data:`PUBLISH_WAIT` seconds; past that, :class:`ControlUnavailable` says so."""
        deadline = asyncio.get_running_loop().time() + PUBLISH_WAIT
        while True:
            try:
                exchange = await self._ready()
                await exchange.publish(aio_pika.Message(body, content_type="application/json"), routing_key=routing_key)
                return
            except (aio_pika.exceptions.ChannelInvalidStateError, aio_pika.exceptions.AMQPConnectionError) as exc:
                if asyncio.get_running_loop().time() >= deadline:
                    raise ControlUnavailable(
                        f"cannot publish {routing_key} on the control exchange: the broker connection did not come "
                        f"back within {PUBLISH_WAIT:g} s ({type(exc).__name__})"
                    ) from exc
                await asyncio.sleep(PUBLISH_RETRY)

    async def close(self) -> None:
        if self._channel is not None:
            with contextlib.suppress(Exception):
                await self._channel.close()
