"""A worker's /livez and /readyz on a real RabbitMQ, asked over HTTP on its metrics port (issue 18, item 5).

- a running worker answers both with 200, and its port still serves /metrics;
- an event loop that stops turning gets a 503 naming the stall (answered from a thread, not a timeout), and the
  termination message says so; a loop that turns again is live again, and the message is emptied;
- a custom worker whose loop blocks for good (tests/e2e/custom_worker, ``CUSTOM_STALL_AFTER_SECONDS``) fails the
  same way, as a process of its own;
- a lost broker fails /readyz at once and /livez past its bound; both pass again once the broker is back;
- a worker that cannot start says why in its termination message (``fatal: ...``), never with a password.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path

import aio_pika
import orjson
import pytest
import uvloop

from hivekeeper.protocol import envelope as env
from hivekeeper.protocol import naming
from hivekeeper.protocol.health import FATAL_PREFIX, TERMINATION_LOG_VARIABLE, UNHEALTHY_PREFIX
from hivekeeper.worker.env import WorkerEnv
from hivekeeper.worker.health import CONTROL_LOSS_VARIABLE, LOOP_STALL_VARIABLE
from hivekeeper.worker.main import serve
from testbench.procs import free_port
from testbench.rabbitmq import RabbitMQ
from testbench.waiting import eventually

pytestmark = pytest.mark.integration

CUSTOM_WORKER = Path(__file__).resolve().parents[1] / "e2e" / "custom_worker" / "worker.py"
CONFIG = {"baseUrl": "http://127.0.0.1:9", "threadCount": 1}
"""A processor's bootstrap config: it calls nothing here (no item is sent)."""


