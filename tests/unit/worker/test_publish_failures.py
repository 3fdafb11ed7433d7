"""What a worker does when publishing a result fails, and with items that keep coming back: permanent
failures are dead-lettered or dropped (counted, alerted) after one attempt, transient ones are retried
with capped backoff and then given back, and an item delivered too many times is poison."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from hivekeeper.api import roles as role_configs
from hivekeeper.api.roles import ConfigError
from hivekeeper.api.roles.outputs import PublishRetry
from hivekeeper.protocol import envelope as env
from hivekeeper.protocol import naming
from hivekeeper.protocol.workitem import new_item
from hivekeeper.worker import deadletter, publishing
from hivekeeper.worker.identity import Identity
from hivekeeper.worker.inputs.redeliveries import RedeliveryCounter
from hivekeeper.worker.metrics import registry_for
from hivekeeper.worker.outputs.memory import MemoryDeadLetters
from hivekeeper.worker.ports import ControlMessage, Delivery, OutputRefused
from hivekeeper.worker.runtime.worker import Worker
from hivekeeper.worker.transports.memory import MemoryBroker, MemoryControlBus
from testbench.waiting import eventually

SWARM = "unit"


class ScriptedSink:
    """Fails the next publishes with ``failures`` (in order), then takes everything."""

    def __init__(self) -> None:
        self.failures: list[Exception] = []
        self.attempts = 0
        self.published: list[bytes] = []

    async def publish(self, body: bytes) -> None:
        self.attempts += 1
        if self.failures:
            raise self.failures.pop(0)
        self.published.append(body)

    def state(self) -> str:
        return "ok"

    async def close(self) -> None:
        return None


class ScriptedSource:
    """Deliveries the test offers, with the redelivery count and liveness it chooses; records settlements."""

    def __init__(self) -> None:
        self._queue: asyncio.Queue[Delivery] = asyncio.Queue()
        self.acked: list[bytes] = []
        self.requeued: list[bytes] = []
        self.live = True

    def offer(self, body: bytes, redeliveries: int = 0) -> None:
        async def ack() -> None:
            self.acked.append(body)

        async def reject(requeue: bool) -> None:
            self.requeued.append(body)

        self._queue.put_nowait(
            Delivery(body, self._queue.qsize() + 1, ack, reject, redeliveries=redeliveries, live=lambda: self.live)
        )

    async def get(self) -> Delivery:
        return await self._queue.get()

    async def pause(self) -> None:
        return None

    async def resume(self) -> None:
        return None

    def buffered(self) -> int:
        return self._queue.qsize()

    def state(self) -> str:
        return "ok"

    async def close(self) -> None:
        return None


class Transports:
    def __init__(self) -> None:
        self.broker = MemoryBroker()
        self._control = MemoryControlBus(self.broker, naming.CONTROL_EXCHANGE)
        self.input = ScriptedSource()
        self.output = ScriptedSink()
        self.held = MemoryDeadLetters()

    @property
    def control(self) -> MemoryControlBus:
        return self._control

    def source(self, identity: Identity, prefetch: int) -> ScriptedSource:
        return self.input

    def sink(self, identity: Identity) -> ScriptedSink:
        return self.output

    def dead_letters(self, identity: Identity) -> MemoryDeadLetters:
        return self.held

    async def queue_depth(self, queue: str) -> int:
        return self.broker.queues[queue].depth


class Running:
    def __init__(self) -> None:
        self.transports = Transports()
        self.events: list[env.Envelope] = []
        identity = Identity(
            swarm=SWARM,
            role="builder",
            kind="request-builder",
            instance="builder-0",
            work_in=naming.work_queue(SWARM, "in"),
            work_out=naming.work_routing_key(SWARM, "out"),
        )
        config = {"serviceId": "x", "passThroughOnMissingTemplate": True}
        self.worker = Worker(identity, config, self.transports, status_interval=60)

    async def start(self, config: dict[str, Any]) -> None:
        async def record(message: ControlMessage) -> None:
            self.events.append(env.parse(message.body))

        await self.transports.control.listen("events", [naming.events_binding(SWARM)], record)
        await self.worker.start()
        signal = env.signal("config-update", self.worker.identity.scope, {**config, "enabled": True}, origin="test")
        key = naming.signal_key("config-update", SWARM, "builder", "builder-0")
        await self.transports.control.publish(key, signal.to_json())

        async def applied() -> bool:
            return any(e.kind == "outcome" and e.data["status"] == "Applied" for e in self.events)

        await eventually(applied, timeout=5, what="the config-update applied")

    def alerts(self, code: str) -> list[dict[str, Any]]:
        return [e.data for e in self.events if e.type == "alert" and e.data["code"] == code]

    async def settled(self, n: int) -> None:
        source = self.transports.input

        async def done() -> bool:
            return len(source.acked) + len(source.requeued) >= n and self.worker.stats.in_flight == 0

        await eventually(done, timeout=5, what=f"{n} items settled")

    async def stop(self) -> None:
        await self.worker.stop()
        await self.transports.control.close()


FAST = {"outputs": {"retry": {"initialBackoffMs": 1, "maxBackoffMs": 5}}}
DEAD_LETTERS = {**FAST, "deadLetter": {"enabled": True}}


@pytest.fixture
async def running() -> AsyncIterator[Running]:
    worker = Running()
    yield worker
    await worker.stop()


def _item() -> bytes:
    return new_item(
        '{"n": 1}', swarm=SWARM, service="t", instance="t-0", headers={"x-ph-call-id": uuid.uuid4().hex}
    ).to_json()


async def test_a_transient_failure_is_retried_and_the_item_goes_through_once(running: Running) -> None:
    await running.start(FAST)
    sink = running.transports.output
    sink.failures = [ConnectionError("connection lost"), TimeoutError("no confirm")]
    body = _item()
    running.transports.input.offer(body)
    await running.settled(1)
    assert sink.attempts == 3
    assert len(sink.published) == 1
    assert running.transports.input.acked == [body]
    assert running.worker.stats.processed == 1
    assert running.worker.output.snapshot() == {"refused": 0, "poisoned": 0, "publishRetries": 2, "givenBack": 0}


async def test_a_refused_result_is_dead_lettered_after_one_attempt_counted_and_alerted(running: Running) -> None:
    await running.start(DEAD_LETTERS)
    sink = running.transports.output
    sink.failures = [OutputRefused("the item is 20000000 bytes, more than the broker's max_message_size of 16777216")]
    body = _item()
    running.transports.input.offer(body)
    await running.settled(1)
    await eventually(lambda: _true(running.transports.held.count() == 1), timeout=5, what="one dead letter")

    assert sink.attempts == 1, "a permanent failure is never retried"
    assert running.transports.input.acked == [body]
    assert not running.transports.input.requeued
    [(kept, headers)] = running.transports.held.items()
    assert kept == body, "the input is kept, as it came in"
    assert headers[deadletter.HEADER_CODE] == "io.output-refused"
    assert "max_message_size of 16777216" in headers[deadletter.HEADER_REASON]
    assert (running.worker.output.refused, running.worker.stats.dropped, running.worker.stats.errors) == (1, 1, 1)
    alert = await eventually(lambda: _value(running.alerts("io.output-refused")), timeout=5, what="the alert")
    assert "refused the result: the item is 20000000 bytes" in alert[0]["message"]


async def test_without_dead_letters_a_refused_result_is_dropped_counted_and_alerted(running: Running) -> None:
    await running.start(FAST)
    running.transports.output.failures = [OutputRefused("no queue is bound for the item: 312 NO_ROUTE")]
    running.transports.input.offer(_item())
    await running.settled(1)
    assert running.transports.held.count() == 0
    assert (running.worker.output.refused, running.worker.stats.dropped) == (1, 1)
    await eventually(lambda: _value(running.alerts("io.output-refused")), timeout=5, what="the alert")


async def test_when_every_attempt_fails_the_input_goes_back_after_max_attempts(running: Running) -> None:
    await running.start({"outputs": {"retry": {"maxAttempts": 3, "initialBackoffMs": 1, "maxBackoffMs": 2}}})
    sink = running.transports.output
    sink.failures = [ConnectionError(f"lost {n}") for n in range(10)]
    body = _item()
    running.transports.input.offer(body)
    await running.settled(1)
    assert sink.attempts == 3
    assert running.transports.input.requeued == [body]
    assert not running.transports.input.acked
    assert running.worker.output.snapshot() == {"refused": 0, "poisoned": 0, "publishRetries": 2, "givenBack": 1}
    alert = await eventually(lambda: _value(running.alerts("io.downstream-error")), timeout=5, what="the alert")
    assert "lost 2 (3 attempts; no attempt left)" in alert[0]["message"]


async def test_once_the_input_is_void_the_result_is_not_published_again(running: Running) -> None:
    await running.start(FAST)
    sink = running.transports.output
    sink.failures = [ConnectionError("connection lost")]
    running.transports.input.live = False  # the input's channel died with the connection
    running.transports.input.offer(_item())

    async def alerted() -> list[dict[str, Any]]:
        return running.alerts("io.downstream-error")

    [alert] = await eventually(alerted, timeout=5, what="the alert")
    assert sink.attempts == 1, "a second publish would duplicate what the broker redelivers"
    assert not running.transports.input.requeued
    assert not running.transports.input.acked
    assert "the input's channel closed, so the broker redelivers it" in alert["message"]


async def test_an_item_delivered_more_than_max_redeliveries_times_is_poison(running: Running) -> None:
    await running.start({**DEAD_LETTERS, "inputs": {"rabbitmq": {"maxRedeliveries": 3}}})
    tolerated, poison = _item(), _item()
    running.transports.input.offer(tolerated, redeliveries=3)
    running.transports.input.offer(poison, redeliveries=4)
    await running.settled(2)
    await eventually(lambda: _true(running.transports.held.count() == 1), timeout=5, what="one dead letter")

    sink = running.transports.output
    assert sink.attempts == 1, "the poison item is not processed again"
    assert running.transports.input.acked == [tolerated, poison]
    [(kept, headers)] = running.transports.held.items()
    assert kept == poison
    assert headers[deadletter.HEADER_CODE] == "work.poison"
    assert "came back 4 times, more than inputs.rabbitmq.maxRedeliveries (3)" in headers[deadletter.HEADER_REASON]
    assert (running.worker.output.poisoned, running.worker.stats.processed, running.worker.stats.dropped) == (1, 1, 1)
    await eventually(lambda: _value(running.alerts("work.poison")), timeout=5, what="the alert")


async def test_the_counters_are_in_the_status_and_the_metrics(running: Running) -> None:
    await running.start(FAST)
    running.transports.output.failures = [OutputRefused("too large"), ConnectionError("lost")]
    running.transports.input.offer(_item())
    running.transports.input.offer(_item())
    await running.settled(2)
    assert running.worker.status_data(full=False)["context"]["output"] == {
        "refused": 1,
        "poisoned": 0,
        "publishRetries": 1,
        "givenBack": 0,
    }
    values = {
        metric.name: metric.samples[0].value
        for metric in registry_for(running.worker).collect()
        if metric.name.startswith(("hivekeeper_items_refused", "hivekeeper_items_poisoned", "hivekeeper_publish"))
    }
    assert values == {"hivekeeper_items_refused": 1, "hivekeeper_items_poisoned": 0, "hivekeeper_publish_retries": 1}


def test_backoff_grows_exponentially_and_stops_at_its_cap() -> None:
    policy = PublishRetry(initialBackoffMs=100, backoffMultiplier=2.0, maxBackoffMs=500)
    assert [publishing.backoff(policy, n) for n in range(1, 6)] == [0.1, 0.2, 0.4, 0.5, 0.5]
    assert PublishRetry().model_dump() == {
        "maxAttempts": 5,
        "initialBackoffMs": 100,
        "backoffMultiplier": 2.0,
        "maxBackoffMs": 5000,
    }
    with pytest.raises(ConfigError, match=r"outputs\.retry\.maxAttempts"):
        role_configs.validate("request-builder", {"outputs": {"retry": {"maxAttempts": 0}}})
    with pytest.raises(ConfigError, match=r"inputs\.rabbitmq\.maxRedeliveries"):
        role_configs.validate("request-builder", {"inputs": {"rabbitmq": {"maxRedeliveries": -1}}})


def test_the_redelivery_count_is_kept_per_item_and_bounded() -> None:
    counter = RedeliveryCounter(entries=3)
    key, _times = counter.count(b"a")
    assert counter.count(b"a") == (key, 2)
    for body in (b"b", b"c", b"d"):
        counter.count(body)
    assert len(counter) == 3, "the least recently seen item is forgotten first"
    assert counter.count(b"a")[1] == 1
    counter.forget(key)
    assert len(counter) == 2


def test_the_redelivery_counter_tells_how_often_an_item_came_back_without_counting_one_more() -> None:
    counter = RedeliveryCounter()
    assert counter.seen(b"new")[1] == 0
    key, _ = counter.count(b"back")
    assert counter.seen(b"back") == (key, 1)
    assert counter.seen(b"back") == (key, 1)


async def test_the_dead_letter_outbox_is_bounded_in_bytes_too() -> None:
    alerts: list[tuple[str, str]] = []
    never = asyncio.Event()

    class Stuck:
        async def publish(self, body: bytes, headers: dict[str, str], *, max_length: int, ttl_seconds: int) -> None:
            await never.wait()

    outbox = deadletter.DeadLetterOutbox(
        Stuck(), "q", lambda code, message, _: alerts.append((code, message)), max_bytes=250
    )
    task = outbox.offer(b"x" * 100, {}, max_length=10, ttl_seconds=60)  # taken by the pump at once
    await eventually(lambda: _true(outbox.waiting() == 0), timeout=5, what="the pump taking the first item")
    for _ in range(3):
        outbox.offer(b"y" * 100, {}, max_length=10, ttl_seconds=60)
    assert outbox.waiting() == 2
    assert outbox.overflowed == 1
    assert "at most 1000 items and 250 bytes" in alerts[0][1]
    assert task is not None
    task.cancel()


async def _true(value: bool) -> bool:
    return value


async def _value(value: Any) -> Any:
    return value


async def test_a_block_that_came_and_went_between_two_status_deltas_is_reported_once(running: Running) -> None:
    class BlockableSink(ScriptedSink):
        def __init__(self) -> None:
            super().__init__()
            self.count = 0

        def blocks(self) -> int:
            return self.count

    sink = BlockableSink()
    running.worker.sink = sink
    assert running.worker.status_data(full=False)["ioState"]["work"]["output"] == "ok"
    sink.count = 1  # the broker blocked and unblocked publishing: the status-delta of that interval was held too
    assert running.worker.status_data(full=False)["ioState"]["work"]["output"] == "blocked"
    await running.worker.emit_status("status-delta")
    assert running.worker.status_data(full=False)["ioState"]["work"]["output"] == "ok", "reported once"
