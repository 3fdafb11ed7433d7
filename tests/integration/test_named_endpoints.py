"""``hivekeeper run`` aims named SUT endpoints: ``--sut NAME=URL`` sends that endpoint's calls to URL and
``--demo-sut`` serves every other one, so a manifest whose roles call two endpoints reaches both (real HTTP
servers, the CLI in its own process); contradicting flags stop the run before it starts."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml

from testbench.demo import demo_service

pytestmark = pytest.mark.integration


def _caller(name: str, endpoint: str, path: str) -> dict[str, Any]:
    return {
        "name": name,
        "role": "processor",
        "config": {
            "baseUrl": f"{{{{ sut.endpoints.{endpoint}.baseUrl }}}}",
            "inputs": {"type": "SCHEDULER", "scheduler": {"ratePerSec": 50}},
            "request": {"method": "GET", "path": path},
        },
    }


MANIFEST = {
    "apiVersion": "hivekeeper.io/v1alpha1",
    "kind": "Swarm",
    "metadata": {"name": "two-endpoints"},
    "spec": {
        "sut": {
            "endpoints": {
                "default": {"baseUrl": "http://cards-api.perf.svc:8080"},
                "ledger": {"baseUrl": "http://ledger.perf.svc:8080"},
            }
        },
        "roles": [_caller("cards", "default", "/cards/7/balance"), _caller("ledger", "ledger", "/cards/8")],
    },
}


async def _hivekeeper(*args: str) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "hivekeeper.cli", *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    _, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    assert proc.returncode is not None
    return proc.returncode, err.decode()


def _role(summary: dict[str, Any], name: str) -> dict[str, Any]:
    return next(r for r in summary["roles"] if r["name"] == name)


async def test_a_named_endpoint_goes_to_its_url_and_the_demo_serves_the_others(tmp_path: Path) -> None:
    manifest = tmp_path / "two.yaml"
    manifest.write_text(yaml.safe_dump(MANIFEST))
    out = tmp_path / "out.json"
    async with demo_service() as ledger:
        code, err = await _hivekeeper(
            "run", str(manifest), "--demo-sut", "--sut", f"ledger={ledger.url}", "--duration", "2", "--json", str(out)
        )
        assert code == 0, err
        summary = orjson.loads(out.read_bytes())
        for name in ("cards", "ledger"):
            role = _role(summary, name)
            assert role["processed"] > 20, name
            assert set(role["statusCodes"]) == {"200"}, (name, role["statusCodes"], role["errorKinds"])
        assert ledger.state.calls == {"GET /cards/{id}": _role(summary, "ledger")["processed"]}


async def test_a_bare_url_and_a_name_aim_both_endpoints_without_the_demo(tmp_path: Path) -> None:
    manifest = tmp_path / "two.yaml"
    manifest.write_text(yaml.safe_dump(MANIFEST))
    out = tmp_path / "out.json"
    async with demo_service() as cards, demo_service() as ledger:
        code, err = await _hivekeeper(
            "run", str(manifest), "--sut", cards.url, "--sut", f"ledger={ledger.url}", "--duration", "2", "--json",
            str(out),
        )  # fmt: skip
        assert code == 0, err
        summary = orjson.loads(out.read_bytes())
        assert cards.state.calls == {"GET /cards/{id}/balance": _role(summary, "cards")["processed"]}
        assert ledger.state.calls == {"GET /cards/{id}": _role(summary, "ledger")["processed"]}


@pytest.mark.parametrize(
    ("flags", "said"),
    [
        (["--sut", "http://127.0.0.1:1", "--sut", "http://127.0.0.1:2"], "--sut URL is given twice"),
        (["--sut", "ledger=http://127.0.0.1:1", "--sut", "ledger=http://127.0.0.1:2"], "--sut ledger=URL is given"),
        (["--sut", "legder=http://127.0.0.1:1"], "no manifest has an endpoint 'legder' (endpoints: default, ledger)"),
        (
            ["--demo-sut", "--sut", "http://127.0.0.1:1", "--sut", "ledger=http://127.0.0.1:2"],
            "--demo-sut has no endpoint to serve",
        ),
    ],
)
async def test_contradicting_flags_are_refused_with_exit_code_2(tmp_path: Path, flags: list[str], said: str) -> None:
    manifest = tmp_path / "two.yaml"
    manifest.write_text(yaml.safe_dump(MANIFEST))
    code, err = await _hivekeeper("run", str(manifest), *flags, "--duration", "1")
    assert code == 2
    assert said in err
