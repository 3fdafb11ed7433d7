"""``hivekeeper worker`` as a real process: env contract, metrics, structured logs, correlation header."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import urllib.request
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aio_pika
import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families

from hivekeeper.operator import latency
from hivekeeper.operator.observations import Observations
from hivekeeper.protocol import batch, naming
from hivekeeper.protocol import envelope as env
from hivekeeper.protocol.signing import SIGNATURE_HEADER, Signer
from hivekeeper.protocol.workitem import new_item
from hivekeeper.worker.metrics import DURATION
from hivekeeper.worker.transports.rabbit import control as rabbit_control
from testbench.dashboard import dashboard_metrics
from testbench.procs import free_port
from testbench.scripted_http import ScriptedServer, scripted_server
from testbench.waiting import eventually

pytestmark = pytest.mark.integration


def _env(**values: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("HIVEKEEPER_")}
    base.update(values)
    return base


def test_a_worker_without_its_environment_names_every_missing_variable() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "hivekeeper.cli", "worker"],
        env=_env(HOSTNAME=""),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 2
    for name in (
        "HIVEKEEPER_SWARM_ID",
        "HIVEKEEPER_ROLE",
        "HIVEKEEPER_ROLE_KIND",
        "HIVEKEEPER_AMQP_URL",
        "HIVEKEEPER_INSTANCE",
    ):
        assert f"{name} is not set" in done.stderr


def test_malformed_values_are_reported_together(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "hivekeeper.cli", "worker"],
        env=_env(
            HIVEKEEPER_SWARM_ID="bad.id",
            HIVEKEEPER_ROLE="r",
            HIVEKEEPER_ROLE_KIND="processor",
            HIVEKEEPER_AMQP_URL="amqp://x",
            HIVEKEEPER_INSTANCE="i",
            HIVEKEEPER_CONFIG="{oops",
            HIVEKEEPER_METRICS_PORT="http",
            HIVEKEEPER_STOP_GRACE_SECONDS="-1",
        ),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 2
    assert "HIVEKEEPER_SWARM_ID: swarmId 'bad.id' cannot be used" in done.stderr
    assert "HIVEKEEPER_CONFIG is not valid JSON" in done.stderr
    assert "HIVEKEEPER_METRICS_PORT='http' is not a port number" in done.stderr
    assert "HIVEKEEPER_STOP_GRACE_SECONDS='-1' must be a number of seconds from 0 to 3600" in done.stderr
    assert "amqp://x" not in done.stderr, "URLs carry credentials and are never printed"


@pytest.fixture
async def sut() -> AsyncIterator[ScriptedServer]:
    async with scripted_server() as server:
        yield server


@dataclass
class Running:
    """A ``hivekeeper worker`` processor process, enabled, and the broker side the test talks to."""

    swarm: str
    process: asyncio.subprocess.Process
    channel: aio_pika.abc.AbstractChannel
    events: list[env.Envelope]
    log_path: Path
    control: aio_pika.abc.AbstractExchange
    enabling: aio_pika.Message
    """The config-update that enabled it, as sent (signed: with the signature header)."""


def _message(signal: env.Envelope, signer: Signer | None) -> aio_pika.Message:
    """``signal`` as its sender publishes it: signed by ``signer`` in the header beside the body, when given."""
    body = signal.to_json()
    return aio_pika.Message(body, headers={SIGNATURE_HEADER: signer.sign(body)} if signer else None)


@asynccontextmanager
async def processor_process(
    rabbitmq_url: str,
    config: dict[str, Any],
    tmp_path: Path,
    metrics_port: int = 0,
    signer: Signer | None = None,
    swarm: str | None = None,
    instance: str = "caller-0",
    work_in: str = "call",
    **extra_env: str,
) -> AsyncIterator[Running]:
    """Start the worker as its pod would, wait for its start-up status, enable it; on exit, SIGTERM."""
    swarm = swarm or f"proc-{uuid.uuid4().hex[:6]}"
    log_path = tmp_path / f"worker-{uuid.uuid4().hex[:4]}.log"
    with log_path.open("w") as log:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "hivekeeper.cli",
            "worker",
            stdout=log,
            stderr=subprocess.STDOUT,
            env=_env(
                HIVEKEEPER_SWARM_ID=swarm,
                HIVEKEEPER_ROLE="caller",
                HIVEKEEPER_ROLE_KIND="processor",
                HIVEKEEPER_INSTANCE=instance,
                HIVEKEEPER_AMQP_URL=rabbitmq_url,
                HIVEKEEPER_WORK_IN=work_in,
                HIVEKEEPER_CONFIG=orjson.dumps(config).decode(),
                HIVEKEEPER_METRICS_PORT=str(metrics_port),
                HIVEKEEPER_STATUS_INTERVAL="1",
                **({"HIVEKEEPER_SIGNAL_KEY": signer.public_key()} if signer else {}),
                **extra_env,
            ),
        )
    connection = await aio_pika.connect(rabbitmq_url)
    try:
        channel = await connection.channel()
        control = await channel.declare_exchange(naming.CONTROL_EXCHANGE, aio_pika.ExchangeType.TOPIC, durable=True)
        events: list[env.Envelope] = []
        listener = await channel.declare_queue(exclusive=True)
        await listener.bind(control, naming.events_binding(swarm))

        async def collect(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            async with message.process():
                events.append(env.parse(message.body))

        await listener.consume(collect)

        async def started() -> list[env.Envelope]:
            return [e for e in events if e.type == "status-full" and e.scope.instance == instance]

        [first] = await eventually(started, timeout=30, what="the worker's start-up status-full")
        assert first.data["enabled"] is False
        assert first.data["io"]["work"]["queues"]["in"] == [naming.work_queue(swarm, work_in)]

        enabling = _message(env.signal("config-update", first.scope, {"enabled": True}, origin="test"), signer)
        await control.publish(enabling, naming.signal_key("config-update", swarm, "caller", instance))
        yield Running(swarm, process, channel, events, log_path, control, enabling)
    finally:
        if process.returncode is None:
            process.terminate()
            await asyncio.wait_for(process.wait(), 30)
        await connection.close()


async def _publish_call(
    running: Running, path: str, headers: dict[str, str] | None = None, alias: str = "call"
) -> None:
    swarm, channel = running.swarm, running.channel
    request = {"kind": "http.request", "request": {"method": "GET", "path": path, "headers": {}}}
    item = new_item(
        orjson.dumps(request).decode(), swarm=swarm, service="builder", instance="b-0", headers=headers or {}
    )
    work = await rabbit_control.declare_work_queue(
        channel, naming.work_exchange(swarm), naming.work_queue(swarm, alias)
    )
    exchange = await channel.get_exchange(naming.work_exchange(swarm))
    await exchange.publish(aio_pika.Message(item.to_json()), routing_key=work.name)


async def test_a_processor_process_calls_the_sut_with_the_correlation_id_and_reports_it(
    rabbitmq_url: str, sut: ScriptedServer, tmp_path: Path
) -> None:
    metrics_port = free_port()
    config = {"baseUrl": sut.url, "threadCount": 4, "timeoutMs": 2000}
    async with processor_process(rabbitmq_url, config, tmp_path, metrics_port) as running:
        await _publish_call(running, "/hello", {"correlationId": "corr-123"})

        async def called() -> bytes | None:
            return next((r for r in sut.requests if r.startswith(b"GET /hello ")), None)

        received = await eventually(called, timeout=15, what="the processor's request at the SUT")
        assert b"X-Correlation-Id: corr-123\r\n" in received

        def scrape() -> str:
            with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=2) as response:
                return str(response.read().decode())

        async def counted() -> str | None:
            text = await asyncio.to_thread(scrape)
            return text if "hivekeeper_items_processed_total{" in text and "} 1.0" in text else None

        metrics = await eventually(counted, timeout=15, what="the processed counter at /metrics")
        assert f'instance="caller-0",role="caller",run="",swarm="{running.swarm}"' in metrics
        assert "hivekeeper_http_responses_total{" in metrics
        [duration] = [f for f in text_string_to_metric_families(metrics) if f.name == DURATION]
        buckets = [s for s in duration.samples if s.name.endswith("_bucket")]
        assert buckets[-1].labels["le"] == "+Inf"
        assert buckets[-1].value == 1.0, "the one call, in seconds buckets"
        assert buckets[-1].labels["step"] == ""
        exported = {sample.name for family in text_string_to_metric_families(metrics) for sample in family.samples}
        missing = dashboard_metrics() - exported
        assert not missing, f"the chart's Grafana dashboard queries metrics this worker does not export: {missing}"
        running.process.terminate()
        returncode = await asyncio.wait_for(running.process.wait(), 15)
    log_path, swarm = running.log_path, running.swarm
    assert returncode == 0, f"SIGTERM stops the worker cleanly; log: {log_path.read_text()[-2000:]}"
    lines = [orjson.loads(line) for line in log_path.read_text().splitlines() if line.startswith("{")]
    started_line = next(line for line in lines if line["message"] == "worker started disabled")
    assert (started_line["swarmId"], started_line["role"], started_line["instance"]) == (swarm, "caller", "caller-0")
    assert rabbitmq_url not in log_path.read_text()


async def test_a_worker_process_renders_who_it_is_from_its_pod_environment(
    rabbitmq_url: str, sut: ScriptedServer, tmp_path: Path
) -> None:
    names = "{{ swarmId }}/{{ role }}/{{ instanceId }}/{{ runId }}-{{ tenantId }}-end"
    config = {"baseUrl": f"{sut.url}/{names}", "templating": {"runId": "run-3", "undefined": "empty"}}
    async with processor_process(rabbitmq_url, config, tmp_path, instance="caller-7f9c") as running:
        await _publish_call(running, "/hello")
        prefix = f"GET /{running.swarm}/caller/caller-7f9c/run-3--end/hello ".encode()

        async def called() -> bytes | None:
            return next((r for r in sut.requests if r.startswith(prefix)), None)

        await eventually(called, timeout=15, what=f"a request to {prefix!r} at the SUT")


async def test_sigterm_lets_a_call_in_flight_finish_and_acknowledges_it_instead_of_redelivering(
    rabbitmq_url: str, sut: ScriptedServer, tmp_path: Path
) -> None:
    config = {"baseUrl": sut.url, "threadCount": 4, "timeoutMs": 5000}
    async with processor_process(rabbitmq_url, config, tmp_path, HIVEKEEPER_STOP_GRACE_SECONDS="7") as running:
        await _publish_call(running, "/slow")

        async def calling() -> bool:
            return any(r.startswith(b"GET /slow ") for r in sut.requests)

        await eventually(calling, timeout=15, what="the processor's call to /slow")
        running.process.terminate()
        returncode = await asyncio.wait_for(running.process.wait(), 30)
        queue = await running.channel.declare_queue(naming.work_queue(running.swarm, "call"), passive=True)
        assert queue.declaration_result.message_count == 0, "the item was acknowledged, not handed back to the broker"
    log = running.log_path.read_text()
    assert returncode == 0, log[-2000:]
    lines = [orjson.loads(line) for line in log.splitlines() if line.startswith("{")]
    [stopping] = [line for line in lines if line["message"] == "stopping: letting items in flight finish"]
    assert (stopping["inFlight"], stopping["graceSeconds"]) == (1, 7.0), "the grace set in the environment"


async def test_a_worker_with_a_signal_key_obeys_only_its_operators_fresh_signed_signals(
    rabbitmq_url: str, sut: ScriptedServer, tmp_path: Path
) -> None:
    """Anyone with a broker credential can publish to the control exchange; a worker given the operator's public
    key refuses unsigned, foreign-signed, stale and replayed signals (an alert each), keeps its config, and obeys
    the operator's signed ones."""
    import datetime as dt

    operator, intruder = Signer.generate(), Signer.generate()
    config = {"baseUrl": sut.url, "threadCount": 2, "timeoutMs": 2000}
    async with processor_process(rabbitmq_url, config, tmp_path, signer=operator) as running:
        scope = env.Scope(swarmId=running.swarm, role="caller", instance="caller-0")
        key = naming.signal_key("config-update", running.swarm, "caller", "caller-0")
        steer = {"baseUrl": "http://192.0.2.1:9"}
        stale = env.signal("config-update", scope, steer, origin="operator").model_copy(
            update={"timestamp": (dt.datetime.now(dt.UTC) - dt.timedelta(minutes=10)).isoformat()}
        )
        forged = [
            (_message(env.signal("config-update", scope, steer, origin="operator"), None), "unsigned", "is not signed"),
            (_message(env.signal("config-update", scope, steer, origin="o"), intruder), "forged", "does not match"),
            (_message(stale, operator), "stale", "signals older than 300s are refused"),
            (running.enabling, "replayed", "already received (a replay)"),
        ]
        for message, _, _ in forged:
            await running.control.publish(message, key)

        async def refusals() -> dict[str, str] | None:
            found = {
                str(e.data["code"]): str(e.data["message"])
                for e in running.events
                if e.kind == "event" and str(e.data.get("code", "")).startswith("control.signal-")
            }
            return found if len(found) == len(forged) else None

        alerts = await eventually(refusals, timeout=15, what="one control.signal-* alert per forged signal")
        for _, code, why in forged:
            assert why in alerts[f"control.signal-{code}"], alerts
        assert str((running.enabling.headers or {})[SIGNATURE_HEADER]) not in running.log_path.read_text()

        await _publish_call(running, "/still-here")

        async def called() -> bool:
            return any(r.startswith(b"GET /still-here ") for r in sut.requests)

        await eventually(called, timeout=15, what="the call at the real SUT: the forged baseUrl was never applied")

        signed = env.signal("config-update", scope, {"threadCount": 3}, origin="operator")
        await running.control.publish(_message(signed, operator), key)

        async def applied() -> bool:
            return any(
                e.kind == "outcome" and e.correlationId == signed.correlationId and e.data["status"] == "Applied"
                for e in running.events
            )

        await eventually(applied, timeout=15, what="the operator's signed config-update applied")


