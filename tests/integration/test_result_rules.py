"""Result rules against the real demo service: a 200 whose body says the payment was declined is an error of kind
``business`` for the processor and for the postprocessor, and results are counted by business code and by
dimension, exactly, in the run's summary, its JSON and its HTML report (``examples/payments-rules.yaml``)."""

from __future__ import annotations

import io
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml

from hivekeeper.api.swarm import Swarm
from hivekeeper.local import demo_sut
from hivekeeper.local.runner import RunOptions, run
from hivekeeper.report import html
from hivekeeper.report.model import from_run_summary

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "payments-rules.yaml"
APPROVED, DECLINED = 150, 50


@pytest.fixture
async def sut_url() -> AsyncIterator[str]:
    server = await demo_sut.serve("127.0.0.1", 0)
    yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    server.close()
    await server.wait_closed()


def _feeder(name: str, amount: int, channel: str, count: int) -> dict[str, Any]:
    body = f'{{"cardId": "card-1", "amount": {amount}, "channel": "{channel}"}}'
    return {
        "name": name,
        "role": "generator",
        "work": {"out": "build"},
        "config": {
            "inputs": {"type": "SCHEDULER", "scheduler": {"ratePerSec": 1000, "maxMessages": count}},
            "message": {"body": body, "headers": {"x-ph-call-id": "pay"}},
        },
    }


def _swarm(url: str) -> Swarm:
    """The example with two feeders of known amounts: small ones on the web (approved), large ones in the app."""
    data = yaml.safe_load(EXAMPLE.read_text())
    data["spec"]["sut"]["endpoints"]["default"]["baseUrl"] = url
    data["spec"]["roles"][0:1] = [_feeder("web", 10, "web", APPROVED), _feeder("app", 600, "app", DECLINED)]
    return Swarm.model_validate(data)


def _role(result: dict[str, Any], name: str) -> dict[str, Any]:
    return next(r for r in result["roles"] if r["name"] == name)


async def test_a_declined_200_is_a_business_error_for_processor_and_postprocessor_counted_by_code_and_dimension(
    sut_url: str, tmp_path: Path
) -> None:
    out = io.StringIO()
    result = await run(_swarm(sut_url), RunOptions(duration=2.0, json_path=tmp_path / "run.json", out=out))
    total = APPROVED + DECLINED
    for name in ("caller", "stats"):
        role = _role(result, name)
        assert (role["processed"], role["errors"], role["dropped"]) == (total, DECLINED, 0), name
        assert role["statusCodes"] == {"200": total}, "every payment was answered 200"
        assert role["errorKinds"] == {"business": DECLINED}, name
        assert role["businessCodes"] == {"00": APPROVED, "51": DECLINED}, name
        assert role["dimensions"] == {
            "channel": {"web": APPROVED, "app": DECLINED},
            "decision": {"APPROVED": APPROVED, "DECLINED": DECLINED},
        }, name
    assert orjson.loads((tmp_path / "run.json").read_bytes()) == orjson.loads(orjson.dumps(result))
    text = out.getvalue()
    assert f"caller errors by kind: business: {DECLINED}" in text
    assert f"stats business codes: 00: {APPROVED}, 51: {DECLINED}" in text
    assert f"caller by channel: web: {APPROVED}, app: {DECLINED}" in text
    [caller] = [r["points"] for r in result["timeseries"]["roles"] if r["role"] == "caller"]
    assert sum(p["errorsByKind"].get("business", 0) for p in caller) == DECLINED, "the plots show them too"
    page = html.render(from_run_summary(result))
    assert "<h3>Results by business code and dimension</h3>" in page
    assert f'<td>dimension decision</td><td>DECLINED</td><td class="num">{DECLINED}</td>' in page


def test_the_cli_runs_the_example_against_the_demo_sut_and_reports_the_business_codes(tmp_path: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "hivekeeper.cli",
            "run",
            "--demo-sut",
            "--duration",
            "2",
            "--json",
            str(tmp_path / "out.json"),
            "--report",
            str(tmp_path / "report.html"),
            str(EXAMPLE),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    caller = _role(orjson.loads((tmp_path / "out.json").read_bytes()), "caller")
    codes = caller["businessCodes"]
    assert set(codes) == {"00", "51"}, "amounts 1..600: approved up to 500, declined above"
    assert caller["errorKinds"] == {"business": codes["51"]}
    assert caller["errors"] == codes["51"] > 0
    assert "caller business codes: 00: " in done.stdout
    assert "Results by business code and dimension" in (tmp_path / "report.html").read_text()
