"""The processor against real HTTP services: direct mode, rate mode, timeouts, TLS verification, template dirs."""

from __future__ import annotations

import asyncio
import io
import ssl
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from hivekeeper.api.swarm import Swarm
from hivekeeper.local import demo_sut
from hivekeeper.local.runner import RunOptions, run
from testbench.pki import make_pki
from testbench.waiting import eventually
from testbench.workers import WorkerHarness

pytestmark = pytest.mark.integration


async def _serve(delay_ms: float = 0.0, tls: ssl.SSLContext | None = None) -> tuple[asyncio.Server, str]:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: demo_sut.DemoHandler(delay_ms / 1000, 0.0), "127.0.0.1", 0, ssl=tls)
    scheme = "https" if tls else "http"
    return server, f"{scheme}://127.0.0.1:{server.sockets[0].getsockname()[1]}"


@pytest.fixture
async def sut() -> AsyncIterator[str]:
    server, url = await _serve()
    yield url
    server.close()


def _direct(url: str, rate: float, max_messages: int, **processor: Any) -> Swarm:
    config = {
        "baseUrl": url,
        "inputs": {"type": "SCHEDULER", "scheduler": {"ratePerSec": rate, "maxMessages": max_messages}},
        "request": {"method": "GET", "path": "/cards/7/balance"},
        **processor,
    }
    return Swarm.model_validate(
        {
            "apiVersion": "hivekeeper.io/v1alpha1",
            "kind": "Swarm",
            "metadata": {"name": "direct"},
            "spec": {"roles": [{"name": "p", "role": "processor", "config": config}]},
        }
    )


async def test_direct_mode_sends_exactly_the_scheduled_requests(sut: str) -> None:
    result = await run(
        _direct(sut, rate=5000, max_messages=1000, threadCount=20), RunOptions(duration=1.5, out=io.StringIO())
    )
    [row] = result["roles"]
    assert (row["processed"], row["errors"], row["statusCodes"]) == (1000, 0, {"200": 1000})


async def test_rate_mode_paces_requests_and_keeps_the_wait_out_of_latency(sut: str) -> None:
    result = await run(
        _direct(sut, rate=10_000, max_messages=0, threadCount=10, mode="RATE_PER_SEC", ratePerSec=200),
        RunOptions(duration=1.5, out=io.StringIO()),
    )
    [row] = result["roles"]
    assert row["processed"] == pytest.approx(300, rel=0.1)
    assert row["latencyMs"]["p95"] < 20, "waiting for a rate slot is not request latency"


async def test_the_timeout_is_enforced_and_counted() -> None:
    server, url = await _serve(delay_ms=500)
    try:
        result = await run(
            _direct(url, rate=100, max_messages=20, timeoutMs=100, threadCount=20),
            RunOptions(duration=1.5, out=io.StringIO()),
        )
    finally:
        server.close()
    [row] = result["roles"]
    assert row["errorKinds"] == {"timeout": 20}
    assert any(a["code"] == "http.timeout" for a in result["alerts"])


async def test_tls_is_verified_by_default_and_can_be_relaxed_for_tests(tmp_path: Path) -> None:
    pki = make_pki(tmp_path / "pki")
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(pki.serving_cert, pki.serving_key)
    server, url = await _serve(tls=tls)
    try:
        strict = await run(_direct(url, rate=100, max_messages=5), RunOptions(duration=0.5, out=io.StringIO()))
        relaxed = await run(
            _direct(url, rate=100, max_messages=5, sslVerify=False), RunOptions(duration=0.5, out=io.StringIO())
        )
    finally:
        server.close()
    assert strict["roles"][0]["errorKinds"] == {"connect": 5}
    assert "CERTIFICATE_VERIFY_FAILED" in next(a for a in strict["alerts"] if a["code"] == "http.connect")["message"]
    assert relaxed["roles"][0]["statusCodes"] == {"200": 5}


async def test_templates_load_from_a_directory(sut: str, tmp_path: Path) -> None:
    (tmp_path / "cards").mkdir()
    (tmp_path / "cards" / "balance.yaml").write_text(
        "serviceId: cards\ncallId: balance\nmethod: GET\npathTemplate: /cards/{{ payload.id }}/balance\n"
    )
    roles = [
        {
            "name": "gen",
            "role": "generator",
            "work": {"out": "b"},
            "config": {
                "inputs": {"scheduler": {"ratePerSec": 500, "maxMessages": 50}},
                "message": {"body": '{"id": {{ randInt(1, 9) }}}', "headers": {"x-ph-call-id": "balance"}},
            },
        },
        {
            "name": "rb",
            "role": "request-builder",
            "work": {"in": "b", "out": "c"},
            "config": {"serviceId": "cards", "templateRoot": str(tmp_path)},
        },
        {"name": "p", "role": "processor", "work": {"in": "c"}, "config": {"baseUrl": sut}},
    ]
    swarm = Swarm.model_validate(
        {"apiVersion": "hivekeeper.io/v1alpha1", "kind": "Swarm", "metadata": {"name": "dir"}, "spec": {"roles": roles}}
    )
    result = await run(swarm, RunOptions(duration=1.0, out=io.StringIO()))
    processor = next(r for r in result["roles"] if r["name"] == "p")
    assert processor["statusCodes"] == {"200": 50}


async def test_a_status_reports_the_latency_of_its_interval_and_keeps_the_run_s_since_start() -> None:
    """After the SUT slows down, the next status shows the slow latency at once; the since-start figure
    is still dominated by the fast calls that came before."""
    fast_server, fast = await _serve(delay_ms=0)
    slow_server, slow = await _serve(delay_ms=40)
    harness = WorkerHarness("latency-window")
    await harness.start()
    try:
        config = {
            "baseUrl": fast,
            "inputs": {"type": "SCHEDULER", "scheduler": {"ratePerSec": 100}},
            "request": {"method": "GET", "path": "/cards/7/balance"},
            "threadCount": 8,
        }
        caller = await harness.worker("caller", "processor", config, status_interval=0.5)
        await harness.enable(caller)

        async def fast_calls() -> bool:
            return caller.stats.processed >= 250

        await eventually(fast_calls, timeout=10, what="250 calls to the fast SUT")
        switched = await harness.configure(caller, {"baseUrl": slow})
        assert switched.data["status"] == "Applied"
        after = len(harness.of("metric", "status-delta"))

        async def a_slow_interval() -> dict[str, Any] | None:
            for delta in harness.of("metric", "status-delta")[after + 1 :]:  # the first whole interval after it
                return dict(delta.data["context"])
            return None

        context = await eventually(a_slow_interval, timeout=10, what="a status interval after the switch")
        assert context["latencyMs"]["p50"] >= 35, context["latencyMs"]
        assert context["latencyMsSinceStart"]["p50"] < 10, context["latencyMsSinceStart"]
    finally:
        await harness.stop()
        for server in (fast_server, slow_server):
            server.close()