async def test_a_sigkilled_worker_loses_no_item_and_repeats_only_those_it_had_in_flight(
    rabbitmq_url: str, sut: ScriptedServer, tmp_path: Path
) -> None:
    """SIGKILL (no grace, no acks) with calls in flight: the broker gives every unacknowledged item to the next
    worker. Counted at the SUT by correlation id: nothing lost, and the only repeats are the calls in flight."""
    import re
    import signal
    from collections import Counter

    config = {"baseUrl": sut.url, "threadCount": 4, "timeoutMs": 5000}
    ids = [f"kill-{n:02d}" for n in range(20)]
    swarm = f"kill-{uuid.uuid4().hex[:6]}"
    async with processor_process(rabbitmq_url, config, tmp_path, swarm=swarm) as first:
        for correlation in ids:
            await _publish_call(first, "/slow", {"correlationId": correlation})

        async def calls_in_flight() -> bool:
            return sum(r.startswith(b"GET /slow ") for r in sut.requests) >= 4

        await eventually(calls_in_flight, timeout=15, what="four calls to /slow in flight")
        in_flight_at_kill = sum(r.startswith(b"GET /slow ") for r in sut.requests)
        first.process.send_signal(signal.SIGKILL)
        assert await asyncio.wait_for(first.process.wait(), 10) == -signal.SIGKILL
    async with processor_process(rabbitmq_url, config, tmp_path, swarm=swarm) as second:
        queue = naming.work_queue(swarm, "call")

        async def all_called_and_acked() -> bool:
            seen = {m.group(1).decode() for r in sut.requests if (m := re.search(rb"X-Correlation-Id: (\S+)", r))}
            declared = await second.channel.declare_queue(queue, passive=True)
            return seen >= set(ids) and declared.declaration_result.message_count == 0

        await eventually(all_called_and_acked, timeout=60, what="every item called after the kill, the queue empty")
    calls = Counter(m.group(1).decode() for r in sut.requests if (m := re.search(rb"X-Correlation-Id: (\S+)", r)))
    repeated = sum(n - 1 for n in calls.values())
    print(
        f"SIGKILL with {in_flight_at_kill} calls in flight: {len(calls)} of {len(ids)} items called, {repeated} twice"
    )
    assert set(calls) == set(ids), "nothing lost"
    assert repeated <= in_flight_at_kill, f"only calls in flight at the kill repeat: {calls}"