def _get(port: int, path: str) -> tuple[int, str]:
    """GET ``path`` on the worker's port: its status and body (a 503 is an answer, not an error)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as answer:
        with answer:
            return answer.code, answer.read().decode()


async def probe(port: int, path: str) -> tuple[int, str]:
    return await asyncio.to_thread(_get, port, path)


def _environment(url: str, swarm: str, port: int, termination: Path, **extra: str) -> dict[str, str]:
    return {
        "HIVEKEEPER_SWARM_ID": swarm,
        "HIVEKEEPER_ROLE": "caller",
        "HIVEKEEPER_ROLE_KIND": "processor",
        "HIVEKEEPER_INSTANCE": "caller-0",
        "HIVEKEEPER_AMQP_URL": url,
        "HIVEKEEPER_WORK_IN": "call",
        "HIVEKEEPER_CONFIG": orjson.dumps(CONFIG).decode(),
        "HIVEKEEPER_METRICS_PORT": str(port),
        "HIVEKEEPER_STATUS_INTERVAL": "1",
        TERMINATION_LOG_VARIABLE: str(termination),
        **extra,
    }


def _process_env(values: dict[str, str]) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("HIVEKEEPER_")}
    return {**base, **values}


@dataclass
class Control:
    """The test's side of a swarm's control plane: the events its workers publish, and a way to enable them."""

    swarm: str
    events: list[env.Envelope]
    exchange: aio_pika.abc.AbstractExchange

    async def started(self) -> env.Envelope:
        async def status_full() -> list[env.Envelope]:
            return [e for e in self.events if e.type == "status-full"]

        return (await eventually(status_full, timeout=30, what="the worker's start-up status-full"))[0]

    async def enable(self) -> None:
        first = await self.started()
        update = env.signal("config-update", first.scope, {"enabled": True}, origin="test")
        key = naming.signal_key("config-update", self.swarm, "caller", "caller-0")
        await self.exchange.publish(aio_pika.Message(update.to_json()), routing_key=key)


@asynccontextmanager
async def control_plane(url: str, swarm: str) -> AsyncIterator[Control]:
    connection = await aio_pika.connect(url)
    try:
        channel = await connection.channel()
        exchange = await channel.declare_exchange(naming.CONTROL_EXCHANGE, aio_pika.ExchangeType.TOPIC, durable=True)
        events: list[env.Envelope] = []
        listener = await channel.declare_queue(exclusive=True)
        await listener.bind(exchange, naming.events_binding(swarm))

        async def collect(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            async with message.process():
                events.append(env.parse(message.body))

        await listener.consume(collect)
        yield Control(swarm, events, exchange)
    finally:
        with contextlib.suppress(Exception):  # the broker may have gone away under it (the loss test)
            await connection.close()


async def ready(port: int) -> None:
    async def answered_ok() -> bool:
        return await probe(port, "/readyz") == (200, "ok\n")

    await eventually(answered_ok, timeout=30, what="/readyz 200 ok")


@contextmanager
def worker_in_thread(values: dict[str, str]) -> Iterator[asyncio.AbstractEventLoop]:
    """``serve`` on a uvloop of its own thread, as ``hivekeeper worker`` runs it; yields that loop (block it with
    ``call_soon_threadsafe``); stopped as SIGTERM would stop it."""
    stop = asyncio.Event()
    loops: list[asyncio.AbstractEventLoop] = []
    running = threading.Event()
    failure: list[BaseException] = []

    def run() -> None:
        try:
            with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
                loops.append(runner.get_loop())
                running.set()
                runner.run(serve(WorkerEnv.from_environ(values), stop))
        except BaseException as exc:
            failure.append(exc)
        finally:
            running.set()

    thread = threading.Thread(target=run, name="worker-loop")
    thread.start()
    running.wait(30)
    try:
        assert loops, failure
        yield loops[0]
    finally:
        if loops and not loops[0].is_closed():
            loops[0].call_soon_threadsafe(stop.set)
        thread.join(60)
    assert not thread.is_alive(), "the worker did not stop within 60 s"
    assert not failure, failure


async def test_a_running_worker_is_live_and_ready_and_its_port_still_serves_metrics(
    rabbitmq_url: str, tmp_path: Path
) -> None:
    swarm, port = f"health-{uuid.uuid4().hex[:6]}", free_port()
    async with control_plane(rabbitmq_url, swarm) as control:
        with worker_in_thread(_environment(rabbitmq_url, swarm, port, tmp_path / "termination-log")):
            await control.started()
            await ready(port)
            assert await probe(port, "/livez") == (200, "ok\n")
            await control.enable()
            assert await probe(port, "/livez") == (200, "ok\n")
            status, metrics = await probe(port, "/metrics")
            assert status == 200
            assert f'hivekeeper_items_processed_total{{instance="caller-0",role="caller",run="",swarm="{swarm}"}}' in (
                metrics
            )
            assert (await probe(port, "/nothing-here"))[0] == 404
    assert not (tmp_path / "termination-log").exists(), "a healthy worker writes no termination message"


async def test_a_blocked_event_loop_gets_a_503_naming_the_stall_and_the_termination_message_says_so(
    rabbitmq_url: str, tmp_path: Path
) -> None:
    swarm, port, termination = f"health-{uuid.uuid4().hex[:6]}", free_port(), tmp_path / "termination-log"
    values = _environment(rabbitmq_url, swarm, port, termination, **{LOOP_STALL_VARIABLE: "2"})
    async with control_plane(rabbitmq_url, swarm) as control:
        with worker_in_thread(values) as loop:
            await control.enable()
            await ready(port)
            blocked_at = time.monotonic()
            loop.call_soon_threadsafe(time.sleep, 6)  # a blocking call on the worker's loop

            async def stalled() -> str | None:
                status, body = await probe(port, "/livez")
                return body if status == 503 else None

            reason = await eventually(stalled, timeout=5, what="/livez 503 while the loop is blocked")
            assert reason.startswith("event loop has not turned for "), reason
            assert f"(bound 2 s, {LOOP_STALL_VARIABLE})" in reason
            assert time.monotonic() - blocked_at < 6, "answered while the loop was still blocked"
            status, why_not_ready = await probe(port, "/readyz")
            assert status == 503
            assert why_not_ready.startswith("event loop has not turned for ")
            written = termination.read_text()
            assert written.startswith(UNHEALTHY_PREFIX + "event loop has not turned for "), written

            await ready(port)  # the sleep ended: the loop turns again
            assert await probe(port, "/livez") == (200, "ok\n")
            assert termination.read_text() == "", "recovered: the message no longer says why the worker would end"


async def test_a_custom_worker_whose_loop_blocks_for_good_fails_its_liveness_check(
    rabbitmq_url: str, tmp_path: Path
) -> None:
    swarm, port, termination = f"health-{uuid.uuid4().hex[:6]}", free_port(), tmp_path / "termination-log"
    values = _environment(rabbitmq_url, swarm, port, termination, **{LOOP_STALL_VARIABLE: "2"})
    values.update(HIVEKEEPER_ROLE_KIND="custom", CUSTOM_ROLE="processor", CUSTOM_STALL_AFTER_SECONDS="8")
    log_path = tmp_path / "custom-worker.log"
    async with control_plane(rabbitmq_url, swarm) as control:
        with log_path.open("w") as log:
            process = await asyncio.create_subprocess_exec(
                sys.executable, str(CUSTOM_WORKER), stdout=log, stderr=subprocess.STDOUT, env=_process_env(values)
            )
        try:
            await control.started()
            assert await probe(port, "/livez") == (200, "ok\n")

            async def stalled() -> str | None:
                status, body = await probe(port, "/livez")
                return body if status == 503 else None

            reason = await eventually(stalled, timeout=30, what="/livez 503 once the custom worker's loop blocks")
            assert reason.startswith("event loop has not turned for "), reason
            assert termination.read_text().startswith(UNHEALTHY_PREFIX + "event loop has not turned for ")
            assert process.returncode is None, "the worker still runs: the kubelet is what restarts it"
        finally:
            process.kill()  # its loop is blocked: SIGTERM would wait for it
            await process.wait()
    output = log_path.read_text()
    assert "the event loop blocks in 8 s (CUSTOM_STALL_AFTER_SECONDS)" in output, output


async def test_a_lost_broker_fails_readiness_at_once_and_liveness_past_its_bound_and_both_recover(
    own_broker: RabbitMQ, tmp_path: Path
) -> None:
    swarm, port, termination = f"health-{uuid.uuid4().hex[:6]}", free_port(), tmp_path / "termination-log"
    values = _environment(own_broker.url, swarm, port, termination, **{CONTROL_LOSS_VARIABLE: "5"})
    log_path = tmp_path / "worker.log"
    stopped = False
    async with control_plane(own_broker.url, swarm) as control:
        with log_path.open("w") as log:
            process = await asyncio.create_subprocess_exec(
                *(sys.executable, "-m", "hivekeeper.cli", "worker"),
                stdout=log,
                stderr=subprocess.STDOUT,
                env=_process_env(values),
            )
        try:
            await control.enable()
            await ready(port)
            stopping = asyncio.create_task(asyncio.to_thread(own_broker.stop))
            stopped = True

            async def not_ready() -> str | None:
                status, body = await probe(port, "/readyz")
                return body if status == 503 else None

            reason = await eventually(not_ready, timeout=15, what="/readyz 503 once the broker stops")
            assert reason.startswith("control connection lost "), reason
            assert reason.endswith(" s ago; reconnecting\n"), reason
            assert await probe(port, "/livez") == (200, "ok\n"), "lost for less than its bound: still live"

            async def not_live() -> str | None:
                status, body = await probe(port, "/livez")
                return body if status == 503 else None

            reason = await eventually(not_live, timeout=20, what="/livez 503 once the loss outlasts its bound")
            assert reason.startswith("control connection lost "), reason
            assert f"(bound 5 s, {CONTROL_LOSS_VARIABLE}): a restart opens a fresh one" in reason
            assert termination.read_text().startswith(UNHEALTHY_PREFIX + "control connection lost ")
            await stopping

            await asyncio.to_thread(own_broker.restart)
            stopped = False
            await ready(port)  # aio-pika reconnects by itself
            assert await probe(port, "/livez") == (200, "ok\n")
            assert termination.read_text() == ""
            assert process.returncode is None, log_path.read_text()[-3000:]
        finally:
            if stopped:
                await asyncio.to_thread(own_broker.restart)  # the node is shared by the session: put it back
            if process.returncode is None:
                process.terminate()
                await asyncio.wait_for(process.wait(), 60)


def _run_worker(values: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hivekeeper.cli", "worker"],
        env=_process_env(values),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_a_worker_that_cannot_start_says_why_in_its_termination_message(rabbitmq_url: str, tmp_path: Path) -> None:
    termination = tmp_path / "termination-log"
    secret_url = "amqp://hive:Sup3rSecretPass@127.0.0.1:{port}/"

    bad_env = _environment(secret_url.format(port=5672), "bad.id", 0, termination, **{LOOP_STALL_VARIABLE: "0"})
    done = _run_worker(bad_env)
    assert done.returncode == 2
    written = termination.read_text()
    assert written.startswith(FATAL_PREFIX + "the worker cannot start; fix its environment:"), written
    assert f"{LOOP_STALL_VARIABLE}='0' must be a number of seconds from 2 to 3600" in written
    assert "HIVEKEEPER_SWARM_ID: swarmId 'bad.id' cannot be used" in written

    closed = free_port()
    unreachable = _run_worker(_environment(secret_url.format(port=closed), "health-x", 0, termination))
    assert unreachable.returncode == 1, unreachable.stderr
    written = termination.read_text()
    assert written.startswith(f"{FATAL_PREFIX}broker unreachable at start: amqp://hive:***@127.0.0.1:{closed}/"), (
        written
    )
    assert "Sup3rSecretPass" not in written
    assert "Sup3rSecretPass" not in unreachable.stderr

    rejected = _environment(rabbitmq_url, "health-y", 0, termination, HIVEKEEPER_CONFIG='{"threadCount": "many"}')
    done = _run_worker(rejected)
    assert done.returncode == 2, done.stderr
    written = termination.read_text()
    assert written.startswith(FATAL_PREFIX + "bootstrap config rejected: "), written
    assert "threadCount" in written
