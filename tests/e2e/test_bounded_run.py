"""A bounded, staged run with thresholds played by the operator on the bench's real node: examples/staged-run.yaml
against the demo SUT ends by itself, ``kubectl wait --for=condition=Completed`` returns, the verdict is Passed,
the producers are stopped (pods stay) and the Swarm has a RunPassed Event."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from test_operator import _apply, _namespace, demo, namespace, operator_process  # noqa: F401  (fixtures)

from testbench.demo import DemoService
from testbench.diagnose import pods_report
from testbench.kube import run_kubectl
from testbench.procs import ManagedProcess

pytestmark = pytest.mark.e2e
REPO = Path(__file__).resolve().parents[2]


async def test_a_staged_run_ends_by_itself_with_a_passed_verdict_and_an_event(
    kubeconfig: Path,
    namespace: str,  # noqa: F811
    operator_process: ManagedProcess,  # noqa: F811
    pod_rabbitmq_url: str,
    expose: Callable[[int], str],
    demo: DemoService,  # noqa: F811
) -> None:
    manifest = yaml.safe_load((REPO / "examples" / "staged-run.yaml").read_text())
    manifest["spec"]["sut"]["endpoints"]["default"]["baseUrl"] = f"http://{expose(int(demo.url.rsplit(':', 1)[1]))}"
    async with _namespace(kubeconfig, namespace, amqp_url=pod_rabbitmq_url):
        applied = _apply(kubeconfig, namespace, manifest)
        assert applied.returncode == 0, applied.stderr
        for _ in range(5):  # pods start, then the 20 s run; kubectl itself runs in a thread: the SUT is ours
            waited = await asyncio.to_thread(
                run_kubectl,
                kubeconfig,
                "wait",
                "-n",
                namespace,
                "swarm/staged-run",
                "--for=condition=Completed",
                "--timeout=50s",
            )
            if waited.returncode == 0:
                break
        got = run_kubectl(kubeconfig, "get", "-n", namespace, "swarm/staged-run", "-o", "json")
        swarm = json.loads(got.stdout or "{}")
        context = (
            f"{waited.stderr}\nstatus {json.dumps(swarm.get('status'), indent=1)[-3000:]}\n"
            f"operator log: {operator_process.log_path.read_text(errors='replace')[-3000:]}\n"
            f"{pods_report(kubeconfig, namespace)}"
        )
        assert waited.returncode == 0, context
        run = swarm["status"]["run"]
        assert run["phase"] == "Succeeded", context
        assert run["verdict"]["result"] == "Passed", context
        assert run["endedBecause"] == "the run's 20 s are over"
        feeder = json.loads(
            run_kubectl(kubeconfig, "get", "-n", namespace, "workerrole/staged-run-feeder", "-o", "json").stdout
        )
        assert feeder["spec"]["paused"] is True, "Stop, not Remove: the producer is paused, its pods stay"
        events = run_kubectl(
            kubeconfig, "get", "events", "-n", namespace, "--field-selector", "involvedObject.kind=Swarm", "-o", "json"
        )
        reasons = [e["reason"] for e in json.loads(events.stdout)["items"]]
        assert "RunPassed" in reasons, reasons
        assert sum(demo.state.calls.values()) > 100, "the SUT was called"
