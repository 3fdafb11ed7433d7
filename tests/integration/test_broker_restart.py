"""``hivekeeper run --broker`` through a RabbitMQ restart: generator -> request-builder -> processor on a real
node of this module alone, restarted mid-run. The run survives, says so, and its summary accounts for what the
restart did; every request is counted at the SUT by the item's correlation id (lost and duplicated items)."""

from __future__ import annotations

import asyncio
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import orjson
import pytest
import yaml

from testbench.rabbitmq import RabbitMQ
from testbench.scripted_http import ScriptedServer, scripted_server
from testbench.waiting import eventually

pytestmark = pytest.mark.integration
RATE = 100
CORRELATION = re.compile(rb"\r\nX-Correlation-Id: ([^\r]+)\r\n", re.IGNORECASE)


@pytest.fixture
async def sut() -> AsyncIterator[ScriptedServer]:
    async with scripted_server() as server:
        yield server


def _manifest(sut_url: str) -> dict[str, object]:
    return {
        "apiVersion": "hivekeeper.io/v1alpha1",
        "kind": "Swarm",
        "metadata": {"name": "restart"},
        "spec": {
            "sut": {"endpoints": {"default": {"baseUrl": sut_url}}},
            "templates": [{"serviceId": "svc", "callId": "hello", "method": "GET", "pathTemplate": "/hello"}],
            "roles": [
                {
                    "name": "feeder",
                    "role": "generator",
                    "work": {"out": "build"},
                    "config": {
                        "inputs": {"type": "SCHEDULER", "scheduler": {"ratePerSec": RATE}},
                        "message": {"bodyType": "SIMPLE", "body": "{}", "headers": {"x-ph-call-id": "hello"}},
                    },
                },
                {
                    "name": "builder",
                    "role": "request-builder",
                    "work": {"in": "build", "out": "call"},
                    "config": {"serviceId": "svc"},
                },
                {
                    "name": "caller",
                    "role": "processor",
                    "work": {"in": "call"},
                    "config": {"baseUrl": "{{ sut.endpoints.default.baseUrl }}", "threadCount": 4},
                },
            ],
        },
    }


async def test_a_broker_restart_mid_run_is_survived_and_the_summary_accounts_for_it(
    own_broker: RabbitMQ, sut: ScriptedServer, tmp_path: Path
) -> None:
    manifest = tmp_path / "swarm.yaml"
    manifest.write_text(yaml.safe_dump(_manifest(sut.url)))
    summary = tmp_path / "summary.json"
    log = tmp_path / "run.log"
    with log.open("w") as out:
        run = await asyncio.create_subprocess_exec(
            *(sys.executable, "-m", "hivekeeper.cli", "run", "--broker", own_broker.url, "--duration", "180"),
            *("--interval", "1", "--json", str(summary), str(manifest)),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:

        async def flowing() -> bool:
            return len(sut.requests) >= 2 * RATE

        await eventually(flowing, timeout=30, what="two seconds of requests at the SUT before the restart")
        before = len(sut.requests)
        restarted_at = time.monotonic()
        await asyncio.to_thread(own_broker.restart)

        async def flowing_again() -> float | None:
            return time.monotonic() - restarted_at if len(sut.requests) >= before + RATE else None

        recovered = await eventually(flowing_again, timeout=90, what="requests at the SUT again after the restart")
        # The run ends when we say (Ctrl-C) once the traffic is back: a loaded machine may take longer to restart
        # the broker than a fixed duration would leave.
        run.send_signal(signal.SIGINT)
        code = await asyncio.wait_for(run.wait(), 60)
    finally:
        if run.returncode is None:
            run.kill()
            await run.wait()
    output = log.read_text()
    assert code == 0, output[-3000:]
    assert "broker unreachable" in output, output[-3000:]
    assert "broker reachable again" in output, output[-3000:]
    result = orjson.loads(summary.read_bytes())
    assert result["brokerOutages"] >= 1
    roles = {r["name"]: r for r in result["roles"]}
    ids = Counter(m.group(1) for request in sut.requests if (m := CORRELATION.search(request)))
    unique, duplicates = len(ids), sum(n - 1 for n in ids.values())
    generated = roles["feeder"]["processed"]
    left = sum(result["leftInQueues"].values())
    lost = generated - unique - left - roles["builder"]["dropped"] - roles["caller"]["dropped"]
    figures = (
        f"generated {generated}, called {unique} distinct items, {duplicates} duplicates, {left} left in queues, "
        f"{lost} lost; requests again {recovered:.1f}s after the restart began"
    )
    print(figures)
    assert unique > 0, figures
    assert result.get("redelivered", -1) >= duplicates, f"every duplicate at the SUT was a redelivery: {figures}"
    # What a restart costs: transient messages that were queued die with the node (the work plane publishes
    # persistent messages to durable queues, so none should), and at most the deliveries in flight repeat.
    assert lost == 0, figures
    unbalanced = [b for b in result["queueBooks"] if b["unaccounted"] > 0]
    assert not unbalanced, f"the summary's own books show lost items: {unbalanced}"
