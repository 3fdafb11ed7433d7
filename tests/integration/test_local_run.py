"""``hivekeeper run``: a whole swarm in one process against a real HTTP service, with exact counts."""

from __future__ import annotations

import io
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from hivekeeper.api.manifests import load_swarm
from hivekeeper.api.swarm import Swarm
from hivekeeper.local import demo_sut
from hivekeeper.local.endpoints import DEFAULT, aimed
from hivekeeper.local.runner import RunOptions, run
from testbench.procs import free_port

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]
QUICKSTART = REPO / "examples" / "quickstart.yaml"


@pytest.fixture
async def sut_url() -> AsyncIterator[str]:
    server = await demo_sut.serve("127.0.0.1", 0)
    yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    server.close()
    await server.wait_closed()


def _quickstart(url: str, rate: float, max_messages: int) -> Swarm:
    data = aimed(load_swarm(QUICKSTART), {DEFAULT: url}).model_dump(mode="json", by_alias=True)
    feeder = data["spec"]["roles"][0]["config"]
    feeder["inputs"]["scheduler"] = {"ratePerSec": rate, "maxMessages": max_messages}
    return Swarm.model_validate(data)


def _role(result: dict[str, Any], name: str) -> dict[str, Any]:
    return next(r for r in result["roles"] if r["name"] == name)


async def test_every_item_passes_every_stage_exactly_once(sut_url: str, tmp_path: Path) -> None:
    out = io.StringIO()
    result = await run(
        _quickstart(sut_url, rate=2000, max_messages=500),
        RunOptions(duration=2.0, json_path=tmp_path / "run.json", out=out),
    )
    for name in ("feeder", "builder", "caller", "stats"):
        role = _role(result, name)
        assert (role["processed"], role["errors"], role["dropped"]) == (500, 0, 0), name
    assert _role(result, "caller")["statusCodes"] == {"200": 500}
    assert _role(result, "stats")["latencyMs"]["p99"] > 0
    assert orjson.loads((tmp_path / "run.json").read_bytes()) == orjson.loads(orjson.dumps(result))
    assert "swarm quickstart: ran" in out.getvalue()


async def test_an_unreachable_sut_is_counted_and_alerted_and_the_workers_survive() -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    result = await run(_quickstart(dead, rate=500, max_messages=200), RunOptions(duration=1.5, out=io.StringIO()))
    caller = _role(result, "caller")
    assert caller["processed"] == 200, "a failed request is still a processed item"
    assert caller["errors"] == 200
    assert caller["errorKinds"] == {"connect": 200}
    assert _role(result, "stats")["errors"] == 200, "the error results reach the postprocessor"
    connect_alerts = [a for a in result["alerts"] if a["code"] == "http.connect"]
    assert len(connect_alerts) in (1, 2), "repeats are folded into one alert per window, not one per item"


def test_the_cli_runs_the_embedded_quickstart_against_the_demo_sut(tmp_path: Path) -> None:
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
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "running the embedded quickstart swarm" in done.stdout
    summary = orjson.loads((tmp_path / "out.json").read_bytes())
    caller = _role(summary, "caller")
    assert caller["processed"] > 100
    assert caller["errors"] == 0


def test_the_embedded_quickstart_is_the_example_file() -> None:
    embedded = REPO / "src" / "hivekeeper" / "local" / "data" / "quickstart.yaml"
    assert embedded.read_text() == QUICKSTART.read_text()


def test_a_bad_manifest_fails_with_the_field_and_the_value(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(QUICKSTART.read_text().replace("replicas: 2", "replicas: -1"))
    done = subprocess.run(
        [sys.executable, "-m", "hivekeeper.cli", "run", str(bad)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "spec.roles[2].replicas: Input should be greater than or equal to 0 (got -1)" in done.stderr


def test_a_bad_role_config_names_the_role_and_key(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(QUICKSTART.read_text().replace("threadCount: 16", "threadCount: 16\n        threadCont: 3"))
    done = subprocess.run(
        [sys.executable, "-m", "hivekeeper.cli", "run", str(bad)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "spec.roles[caller].config" in done.stderr
    assert "threadCont: unknown key for role processor" in done.stderr


async def test_generator_replicas_share_one_sequence_in_a_local_run() -> None:
    from testbench.scripted_http import scripted_server

    async with scripted_server() as server:
        roles = [
            {
                "name": "gen",
                "role": "generator",
                "replicas": 2,
                "work": {"out": "call"},
                "config": {
                    "inputs": {"scheduler": {"ratePerSec": 500, "maxMessages": 50}},
                    "message": {"bodyType": "HTTP", "method": "GET", "path": "/seq/{{ sequence('ids') }}"},
                },
            },
            {"name": "p", "role": "processor", "work": {"in": "call"}, "config": {"baseUrl": server.url}},
        ]
        swarm = Swarm.model_validate(
            {
                "apiVersion": "hivekeeper.io/v1alpha1",
                "kind": "Swarm",
                "metadata": {"name": "seq"},
                "spec": {"roles": roles},
            }
        )
        await run(swarm, RunOptions(duration=1.0, out=io.StringIO()))
    numbers = sorted(int(r.split(b" ")[1].rsplit(b"/", 1)[1]) for r in server.requests)
    assert numbers == list(range(1, 101))


def test_ctrl_c_stops_the_run_with_a_summary_and_exit_code_zero() -> None:
    import signal

    process = subprocess.Popen(
        [sys.executable, "-m", "hivekeeper.cli", "run", "--demo-sut", "--interval", "0.5"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    seen = []
    for line in process.stdout:  # wait for the first progress block: the swarm is running
        seen.append(line)
        if line.startswith("--- quickstart at"):
            break
    process.send_signal(signal.SIGINT)
    rest, _ = process.communicate(timeout=30)
    assert process.returncode == 0, "".join(seen) + rest
    assert "swarm quickstart: ran" in rest
    assert "caller status codes: 200:" in rest


def test_two_manifests_run_side_by_side_sharing_one_redis(tmp_path: Path, redis_url: str) -> None:
    """``hivekeeper run A.yaml B.yaml --redis URL``: both swarms run; sequence() counters are shared in Redis."""
    import uuid

    import yaml

    key = f"side-{uuid.uuid4().hex[:8]}"
    paths = []
    for name in ("left", "right"):
        swarm = {
            "apiVersion": "hivekeeper.io/v1alpha1",
            "kind": "Swarm",
            "metadata": {"name": name},
            "spec": {
                "roles": [
                    {
                        "name": "gen",
                        "role": "generator",
                        "config": {
                            "inputs": {"scheduler": {"ratePerSec": 400, "maxMessages": 40}},
                            "message": {"body": f"{{{{ sequence('{key}') }}}}"},
                        },
                    },
                ]
            },
        }
        path = tmp_path / f"{name}.yaml"
        path.write_text(yaml.safe_dump(swarm))
        paths.append(str(path))
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "hivekeeper.cli",
            "run",
            *paths,
            "--redis",
            redis_url,
            "--duration",
            "1.5",
            "--json",
            str(tmp_path / "out.json"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    summary = orjson.loads((tmp_path / "out.json").read_bytes())
    assert [s["swarm"] for s in summary["swarms"]] == ["left", "right"]
    assert [_role(s, "gen")["processed"] for s in summary["swarms"]] == [40, 40]
    import redis

    client = redis.Redis.from_url(redis_url)
    try:
        assert int(client.get(f"hivekeeper:seq:{key}") or 0) == 80, "both swarms counted in the one Redis"
    finally:
        client.close()
