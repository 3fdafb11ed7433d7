"""Taps copy items without taking them; failed items land in a bounded, opt-in dead-letter queue.

Swarms run as `hivekeeper run --broker` runs them (``runner.build`` on the real RabbitMQ); the tap
runs through the real CLI in a child process where the behaviour is the command's.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import signal
import sys
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aio_pika
import aiormq
import orjson
import pytest

from hivekeeper.api import roles as role_configs
from hivekeeper.api.roles import ConfigError
from hivekeeper.api.swarm import Swarm
from hivekeeper.local.local_swarm import LocalSwarm
from hivekeeper.local.runner import RunOptions, build, run
from hivekeeper.local.tap import TapOptions, tap
from hivekeeper.protocol import batch, naming
from hivekeeper.protocol.workitem import new_item
from hivekeeper.worker import deadletter
from hivekeeper.worker.runtime.worker import Worker
from hivekeeper.worker.transports.memory import MemoryStore
from testbench.waiting import eventually
from testbench.work_messages import all_items

pytestmark = pytest.mark.integration


def _swarm(name: str, roles: list[dict[str, Any]], dead_letter: dict[str, Any] | None = None) -> Swarm:
    spec: dict[str, Any] = {"roles": roles, "templates": [{"callId": "hello", "pathTemplate": "/hello"}]}
    if dead_letter is not None:
        spec["deadLetter"] = dead_letter
    return Swarm.model_validate({"metadata": {"name": name}, "spec": spec})


def _generator(out: str, max_messages: int, call_id: str = "missing", rate: float = 500) -> dict[str, Any]:
    return {
        "name": "feeder",
        "role": "generator",
        "work": {"out": out},
        "config": {
            "inputs": {"type": "SCHEDULER", "scheduler": {"ratePerSec": rate, "maxMessages": max_messages}},
            "message": {"bodyType": "SIMPLE", "body": '{"n": 1}', "headers": {"x-ph-call-id": call_id}},
        },
    }


BUILDER = {"name": "builder", "role": "request-builder", "work": {"in": "build", "out": "call"}}
SINK = {"name": "sink", "role": "postprocessor", "work": {"in": "call"}}
CONSUMER = {"name": "consumer", "role": "request-builder", "work": {"in": "call"}}
"""Builds a request from every item with call id ``hello`` (and publishes nowhere)."""


@dataclass
class Running:
    local: LocalSwarm

    @property
    def name(self) -> str:
        return self.local.name

    def worker(self, role: str) -> Worker:
        return self.local.workers[role][0]

    async def enable(self) -> None:
        await self.local.set_enabled(self.local.producers_last(), True)


@pytest.fixture
async def broker(rabbitmq_url: str) -> AsyncIterator[aio_pika.abc.AbstractConnection]:
    connection = await aio_pika.connect(rabbitmq_url)
    yield connection
    await connection.close()


@pytest.fixture
async def started(rabbitmq_url: str) -> AsyncIterator[list[Running]]:
    """Swarms started (disabled) on the real broker; stopped and their queues deleted afterwards."""
    runs: list[Running] = []
    yield runs
    for running in runs:
        for workers in running.local.workers.values():
            for worker in workers:
                await worker.stop()
        await running.local.transports.close()
    connection = await aio_pika.connect(rabbitmq_url)
    channel = await connection.channel()
    for running in runs:
        for queue in [*running.local.queue_names(), naming.dead_letter_queue(running.name)]:
            await channel.queue_delete(queue)
    await connection.close()


async def _start(runs: list[Running], url: str, swarm: Swarm) -> Running:
    local = await build(swarm, url, MemoryStore())
    running = Running(local)
    runs.append(running)
    await local.controller.start()
    for workers in local.workers.values():
        for worker in workers:
            await worker.start()
    return running


async def _depth(connection: aio_pika.abc.AbstractConnection, queue: str) -> int | None:
    """Messages in ``queue``, or None when it does not exist."""
    channel = await connection.channel()
    try:
        declared = await channel.declare_queue(queue, passive=True)
    except aio_pika.exceptions.ChannelNotFoundEntity:
        return None
    count = declared.declaration_result.message_count or 0
    await channel.close()
    return count


async def _spawn(*args: str) -> asyncio.subprocess.Process:
    """``hivekeeper ARGS`` started, its output piped."""
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "hivekeeper.cli",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def _cli(*args: str, timeout: float = 60) -> tuple[int, str, str]:
    proc = await _spawn(*args)
    stdout, stderr = await asyncio.wait_for(proc.communicate(), timeout)
    assert proc.returncode is not None
    return proc.returncode, stdout.decode(), stderr.decode()


# -- taps -------------------------------------------------------------------------------------------------


async def test_a_tap_shows_n_items_while_the_consumer_still_gets_every_item(
    rabbitmq_url: str, broker: aio_pika.abc.AbstractConnection, started: list[Running]
) -> None:
    produced = 60
    name = f"tap-{uuid.uuid4().hex[:8]}"
    running = await _start(started, rabbitmq_url, _swarm(name, [_generator("call", produced, "hello"), CONSUMER]))
    proc = await _spawn("tap", name, "call", "--amqp", rabbitmq_url, "--count", "10", "--timeout", "60")
    assert proc.stderr is not None
    ready = (await asyncio.wait_for(proc.stderr.readline(), 30)).decode()  # written once the tap is bound
    assert ready.startswith(f"tapping {naming.work_queue(name, 'call')} through amq.gen-"), ready
    tap_queue = ready.split(" through ", 1)[1].split(":", 1)[0]

    await running.enable()
    stdout, stderr = await asyncio.wait_for(proc.communicate(), 60)

    assert proc.returncode == 0, stderr
    lines = stdout.decode().splitlines()
    assert len(lines) == 10
    assert all("  id=" in line and '  call=hello  steps=1  payload={"n": 1}' in line for line in lines), lines[0]
    assert len({line.split("id=")[1].split()[0] for line in lines}) == 10
    consumer = running.worker("consumer")
    await eventually(lambda: _value(consumer.stats.processed == produced), timeout=30, what=f"{produced} consumed")
    assert consumer.stats.dropped == 0
    assert running.worker("feeder").stats.processed == produced
    assert await _depth(broker, naming.work_queue(name, "call")) == 0
    assert await _depth(broker, tap_queue) is None, "the tap's queue must go away with its connection"


async def test_an_in_process_tap_prints_whole_items_and_stops_at_its_timeout(
    rabbitmq_url: str, broker: aio_pika.abc.AbstractConnection, started: list[Running]
) -> None:
    name = f"tap-{uuid.uuid4().hex[:8]}"
    running = await _start(started, rabbitmq_url, _swarm(name, [_generator("call", 3, "hello"), CONSUMER]))
    bound = asyncio.Event()
    queues: list[str] = []

    def on_ready(queue: str) -> None:
        queues.append(queue)
        bound.set()

    out, err = io.StringIO(), io.StringIO()
    options = TapOptions(swarm=name, alias="call", url=rabbitmq_url, count=5, full=True, timeout=3)
    task = asyncio.create_task(tap(options, out, err, on_ready=on_ready))
    await asyncio.wait_for(bound.wait(), 30)
    await running.enable()
    result = await asyncio.wait_for(task, 30)

    assert (result.shown, result.ended) == (3, "timeout")
    assert "only 3 of 5 items within 3s" in err.getvalue()
    items = _documents(out.getvalue())
    assert len(items) == 3
    assert all(
        item["headers"]["x-ph-call-id"] == "hello" and item["steps"][0]["payload"] == '{"n": 1}' for item in items
    )
    assert await _depth(broker, queues[0]) is None
    await eventually(lambda: _value(running.worker("consumer").stats.processed == 3), timeout=30, what="3 consumed")


async def test_a_tap_splits_a_batch_message_into_its_items_in_order_and_full_prints_each_whole(
    rabbitmq_url: str, broker: aio_pika.abc.AbstractConnection, started: list[Running]
) -> None:
    name = f"tap-{uuid.uuid4().hex[:8]}"
    await _start(started, rabbitmq_url, _swarm(name, [_generator("call", 1), SINK]))
    bound = asyncio.Event()
    out, err = io.StringIO(), io.StringIO()
    options = TapOptions(swarm=name, alias="call", url=rabbitmq_url, count=4, full=True, timeout=30)
    task = asyncio.create_task(tap(options, out, err, on_ready=lambda _queue: bound.set()))
    await asyncio.wait_for(bound.wait(), 30)
    items = [new_item(orjson.dumps({"n": n}).decode(), swarm=name, service="test", instance="test-0") for n in range(6)]
    channel = await broker.channel()
    exchange = await channel.get_exchange(naming.work_exchange(name))
    await exchange.publish(
        aio_pika.Message(batch.encode([item.to_json() for item in items]), headers={batch.BATCH_HEADER: 6}),
        routing_key=naming.work_routing_key(name, "call"),
    )
    result = await asyncio.wait_for(task, 30)

    assert (result.shown, result.ended) == (4, "count")
    shown = _documents(out.getvalue())
    assert [item["messageId"] for item in shown] == [item.messageId for item in items[:4]]
    assert [orjson.loads(item["steps"][0]["payload"]) for item in shown] == [{"n": n} for n in range(4)]


async def test_ctrl_c_stops_a_tap_cleanly_and_its_queue_goes_away(
    rabbitmq_url: str, broker: aio_pika.abc.AbstractConnection, started: list[Running]
) -> None:
    name = f"tap-{uuid.uuid4().hex[:8]}"
    await _start(started, rabbitmq_url, _swarm(name, [_generator("call", 1, "hello"), CONSUMER]))
    proc = await _spawn("tap", name, "call", "--amqp", rabbitmq_url)
    assert proc.stderr is not None
    ready = (await asyncio.wait_for(proc.stderr.readline(), 30)).decode()
    tap_queue = ready.split(" through ", 1)[1].split(":", 1)[0]
    with pytest.raises(aiormq.exceptions.ChannelLockedResource):  # it exists, and it is the tap's alone
        await _depth(broker, tap_queue)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 0
    assert stdout == b""
    assert "stopped after 0 items" in stderr.decode()
    assert await _depth(broker, tap_queue) is None


async def test_an_unknown_swarm_or_alias_exits_2_and_says_how_to_find_the_right_one(
    rabbitmq_url: str, started: list[Running]
) -> None:
    missing = f"nope-{uuid.uuid4().hex[:6]}"
    code, out, err = await _cli("tap", missing, "call", "--amqp", rabbitmq_url, "--namespace", "perf")
    assert code == 2
    assert f"exchange hivekeeper.perf_{missing}.work does not exist" in err
    assert "guest:***@" in err
    assert "guest:guest" not in err + out

    name = f"tap-{uuid.uuid4().hex[:8]}"
    await _start(started, rabbitmq_url, _swarm(name, [_generator("call", 1), SINK]))
    code, _, err = await _cli("tap", name, "typo", "--amqp", rabbitmq_url)
    assert code == 2
    assert f"has no work alias 'typo' (no queue hivekeeper.{name}.typo)" in err
    assert "work.in / work.out values of spec.roles[]" in err


async def test_a_broker_refusal_is_reported_without_the_password(rabbitmq_url: str) -> None:
    wrong = rabbitmq_url.replace("guest:guest@", "guest:s3cret-Pa55@")
    code, out, err = await _cli("tap", "any", "call", "--amqp", wrong, "--timeout", "5")
    assert code == 1
    assert err.startswith("error: cannot connect to amqp://guest:***@127.0.0.1:")
    assert "s3cret-Pa55" not in out + err


# -- dead letters -----------------------------------------------------------------------------------------


async def test_failed_items_land_in_the_dead_letter_queue_and_the_cli_shows_their_reason(
    rabbitmq_url: str, broker: aio_pika.abc.AbstractConnection, started: list[Running]
) -> None:
    name = f"dlq-{uuid.uuid4().hex[:8]}"
    swarm = _swarm(name, [_generator("build", 6), BUILDER, SINK], dead_letter={"enabled": True})
    running = await _start(started, rabbitmq_url, swarm)
    queue = naming.dead_letter_queue(name)
    await running.enable()
    await eventually(lambda: _value(_depth(broker, queue), 6), timeout=30, what="6 dead letters")
    assert running.worker("builder").stats.dropped == 6
    assert running.worker("sink").stats.processed == 0

    code, out, err = await _cli("tap", name, "--dead-letters", "--peek", "--count", "2", "--amqp", rabbitmq_url)
    assert code == 0, err
    lines = out.splitlines()
    assert len(lines) == 2
    assert all("role=builder  instance=builder-0  reason=request-builder.missing-template: " in ln for ln in lines)
    assert "2 dead letters shown and given back (--peek)" in err
    assert await _depth(broker, queue) == 6

    channel = await broker.channel()
    message = await (await channel.get_queue(queue)).get(no_ack=False)
    headers = dict(message.headers or {})
    assert headers[deadletter.HEADER_CODE] == "request-builder.missing-template"
    assert headers[deadletter.HEADER_ROLE] == "builder"
    assert headers[deadletter.HEADER_INSTANCE] == "builder-0"
    assert str(headers[deadletter.HEADER_REASON]).startswith("request-builder.missing-template: ")
    item = orjson.loads(message.body)
    assert item["headers"]["x-ph-call-id"] == "missing"
    assert len(item["steps"]) == 1  # the item as it came in, not as far as it got
    await message.nack(requeue=True)
    await channel.close()

    code, out, err = await _cli("tap", name, "--dead-letters", "--count", "10", "--amqp", rabbitmq_url)
    assert code == 0, err
    assert len(out.splitlines()) == 6
    assert "6 dead letters shown and removed from the queue" in err
    assert "the dead-letter queue had 6 (fewer than 10)" in err
    assert await _depth(broker, queue) == 0


async def test_the_dead_letter_queue_keeps_the_newest_max_length_items(
    rabbitmq_url: str, broker: aio_pika.abc.AbstractConnection, started: list[Running]
) -> None:
    name = f"dlq-{uuid.uuid4().hex[:8]}"
    swarm = _swarm(name, [_generator("build", 0, rate=0), BUILDER, SINK], dead_letter={"enabled": True, "maxLength": 5})
    running = await _start(started, rabbitmq_url, swarm)
    await running.enable()
    queue = naming.dead_letter_queue(name)
    channel = await broker.channel()
    exchange = await channel.get_exchange(naming.work_exchange(name))
    sent = []
    for n in range(12):  # one at a time, each dead-lettered before the next: the queue order is known
        item = new_item(f'{{"n": {n}}}', swarm=name, service="test", instance="t-0", headers={"x-ph-call-id": "nope"})
        sent.append(item.messageId)
        await exchange.publish(aio_pika.Message(item.to_json()), naming.work_routing_key(name, "build"))
        await eventually(
            lambda mid=item.messageId: _contains(broker, queue, mid), timeout=30, what=f"item {n} dead-lettered"
        )
    assert await _depth(broker, queue) == 5
    assert await _ids(broker, queue) == sent[-5:]
    assert running.worker("builder").stats.dropped == 12
    await channel.close()


async def test_without_dead_letter_enabled_failed_items_are_only_dropped(
    rabbitmq_url: str, broker: aio_pika.abc.AbstractConnection, started: list[Running]
) -> None:
    name = f"dlq-{uuid.uuid4().hex[:8]}"
    running = await _start(started, rabbitmq_url, _swarm(name, [_generator("build", 8), BUILDER, SINK]))
    await running.enable()
    builder = running.worker("builder")
    await eventually(lambda: _value(builder.stats.dropped == 8), timeout=30, what="8 items dropped")
    assert await _depth(broker, naming.dead_letter_queue(name)) is None
    code, _, err = await _cli("tap", name, "--dead-letters", "--amqp", rabbitmq_url)
    assert code == 2
    assert f"has no dead-letter queue (hivekeeper.{name}.dead-letters does not exist" in err


async def test_a_dead_letter_queue_with_other_limits_is_alerted_with_the_fix_and_work_goes_on(
    rabbitmq_url: str, broker: aio_pika.abc.AbstractConnection, started: list[Running]
) -> None:
    name = f"dlq-{uuid.uuid4().hex[:8]}"
    queue = naming.dead_letter_queue(name)
    channel = await broker.channel()
    await channel.declare_queue(queue, durable=True, arguments=naming.dead_letter_arguments(3, 60))
    swarm = _swarm(name, [_generator("build", 20), BUILDER, SINK], dead_letter={"enabled": True, "maxLength": 5})
    running = await _start(started, rabbitmq_url, swarm)
    await running.enable()

    builder = running.worker("builder")
    await eventually(lambda: _value(builder.stats.dropped == 20), timeout=30, what="every item dropped")

    async def refused() -> list[Any]:
        return [a.data for a in running.local.controller.alerts if a.data["code"] == "deadletter.publish-failed"]

    alerts = await eventually(refused, timeout=30, what="a deadletter.publish-failed alert")
    assert f"rabbitmqctl delete_queue {queue}" in alerts[0]["message"]
    assert "maxLength 5, ttlSeconds 3600" in alerts[0]["message"]
    assert await _depth(broker, queue) == 0
    await channel.close()


async def test_a_local_run_counts_its_dead_letters_in_memory() -> None:
    swarm = _swarm(
        f"local-{uuid.uuid4().hex[:6]}", [_generator("build", 7), BUILDER, SINK], dead_letter={"enabled": True}
    )
    out = io.StringIO()
    result = await run(swarm, RunOptions(duration=1.0, out=out))
    assert result["deadLetters"] == 7
    assert f"7 dead letters in hivekeeper.{swarm.metadata.name}.dead-letters" in out.getvalue()
    plain = _swarm(f"local-{uuid.uuid4().hex[:6]}", [_generator("build", 7), BUILDER, SINK])
    assert (await run(plain, RunOptions(duration=1.0, out=io.StringIO())))["deadLetters"] == 0


def test_dead_letter_limits_and_the_reserved_alias_are_checked_with_the_fix() -> None:
    with pytest.raises(ConfigError, match=r"deadLetter\.maxLength: Input should be greater than or equal to 1"):
        role_configs.validate("request-builder", {"deadLetter": {"enabled": True, "maxLength": 0}})
    with pytest.raises(ValueError, match=r"work alias 'dead-letters' is reserved .* choose another alias"):
        _swarm("x", [_generator("dead-letters", 1)])
    headers = deadletter.failure_headers("c", "é" * 2000, "r", "i")
    assert len(headers[deadletter.HEADER_REASON].encode()) <= deadletter.REASON_LIMIT


# -- helpers ----------------------------------------------------------------------------------------------


def _documents(text: str) -> list[Any]:
    """The JSON documents printed one after another in ``text``."""
    decoder, found, at = json.JSONDecoder(), [], 0
    text = text.strip()
    while at < len(text):
        value, at = decoder.raw_decode(text, at)
        found.append(value)
        at += len(text[at:]) - len(text[at:].lstrip())
    return found


async def _value(value: Any, expected: Any = True) -> bool:
    if asyncio.iscoroutine(value):
        value = await value
    return bool(value == expected)


async def _ids(connection: aio_pika.abc.AbstractConnection, queue: str) -> list[str]:
    """The messageIds in ``queue``, in order, without taking them (get all, then give all back)."""
    channel = await connection.channel()
    try:
        declared = await channel.get_queue(queue)
        taken = []
        while (message := await declared.get(no_ack=False, fail=False)) is not None:
            taken.append(message)
        if taken:
            await taken[-1].nack(multiple=True, requeue=True)
        return [orjson.loads(body)["messageId"] for body in all_items(taken)]
    finally:
        with contextlib.suppress(Exception):
            await channel.close()


async def _contains(connection: aio_pika.abc.AbstractConnection, queue: str, message_id: str) -> bool:
    try:
        return message_id in await _ids(connection, queue)
    except aio_pika.exceptions.ChannelNotFoundEntity:
        return False
