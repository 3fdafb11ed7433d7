"""Template bombs sent to a worker on a real RabbitMQ by live config-update: a bomb the compiler or the probe
render finds is refused with a Failed outcome while the old config keeps working; one only the per-item renders
find drops its items (alerted and counted) while status, control signals and the next config-update keep being
answered."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import aio_pika
import pytest

from hivekeeper.protocol import envelope as env
from hivekeeper.protocol import naming
from hivekeeper.worker.runtime.worker import Worker
from hivekeeper.worker.transports.rabbit import control as rabbit_control
from hivekeeper.worker.transports.rabbit.transports import RabbitTransports
from testbench.waiting import eventually
from testbench.workers import first_instance

pytestmark = pytest.mark.integration

BODY = '{"n": {{ randInt(1, 9) }}}'
GENERATOR = {"inputs": {"scheduler": {"ratePerSec": 40}}, "message": {"body": BODY}}
NESTED_LOOPS = "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}"
PER_ITEM_BOMB = "{{ sequence('n') }}" + NESTED_LOOPS
"""Not probed when applied (a probe would move the sequence counter): only its renders find it."""


class Broker:
    """One generator on a real broker, and a listener for its events (as the operator's)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.swarm = f"budget-{uuid.uuid4().hex[:8]}"
        self.events: list[env.Envelope] = []

    async def start(self) -> Worker:
        self.connection = await aio_pika.connect(self.url)
        self.channel = await self.connection.channel()
        self.control = await self.channel.declare_exchange(
            naming.CONTROL_EXCHANGE, aio_pika.ExchangeType.TOPIC, durable=True
        )
        events = await self.channel.declare_queue(exclusive=True)
        await events.bind(self.control, naming.events_binding(self.swarm))

        async def on_event(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            async with message.process():
                self.events.append(env.parse(message.body))

        await events.consume(on_event)
        await rabbit_control.declare_work_queue(
            self.channel, naming.work_exchange(self.swarm), naming.work_queue(self.swarm, "out")
        )
        self.transports = RabbitTransports(await rabbit_control.connect(self.url), self.swarm, self.url)
        identity = first_instance(self.swarm, "feeder", "generator", in_queue=None, out_alias="out")
        self.worker = Worker(identity, GENERATOR, self.transports, status_interval=0.5)
        await self.worker.start()
        return self.worker

    async def signal(self, type_: str, data: dict[str, Any]) -> env.Envelope:
        scope = self.worker.identity.scope
        sent = env.signal(type_, scope, data, origin="test")
        key = naming.signal_key(type_, self.swarm, scope.role, scope.instance)
        await self.control.publish(aio_pika.Message(sent.to_json()), key)

        async def answered() -> env.Envelope | None:
            return next((e for e in self.events if e.kind == "outcome" and e.correlationId == sent.correlationId), None)

        return await eventually(answered, timeout=10, what=f"the outcome of {type_}")

    def of(self, type_: str) -> list[env.Envelope]:
        return [e for e in self.events if e.type == type_]

    async def depth(self) -> int:
        queue = await self.channel.declare_queue(naming.work_queue(self.swarm, "out"), passive=True)
        return queue.declaration_result.message_count or 0

    async def stop(self) -> None:
        await self.worker.stop()
        await self.transports.close()
        await self.connection.close()


@pytest.fixture
async def broker(rabbitmq_url: str) -> AsyncIterator[Broker]:
    running = Broker(rabbitmq_url)
    worker = await running.start()
    outcome = await running.signal("config-update", {"enabled": True, "configGeneration": 1})
    assert outcome.data["status"] == "Applied"
    assert worker.state.enabled
    yield running
    await running.stop()


async def more_than(broker: Broker, count: int, what: str) -> None:
    async def grown() -> bool:
        return broker.worker.stats.processed > count and await broker.depth() > 0

    await eventually(grown, timeout=10, what=what)


async def test_a_bomb_config_is_refused_and_the_worker_keeps_its_config_its_work_and_its_status(
    broker: Broker,
) -> None:
    await more_than(broker, 5, "items generated before the bomb")
    started = time.monotonic()
    outcome = await broker.signal("config-update", {"message": {"body": "{{ 10**100000000 }}"}, "configGeneration": 2})
    refused_in = time.monotonic() - started
    assert outcome.data["status"] == "Failed"
    reason = outcome.data["context"]["reason"]
    assert reason.startswith("template 'message.body' line 1: 10 ** 100000000 would be an integer")
    assert "the template budget allows 4,096 bits (maxIntBits)" in reason
    assert outcome.data["requestedGeneration"] == 2
    assert refused_in < 2.0, f"the refusal took {refused_in:.2f} s"
    assert broker.worker.state.generation == 1
    assert broker.worker.state.config.message.body == BODY  # type: ignore[attr-defined]

    started = time.monotonic()
    outcome = await broker.signal("config-update", {"message": {"body": NESTED_LOOPS}, "configGeneration": 3})
    refused_in = time.monotonic() - started
    assert outcome.data["status"] == "Failed"
    assert outcome.data["context"]["reason"].startswith(
        "template 'message.body' line 1: rendering ran for more than 100 ms; the template budget allows 100 ms "
        "(wallTime)"
    )
    assert refused_in < 2.0, f"the refusal took {refused_in:.2f} s"
    assert broker.worker.state.generation == 1

    processed, statuses = broker.worker.stats.processed, len(broker.of("status-delta"))
    await more_than(broker, processed + 20, "items still generated with the old config")

    async def reporting() -> bool:
        return len(broker.of("status-delta")) >= statuses + 2

    await eventually(reporting, timeout=10, what="status-deltas after the refusal")
    assert broker.of("status-delta")[-1].data["context"]["configGeneration"] == 1


async def test_a_bomb_only_a_render_finds_drops_its_items_and_the_worker_stays_responsive(broker: Broker) -> None:
    slow = {"message": {"body": PER_ITEM_BOMB}, "inputs": {"scheduler": {"ratePerSec": 4}}, "configGeneration": 2}
    applied = await broker.signal("config-update", slow)
    assert applied.data["status"] == "Applied"  # nothing in the source breaks the budget; its renders do

    async def alerted() -> list[env.Envelope]:
        return [e for e in broker.of("alert") if e.data["code"] == "template.budget-exceeded"]

    alert = (await eventually(alerted, timeout=10, what="a template.budget-exceeded alert"))[0]
    assert alert.data["message"].startswith("template 'message.body' line 1: rendering ran for more than 100 ms")
    statuses = len(broker.of("status-delta"))

    async def counted() -> dict[str, int] | None:
        deltas = broker.of("status-delta")[statuses:]
        return deltas[-1].data["context"].get("templateBudgetExceeded") if len(deltas) >= 2 else None

    exceeded = await eventually(counted, timeout=10, what="status-deltas counting the refusals while bombs render")
    assert exceeded["wallTime"] >= 2
    started = time.monotonic()
    answered = await broker.signal("status-request", {})
    assert answered.data["status"] == "Applied"
    assert time.monotonic() - started < 2.0
    processed = broker.worker.stats.processed
    back = await broker.signal(
        "config-update", {"message": {"body": BODY}, "inputs": {"scheduler": {"ratePerSec": 40}}}
    )
    assert back.data["status"] == "Applied"
    await more_than(broker, processed + 20, "items generated again after the fix")
