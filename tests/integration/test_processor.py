"""The processor against real HTTP services: direct mode, rate mode, timeouts, TLS verification, template dirs,
and hostile ones: huge, endless and trickling bodies (peak RSS of a worker process), dropped connections."""

from __future__ import annotations

import asyncio
import io
import json
import os
import ssl
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from hivekeeper.api import roles as role_configs
from hivekeeper.api.roles.processor.config import ProcessorConfig
from hivekeeper.api.swarm import Swarm
from hivekeeper.local import demo_sut
from hivekeeper.local.runner import RunOptions, run
from hivekeeper.protocol.workitem import WorkItem, new_item
from hivekeeper.templating.engine import TemplateEngine
from hivekeeper.worker.http.client import HttpClient
from hivekeeper.worker.roles.base import RoleDeps
from hivekeeper.worker.roles.processor.role import Processor
from testbench.pki import make_pki
from testbench.scripted_http import HUGE_BYTES, ScriptedServer, scripted_server
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


# -- hostile SUTs ------------------------------------------------------------------------------------------
MIB = 1024 * 1024


@pytest.fixture
async def scripted() -> AsyncIterator[ScriptedServer]:
    async with scripted_server() as running:
        yield running


SUPPORT = str(Path(__file__).resolve().parents[1] / "support")


async def _peak_rss(url: str, path: str, *options: str) -> dict[str, Any]:
    """Run a processor worker in a process of its own (testbench.rss_probe) and read its memory."""
    support = SUPPORT
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([support, os.environ.get("PYTHONPATH", "")])}
    probe = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "testbench.rss_probe",
        url,
        path,
        *options,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    out, err = await asyncio.wait_for(probe.communicate(), timeout=60)
    assert probe.returncode == 0, err.decode()[-2000:]
    measured: dict[str, Any] = json.loads(out.decode().splitlines()[-1])
    measured["growth"] = measured["peakRssBytes"] - measured["baselineRssBytes"]
    return measured


async def test_huge_bodies_keep_a_worker_s_memory_bounded_and_are_counted_as_truncated(
    scripted: ScriptedServer,
) -> None:
    """8 answers of 50 MB, 4 at a time: before maxResponseBytes the worker grew by ~300 MiB here."""
    measured = await _peak_rss(
        scripted.url, "/huge", "--requests", "8", "--thread-count", "4", "--timeout-ms", "10000", "--seconds", "2.5"
    )
    role = measured["role"]
    assert (role["statusCodes"], role["responsesTruncated"]) == ({"200": 8}, 8)
    assert measured["growth"] < 32 * MIB, f"grew by {measured['growth'] / MIB:.1f} MiB for {HUGE_BYTES:,}-byte bodies"


async def test_endless_bodies_end_at_the_deadline_with_a_worker_s_memory_bounded(scripted: ScriptedServer) -> None:
    """4 endless chunked answers until the 1 s deadline: before, the worker grew by ~1.3 GiB here in 2 s."""
    measured = await _peak_rss(
        scripted.url, "/endless", "--requests", "4", "--thread-count", "4", "--timeout-ms", "1000", "--seconds", "2"
    )
    role = measured["role"]
    assert (role["errorKinds"], role["responsesTruncated"]) == ({"timeout": 4}, 4)
    assert measured["growth"] < 32 * MIB, f"grew by {measured['growth'] / MIB:.1f} MiB"


async def test_trickling_bodies_are_ended_by_the_deadline(scripted: ScriptedServer) -> None:
    measured = await _peak_rss(
        scripted.url, "/trickle", "--requests", "4", "--thread-count", "4", "--timeout-ms", "500", "--seconds", "1.5"
    )
    role = measured["role"]
    assert (role["errorKinds"], role["responsesTruncated"]) == ({"timeout": 4}, 0)
    assert measured["growth"] < 32 * MIB, f"grew by {measured['growth'] / MIB:.1f} MiB"


