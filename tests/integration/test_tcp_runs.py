"""TCP through whole swarms on loopback: the ISO 8583 example via the CLI against the demo services, tcps:// with a
generated certificate (trusted through tcpTransport.caFile, refused without it), and the TCP demo's bad replies
counted by kind while the good calls between them succeed on the same endpoint."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest

from hivekeeper.api.swarm import Swarm
from hivekeeper.local.demo_tcp import TcpDemo
from hivekeeper.local.runner import RunOptions, run
from testbench.tcp_sut import tcp_sut

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]


def _role(summary: dict[str, Any], name: str) -> dict[str, Any]:
    return next(r for r in summary["roles"] if r["name"] == name)


def test_the_cli_runs_the_iso8583_example_against_the_tcp_demo(tmp_path: Path) -> None:
    done = subprocess.run(
        [
            *(sys.executable, "-m", "hivekeeper.cli", "run", "--demo-sut", "--duration", "2"),
            *("--json", str(tmp_path / "out.json"), str(REPO / "examples" / "tcp-iso8583.yaml")),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "demo TCP SUT at tcp://127.0.0.1:" in done.stdout
    summary = orjson.loads((tmp_path / "out.json").read_bytes())
    caller, stats = _role(summary, "caller"), _role(summary, "stats")
    assert caller["processed"] > 50
    assert caller["errors"] == 0
    assert stats["errors"] == 0
    assert stats["processed"] == caller["processed"], "every tcp.result counted by the postprocessor"


def _swarm(url: str, body: str, *, behavior: str = "REQUEST_RESPONSE", **transport: Any) -> Swarm:
    template: dict[str, Any] = {"serviceId": "t", "callId": "c", "protocol": "TCP", "behavior": behavior}
    template.update({"bodyTemplate": body, "maxBytes": 4096})
    if behavior == "REQUEST_RESPONSE":
        template["endTag"] = "\n"
    spec = {
        "sut": {"endpoints": {"line": {"baseUrl": url}}},
        "templates": [template],
        "roles": [
            {
                "name": "feeder",
                "role": "generator",
                "work": {"out": "build"},
                "config": {
                    "inputs": {"type": "SCHEDULER", "scheduler": {"ratePerSec": 40}},
                    "message": {"body": "x", "headers": {"x-ph-call-id": "c"}},
                },
            },
            {
                "name": "builder",
                "role": "request-builder",
                "work": {"in": "build", "out": "call"},
                "config": {"serviceId": "t"},
            },
            {
                "name": "caller",
                "role": "processor",
                "work": {"in": "call"},
                "config": {
                    "baseUrl": "{{ sut.endpoints.line.baseUrl }}",
                    "threadCount": 1,
                    "timeoutMs": 2000,
                    "tcpTransport": {"readTimeoutMs": 300, **transport},
                },
            },
        ],
    }
    return Swarm.model_validate({"metadata": {"name": "tcp"}, "spec": spec})


async def _caller(swarm: Swarm, seconds: float = 1.5) -> dict[str, Any]:
    summary = await run(swarm, RunOptions(duration=seconds, out=io.StringIO()))
    return _role(summary, "caller")


async def test_tcps_is_verified_against_the_ca_file_and_refused_without_it(tmp_path: Path) -> None:
    async with tcp_sut(TcpDemo("end-tag"), tls_dir=tmp_path) as sut:
        trusted = await _caller(_swarm(sut.url, "hello\n", caFile=str(sut.ca_file)))
        untrusted = await _caller(_swarm(sut.url, "hello\n"), seconds=1.0)
    assert trusted["processed"] > 20
    assert trusted["errors"] == 0
    assert untrusted["errors"] > 0
    assert set(untrusted["errorKinds"]) == {"tcp-connect"}, "the server's certificate is not signed by a known CA"


async def test_bad_replies_are_counted_by_kind_and_the_good_calls_between_them_succeed() -> None:
    body = "{{ pickWeighted('ok', 40, 'NO-END', 20, 'TOO-BIG', 20, 'CLOSE-MID', 20) }}\n"
    async with tcp_sut(TcpDemo("end-tag")) as sut:
        caller = await _caller(_swarm(sut.url, body), seconds=2.5)
    kinds = caller["errorKinds"]
    assert set(kinds) == {"tcp-timeout", "tcp-too-large", "tcp-closed"}, kinds
    assert caller["errors"] == sum(kinds.values())
    succeeded = caller["processed"] - caller["errors"]
    assert succeeded > 0, "after each bad reply the next call on the endpoint succeeds (one loop, threadCount 1)"


async def test_bad_frames_are_counted_by_kind() -> None:
    body = "{{ pickWeighted('0200OK', 40, '0200BIG-FRAME', 30, '0200CLOSE-MID', 30) }}"
    async with tcp_sut(TcpDemo("length-prefix")) as sut:
        caller = await _caller(_swarm(sut.url, body, behavior="LENGTH_PREFIX_2B", maxBytes=1024))
    assert set(caller["errorKinds"]) == {"tcp-frame-too-large", "tcp-closed"}, caller["errorKinds"]
    assert caller["processed"] - caller["errors"] > 0
