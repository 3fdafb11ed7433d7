"""The transports ``hivekeeper run`` gives every worker of a local swarm: memory, or a real RabbitMQ."""

from __future__ import annotations

import contextlib

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractConnection, AbstractRobustConnection

from hivekeeper.errors import Unavailable
from hivekeeper.protocol import naming
from hivekeeper.worker.identity import Identity
from hivekeeper.worker.inputs.memory import MemorySource
from hivekeeper.worker.outputs.memory import MemoryDeadLetters, MemorySink
from hivekeeper.worker.ports import ControlBus, DeadLetters, WorkSink, WorkSource
from hivekeeper.worker.transports.memory import MemoryBroker, MemoryControlBus
from hivekeeper.worker.transports.rabbit import control as rabbit_control
from hivekeeper.worker.transports.rabbit.amqp.url import BrokerUrl
from hivekeeper.worker.transports.rabbit.amqp.url import parse as parse_broker_url
from hivekeeper.worker.transports.rabbit.transports import RabbitTransports
from hivekeeper.worker.wiring_errors import no_work_in, no_work_out


class BrokerUnavailable(Unavailable, ConnectionError):
    """The run's broker cannot be reached right now (restarting, say); the workers reconnect by themselves."""


class MemoryTransports:
    def __init__(
        self, broker: MemoryBroker, swarm: str, exchanges: naming.Exchanges = naming.DEFAULT_EXCHANGES
    ) -> None:
        self.broker = broker
        self.swarm = swarm
        self.work_exchange = exchanges.work_exchange(swarm)
        self._control = MemoryControlBus(broker, exchanges.control)
        self.held_dead_letters = MemoryDeadLetters()

    @property
    def control(self) -> ControlBus:
        return self._control

    def declare_work_queue(self, alias: str) -> str:
        name = naming.work_queue(self.swarm, alias)
        self.broker.declare_queue(name)
        self.broker.bind(self.work_exchange, name, naming.work_routing_key(self.swarm, alias))
        return name

    async def declare(self, alias: str) -> str:
        return self.declare_work_queue(alias)

    async def depths(self, queues: list[str]) -> dict[str, int]:
        return {name: self.broker.queues[name].depth for name in queues if name in self.broker.queues}

    def source(self, identity: Identity, prefetch: int) -> WorkSource:
        if identity.work_in is None:
            raise no_work_in(identity.role)
        return MemorySource(self.broker.declare_queue(identity.work_in))

    def sink(self, identity: Identity) -> WorkSink:
        if identity.work_out is None:
            raise no_work_out(identity.role)
        return MemorySink(self.broker, self.work_exchange, identity.work_out)

    def dead_letters(self, identity: Identity) -> DeadLetters:
        return self.held_dead_letters

    async def queue_depth(self, queue: str) -> int:
        found = self.broker.queues.get(queue)
        if found is None:
            raise KeyError(f"no queue {queue} in this run (bufferGuard.queue names a work alias of the swarm)")
        return found.depth

    async def dead_letter_count(self) -> int:
        """Items in the swarm's (in-memory) dead-letter queue now."""
        return self.held_dead_letters.count()

    async def close(self) -> None:
        await self._control.close()


class BrokerTransports:
    """Every worker of the local swarm on one real RabbitMQ connection (``hivekeeper run --broker``)."""

    def __init__(
        self,
        robust: AbstractRobustConnection,
        plain: AbstractConnection,
        swarm: str,
        url: str | BrokerUrl,
        exchanges: naming.Exchanges = naming.DEFAULT_EXCHANGES,
    ) -> None:
        self._inner = RabbitTransports(robust, swarm, url, exchanges)
        self._plain: AbstractConnection | None = plain
        """Passive declares on a robust connection report 0 messages; a plain one is right, but it does not
        come back by itself after a broker restart: :meth:`_channel` opens it again."""
        self._url = url
        self.swarm = swarm

    async def _channel(self) -> AbstractChannel:
        """A channel on the plain connection, reconnecting it if the broker restarted; raises
        :class:`BrokerUnavailable` (with the reason) while the broker cannot be reached."""
        try:
            if self._plain is None or self._plain.is_closed:
                self._plain = None
                self._plain = await rabbit_control.connect_plain(self._url, "hivekeeper-run")
            return await self._plain.channel()
        except Exception as exc:  # aio-pika says "closed" in several ways (RuntimeError among them) mid-restart
            self._plain = None
            raise BrokerUnavailable(f"{type(exc).__name__}: {exc}") from exc

    @classmethod
    async def connect(
        cls, url: str, swarm: str, exchanges: naming.Exchanges = naming.DEFAULT_EXCHANGES
    ) -> BrokerTransports:
        broker = parse_broker_url(url)  # one meaning of the URL's options on all three connections
        try:
            control = await rabbit_control.connect(broker)
            plain = await rabbit_control.connect_plain(broker, "hivekeeper-run")
        except (aio_pika.exceptions.AMQPError, OSError, TimeoutError) as exc:
            raise BrokerUnavailable(
                f"cannot reach the broker at {broker.redacted()}: {exc}; start it, or check --broker"
            ) from exc
        return cls(control, plain, swarm, broker, exchanges)

    @property
    def control(self) -> ControlBus:
        return self._inner.control

    async def declare(self, alias: str) -> str:
        name = naming.work_queue(self.swarm, alias)
        channel = await self._channel()
        await rabbit_control.declare_work_queue(channel, self._inner.link.exchange, name)
        await channel.close()
        return name

    async def depths(self, queues: list[str]) -> dict[str, int]:
        """Messages in each queue now; raises :class:`BrokerUnavailable` while the broker is down."""
        out: dict[str, int] = {}
        channel = await self._channel()
        try:
            for name in queues:
                declared = await channel.declare_queue(name, passive=True)
                out[name] = declared.declaration_result.message_count or 0
        except aio_pika.exceptions.ChannelNotFoundEntity:
            raise
        except Exception as exc:  # the connection went away under the declares: a restart, say
            self._plain = None
            raise BrokerUnavailable(f"{type(exc).__name__}: {exc}") from exc
        finally:
            with contextlib.suppress(Exception):
                await channel.close()
        return out

    def source(self, identity: Identity, prefetch: int) -> WorkSource:
        return self._inner.source(identity, prefetch)

    def sink(self, identity: Identity) -> WorkSink:
        return self._inner.sink(identity)

    def dead_letters(self, identity: Identity) -> DeadLetters:
        return self._inner.dead_letters(identity)

    async def queue_depth(self, queue: str) -> int:
        return (await self.depths([queue]))[queue]

    async def dead_letter_count(self) -> int:
        """Items in the swarm's dead-letter queue now (left there by this run or earlier ones); 0 if none."""
        channel = await self._channel()
        try:
            declared = await channel.declare_queue(naming.dead_letter_queue(self.swarm), passive=True)
        except aio_pika.exceptions.ChannelNotFoundEntity:
            return 0
        finally:
            with contextlib.suppress(Exception):
                await channel.close()
        return declared.declaration_result.message_count or 0

    async def close(self) -> None:
        await self._inner.close()
        if self._plain is not None:
            with contextlib.suppress(Exception):
                await self._plain.close()