@pytest.fixture
async def processor_of() -> AsyncIterator[Any]:
    """Builds a result-forwarding processor on one real pooled client; records its alerts."""
    http = HttpClient()
    alerts: list[tuple[str, str]] = []

    def build(raw: dict[str, Any]) -> tuple[Processor, list[tuple[str, str]]]:
        config = role_configs.validate("processor", raw)
        assert isinstance(config, ProcessorConfig)
        deps = RoleDeps(swarm="t", role="caller", instance="caller-0", engine=TemplateEngine(), http=http)
        processor = Processor(
            config,
            deps,
            config.baseUrl,
            alert=lambda code, message, _: alerts.append((code, message)),
            forward_results=True,
        )
        return processor, alerts

    yield build
    http.close()


def _request(method: str, path: str, body: str | None = None) -> WorkItem:
    envelope = {"kind": "http.request", "request": {"method": method, "path": path, "body": body}}
    return new_item(orjson.dumps(envelope).decode(), swarm="t", service="builder", instance="builder-0")


async def _outcome(processor: Processor, item: WorkItem) -> dict[str, Any]:
    result = await processor.handle(item, 1)
    assert result is not None
    outcome: dict[str, Any] = orjson.loads(result.payload)["outcome"]
    return outcome


async def test_a_result_keeps_max_response_bytes_of_the_body_and_says_it_was_truncated(
    scripted: ScriptedServer, processor_of: Any
) -> None:
    processor, _ = processor_of({"baseUrl": scripted.url, "maxResponseBytes": 1000})
    outcome = await _outcome(processor, _request("GET", "/big"))
    assert (outcome["status"], outcome["body"]) == (200, "x" * 1000)
    assert (outcome["bodyBytes"], outcome["truncated"]) == (1_000_000, True)
    small = await _outcome(processor, _request("GET", "/"))
    assert (small["body"], small["bodyBytes"], small["truncated"]) == ("ok", 2, False)
    assert processor.deps.stats.truncated == 1


async def test_a_post_after_a_dropped_keep_alive_connection_is_an_error_result_not_a_second_post(
    scripted: ScriptedServer, processor_of: Any
) -> None:
    processor, alerts = processor_of({"baseUrl": scripted.url})
    await _outcome(processor, _request("GET", "/then-drop"))
    outcome = await _outcome(processor, _request("POST", "/orders", '{"qty": 1}'))
    assert outcome["type"] == "transport_error"
    assert outcome["error"]["kind"] == "reset"
    assert "POST is not idempotent (RFC 9110 §9.2.2), so it was not retried" in outcome["error"]["message"]
    assert sum(r.startswith(b"POST /orders ") for r in scripted.requests) == 1
    assert [code for code, _ in alerts] == ["http.reset"]

    await _outcome(processor, _request("GET", "/then-drop"))
    retried = await _outcome(processor, _request("GET", "/orders"))
    assert (retried["type"], retried["status"]) == ("http_response", 200), "a GET is retried on a fresh connection"
    assert scripted.dropped == 2


@pytest.mark.parametrize(
    ("path", "outcome"),
    [
        ("/status/503", ("status", "503")),
        ("/reset", ("kind", "reset")),
        ("/garbage", ("kind", "protocol")),
        ("/half", ("kind", "protocol")),  # the body cut short: Content-Length 100, 9 bytes, then EOF
        ("/silence", ("kind", "timeout")),
    ],
)
async def test_a_faulty_sut_is_counted_by_kind_and_the_worker_goes_on(
    scripted: ScriptedServer, path: str, outcome: tuple[str, str]
) -> None:
    """500s, resets, garbage, truncated bodies and a SUT that never answers: every call is accounted for under
    its kind, none is lost, and the processor keeps calling (the run's 20 calls all happen)."""
    swarm = _direct(scripted.url, rate=200, max_messages=20, threadCount=4, timeoutMs=300)
    swarm.spec.roles[0].config["request"]["path"] = path
    result = await run(swarm, RunOptions(duration=1.5, out=io.StringIO()))
    [row] = result["roles"]
    what, value = outcome
    if what == "status":
        assert (row["processed"], row["statusCodes"]) == (20, {value: 20}), row
    else:
        assert (row["processed"], row["errors"], row["errorKinds"]) == (20, 20, {value: 20}), row