async def _publish_batch(running: Running, path: str, correlations: list[str]) -> None:
    """One batch message (decision 0013) of a call per correlation id, as a batching builder would send it."""
    swarm, channel = running.swarm, running.channel
    request = orjson.dumps({"kind": "http.request", "request": {"method": "GET", "path": path, "headers": {}}})
    bodies = [
        new_item(
            request.decode(), swarm=swarm, service="builder", instance="b-0", headers={"correlationId": c}
        ).to_json()
        for c in correlations
    ]
    work = await rabbit_control.declare_work_queue(
        channel, naming.work_exchange(swarm), naming.work_queue(swarm, "call")
    )
    exchange = await channel.get_exchange(naming.work_exchange(swarm))
    message = aio_pika.Message(batch.encode(bodies), headers={batch.BATCH_HEADER: len(bodies)})
    await exchange.publish(message, routing_key=work.name)


async def test_a_sigkilled_worker_with_batches_in_hand_loses_no_item_and_repeats_only_items_of_those_batches(
    rabbitmq_url: str, sut: ScriptedServer, tmp_path: Path
) -> None:
    """The fault above with items in batches: a batch is acknowledged only when all its items are settled, so the
    broker redelivers every batch the killed worker held, whole. Nothing is lost, and what repeats belongs to a
    batch that had a call in flight or done (at-least-once per batch, docs/worker.md)."""
    import re
    import signal
    from collections import Counter

    config = {"baseUrl": sut.url, "threadCount": 4, "timeoutMs": 5000}
    batches = [[f"kill-{b}-{n}" for n in range(5)] for b in range(4)]
    swarm = f"killb-{uuid.uuid4().hex[:6]}"

    def called() -> Counter[str]:
        return Counter(m.group(1).decode() for r in sut.requests if (m := re.search(rb"X-Correlation-Id: (\S+)", r)))

    async with processor_process(rabbitmq_url, config, tmp_path, swarm=swarm) as first:
        for ids in batches:
            await _publish_batch(first, "/slow", ids)

        async def calls_in_flight() -> bool:
            return sum(r.startswith(b"GET /slow ") for r in sut.requests) >= 4

        await eventually(calls_in_flight, timeout=15, what="four calls to /slow in flight")
        before_kill = set(called())
        first.process.send_signal(signal.SIGKILL)
        assert await asyncio.wait_for(first.process.wait(), 10) == -signal.SIGKILL
    every = {c for ids in batches for c in ids}
    async with processor_process(rabbitmq_url, config, tmp_path, swarm=swarm) as second:
        queue = naming.work_queue(swarm, "call")

        async def all_called_and_acked() -> bool:
            declared = await second.channel.declare_queue(queue, passive=True)
            return set(called()) >= every and declared.declaration_result.message_count == 0

        await eventually(all_called_and_acked, timeout=60, what="every item called after the kill, the queue empty")
    calls = called()
    touched = {c for ids in batches if before_kill & set(ids) for c in ids}
    repeated = {c for c, n in calls.items() if n > 1}
    print(
        f"SIGKILL with batches in hand: {len(before_kill)} called before, {len(repeated)} repeated: {sorted(repeated)}"
    )
    assert set(calls) == every, "nothing lost"
    assert repeated <= touched, f"only items of batches the killed worker had started repeat: {calls}"
    assert all(n <= 2 for n in calls.values()), calls


