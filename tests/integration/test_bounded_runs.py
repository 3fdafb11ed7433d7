"""``hivekeeper run`` with ``spec.run``: the stages drive the rate, the run ends by itself, the verdict decides
the exit code (0 passed, 1 failed, 2 bad input, 3 run error). Against the real demo HTTP service."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import orjson
import pytest

from testbench.procs import free_port

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]
STAGED = REPO / "examples" / "staged-run.yaml"
FAILS = REPO / "examples" / "staged-run-fails.yaml"


def _hivekeeper(*argv: str, timeout: float = 90) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hivekeeper.cli", *argv], capture_output=True, text=True, timeout=timeout, check=False
    )


def _role(result: dict[str, Any], name: str) -> dict[str, Any]:
    return next(r for r in result["roles"] if r["name"] == name)


def test_a_staged_run_with_a_threshold_it_cannot_meet_ends_by_itself_fails_and_exits_1(tmp_path: Path) -> None:
    junit = tmp_path / "junit.xml"
    done = _hivekeeper("run", "--demo-sut", str(FAILS), "--json", str(tmp_path / "run.json"), "--junit", str(junit))

    assert done.returncode == 1, done.stdout + done.stderr
    assert "staged-run-fails: run 1 ended: the run's 6 s are over" in done.stdout
    result = orjson.loads((tmp_path / "run.json").read_bytes())
    verdict = result["verdict"]
    assert verdict["result"] == "Failed"
    failed = [t for t in verdict["thresholds"] if not t["passed"]]
    assert [t["threshold"] for t in failed] == ["caller p99 <= 0.001"]
    assert failed[0]["observed"] > 0.001
    # 2 s ramping 0 → 200/s then 4 s at 200/s: 1,000 items asked for
    made = _role(result, "feeder")["processed"]
    assert 850 <= made <= 1050, made
    assert "FAIL caller p99 <= 0.001: observed" in done.stdout
    suite = ElementTree.parse(junit).getroot().find("testsuite")
    assert suite is not None
    assert (suite.get("tests"), suite.get("failures")) == ("5", "1")


def test_a_staged_run_within_its_thresholds_passes_and_exits_0(tmp_path: Path) -> None:
    quick = tmp_path / "quick.yaml"
    text = STAGED.read_text().replace("duration: 20s", "duration: 6s")
    text = text.replace(
        """          - {duration: 5s, target: 200}
          - {duration: 8s, target: 200}
          - {duration: 2s, target: 600}
          - {duration: 5s, target: 200}
""",
        """          - {duration: 2s, target: 200}
          - {duration: 2s, target: 200}
          - {duration: 1s, target: 400}
          - {duration: 1s, target: 200}
""",
    )
    quick.write_text(text)

    done = _hivekeeper("run", "--demo-sut", str(quick), "--json", str(tmp_path / "run.json"))

    assert done.returncode == 0, done.stdout + done.stderr
    result = orjson.loads((tmp_path / "run.json").read_bytes())
    assert result["verdict"]["result"] == "Passed"
    assert result["verdict"]["reason"] == "all 4 thresholds held"
    assert all(t["observed"] is not None for t in result["verdict"]["thresholds"])


def test_a_run_where_every_call_failed_exits_1_without_any_threshold() -> None:
    done = _hivekeeper("run", "--sut", f"http://127.0.0.1:{free_port()}", "--duration", "1.5")

    assert done.returncode == 1, done.stdout + done.stderr
    assert "quickstart: FAILED (nothing succeeded: role caller made" in done.stdout


def test_a_threshold_on_an_unknown_role_is_bad_input_exit_2_naming_the_threshold(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(STAGED.read_text().replace("{role: caller, metric: p95", "{role: callr, metric: p95"))

    done = _hivekeeper("run", "--demo-sut", str(bad))

    assert done.returncode == 2
    assert "run.thresholds[0].role: no role named 'callr' in spec.roles" in done.stderr


def test_a_run_that_cannot_start_is_a_run_error_exit_3() -> None:
    # A swarm aimed at a broker nobody serves cannot run: said in one line, the password never shown.
    done = _hivekeeper("run", "--broker", f"amqp://guest:s3cret@127.0.0.1:{free_port()}/", "--duration", "1")

    assert done.returncode == 3, done.stdout + done.stderr
    assert "error: cannot reach the broker at amqp://guest:***@127.0.0.1:" in done.stderr
    assert "Traceback" not in done.stderr
    assert "s3cret" not in done.stderr + done.stdout
