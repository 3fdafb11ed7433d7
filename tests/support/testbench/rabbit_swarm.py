"""A swarm's workers run in the test process on a real RabbitMQ, with the broker side the tests drive: the
control exchange, an event listener, config-updates answered by outcomes, work queues to fill and measure."""

from __future__ import annotations

import uuid
from typing import Any

import aio_pika

from hivekeeper.protocol import envelope as env
from hivekeeper.protocol import naming
from hivekeeper.worker.runtime.worker import Worker
from hivekeeper.worker.transports.rabbit import control as rabbit_control
from hivekeeper.worker.transports.rabbit.transports import RabbitTransports
from testbench.waiting import eventually
from testbench.work_messages import all_items
from testbench.workers import first_instance


class RabbitSwarm:
    """Workers of one swarm on a real broker, in the test's process, plus an event listener like the operator's.

    ``prefix`` names the swarm (``<prefix>-<8 hex>``); ``status_interval`` is the workers' default status period.
    """

    prefix = "it"
    status_interval = 5.0

    def __init__(self, url: str) -> None:
        self.url = url
        self.swarm = f"{self.prefix}-{uuid.uuid4().hex[:8]}"
        self.events: list[env.Envelope] = []
        self.workers: list[Worker] = []
        self.transports: list[RabbitTransports] = []

    async def start(self) -> None:
        self.connection = await aio_pika.connect(self.url)
        self.channel = await self.connection.channel()
        exchange = await self.channel.declare_exchange(
            naming.CONTROL_EXCHANGE, aio_pika.ExchangeType.TOPIC, durable=True
        )
        self.control = exchange
        queue = await self.channel.declare_queue(exclusive=True)
        await queue.bind(exchange, naming.events_binding(self.swarm))

        async def on_event(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            async with message.process():
                self.events.append(env.parse(message.body))

        await queue.consume(on_event)

    async def worker(
        self,
        role: str,
        kind: str,
        config: dict[str, Any],
        *,
        work_in: str | None = None,
        work_out: str | None = None,
        interval: float | None = None,
    ) -> Worker:
        transports = RabbitTransports(await rabbit_control.connect(self.url), self.swarm, self.url)
        in_queue = naming.work_queue(self.swarm, work_in) if work_in else None
        identity = first_instance(self.swarm, role, kind, in_queue=in_queue, out_alias=work_out)
        worker = Worker(identity, config, transports, status_interval=interval or self.status_interval)
        await worker.start()
        self.workers.append(worker)
        self.transports.append(transports)
        return worker

    async def configure(self, worker: Worker | env.Scope, data: dict[str, Any], timeout: float = 10.0) -> env.Envelope:
        """Send a config-update to one worker (in this process, or any other by its scope); return its outcome."""
        scope = worker if isinstance(worker, env.Scope) else worker.identity.scope
        signal = env.signal("config-update", scope, data, origin="test")
        await self.control.publish(
            aio_pika.Message(signal.to_json()),
            naming.signal_key("config-update", self.swarm, scope.role, scope.instance),
        )

        async def outcome() -> env.Envelope | None:
            return next(
                (e for e in self.events if e.kind == "outcome" and e.correlationId == signal.correlationId), None
            )

        return await eventually(outcome, timeout=timeout, what="the config-update outcome")

    async def queue(self, alias: str) -> aio_pika.abc.AbstractQueue:
        return await rabbit_control.declare_work_queue(
            self.channel, naming.work_exchange(self.swarm), naming.work_queue(self.swarm, alias)
        )

    async def depth(self, alias: str) -> int:
        declared = await self.channel.declare_queue(naming.work_queue(self.swarm, alias), passive=True)
        return declared.declaration_result.message_count or 0

    async def take_items(self, alias: str) -> list[bytes]:
        """Every item waiting in ``alias``'s work queue, taken and acknowledged (a batch message gives all of its
        items: a depth counts messages, so tests that count items take them)."""
        declared = await self.channel.get_queue(naming.work_queue(self.swarm, alias))
        taken = []
        while (message := await declared.get(no_ack=False, fail=False)) is not None:
            await message.ack()
            taken.append(message)
        return all_items(taken)

    async def publish(self, alias: str, bodies: list[bytes]) -> None:
        await self.queue(alias)
        exchange = await self.channel.get_exchange(naming.work_exchange(self.swarm))
        for body in bodies:
            await exchange.publish(
                aio_pika.Message(body, delivery_mode=aio_pika.DeliveryMode.PERSISTENT),
                naming.work_routing_key(self.swarm, alias),
            )

    async def stop(self) -> None:
        for worker in self.workers:
            await worker.stop()
        for transports in self.transports:
            await transports.close()
        await self.connection.close()