async def test_two_processes_status_histograms_merge_to_the_percentile_of_all_their_requests(
    rabbitmq_url: str, sut: ScriptedServer, tmp_path: Path
) -> None:
    """One caller answers 98 fast calls, the other 2 slow ones (1 s): the role's p95, merged from the histograms
    their status reports carry (read as the operator reads them), is the fast calls', not the slow instance's."""
    swarm = f"lat-{uuid.uuid4().hex[:6]}"
    config = {"baseUrl": sut.url, "threadCount": 8, "timeoutMs": 5000}
    async with (
        processor_process(rabbitmq_url, config, tmp_path, swarm=swarm, instance="caller-fast", work_in="fast") as fast,
        processor_process(rabbitmq_url, config, tmp_path, swarm=swarm, instance="caller-slow", work_in="slow") as slow,
    ):
        for _ in range(98):
            await _publish_call(fast, "/hello", alias="fast")
        for _ in range(2):
            await _publish_call(slow, "/slow", alias="slow")
        events = fast.events  # both listeners hear every event of the swarm

        async def reported() -> Observations | None:
            seen = Observations()
            seen.manage(swarm, "caller")
            for event in list(events):
                seen.record(event, now=0.0)  # as the operator's consumer does: validated, malformed refused
            instances = seen.instances(swarm, "caller")
            done = [i for i in instances if i.latency_since_start and i.latency_since_start.role.count]
            return seen if sum(i.latency_since_start.role.count for i in done if i.latency_since_start) == 100 else None

        seen = await eventually(reported, timeout=30, what="status reports covering all 100 calls")
        instances = seen.instances(swarm, "caller")
        merged = latency.since_start(instances)
        slow_only = latency.since_start([i for i in instances if i.name == "caller-slow"])
        assert merged.count == 100
        assert merged.percentile_ms(95) < 500, f"p95 of all calls is a fast one: {merged.percentile_ms(95)} ms"
        assert merged.percentile_ms(99) >= 1000, "the 99th call is a slow one"
        assert slow_only.percentile_ms(95) >= 1000, "the worst-instance rule would have said over 1 s"
        [last_slow] = [e for e in events if e.scope.instance == "caller-slow" and e.type == "status-delta"][-1:]
        since_start = last_slow.data["context"]["latencyMsSinceStart"]
        assert since_start["p95"] == slow_only.percentile_ms(95), "the wire form gives the worker's own percentiles"
    assert slow.process.returncode is not None
