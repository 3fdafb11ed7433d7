"""An outside linter, kube-score (built from its Go module by the bench), finds the worker Deployments the operator
writes sound: probes, resources (CPU, memory, ephemeral storage) and a hardened security context, for a built-in
role and for a role with a placement block.

The checks left out are about serving traffic, which a load generator does not: a NetworkPolicy and a
PodDisruptionBudget (a worker pod is not a service anyone calls; its items wait in RabbitMQ while it is away),
host anti-affinity (two workers of a role on one node are fine: they share no state), more than one replica
(a role's replicas are the load's shape: one generator is a choice, not a single point of failure), and
`imagePullPolicy: Always` (the chart's `workers.image.pullPolicy` decides; pinned tags make `IfNotPresent` safe).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from hivekeeper.api.manifests import load_swarm
from hivekeeper.api.swarm import Swarm
from hivekeeper.api.workerrole import WorkerRoleSpec
from hivekeeper.operator import manifests, plan

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]
NOT_FOR_LOAD_GENERATORS = (
    "pod-networkpolicy",
    "deployment-has-poddisruptionbudget",
    "deployment-has-host-podantiaffinity",
    "container-image-pull-policy",
    "deployment-replicas",
)


@pytest.fixture(scope="module")
def kube_score() -> Path:
    from testbench.gobuild import KUBE_SCORE

    if not KUBE_SCORE.is_built():
        pytest.fail(
            f"{KUBE_SCORE.module} {KUBE_SCORE.version()} is not built in {KUBE_SCORE.bin_dir()}; "
            "run `make bench-install`"
        )
    return KUBE_SCORE.binary("kube-score")


def _deployments() -> list[dict[str, Any]]:
    data = load_swarm(REPO / "examples" / "loadgen-pool.yaml").model_dump(mode="json", by_alias=True, exclude_none=True)
    data["metadata"]["namespace"] = "perf"
    swarm = Swarm.model_validate(data)
    out = []
    for child in plan.plan_children(swarm, "uid-1"):
        role = child.manifest["metadata"]["labels"]["hivekeeper.io/role"]
        out.append(
            manifests.deployment(
                name=child.name,
                namespace="perf",
                swarm=swarm.metadata.name,
                swarm_id=plan.swarm_id(swarm),
                role=role,
                spec=WorkerRoleSpec.model_validate(child.manifest["spec"]),
                bootstrap_config=child.config,
                owner={"apiVersion": "hivekeeper.io/v1alpha1", "kind": "WorkerRole", "name": child.name, "uid": "u"},
                defaults=manifests.WorkerDefaults(image="hivekeeper/worker:0.1.0"),
            )
        )
    return out


def _metrics_service(deployment: dict[str, Any]) -> dict[str, Any]:
    """A Service over a role's worker pods' metrics port, as a user scraping them with a ServiceMonitor writes it:
    kube-score runs its probe checks only on pods a Service targets."""
    meta = deployment["metadata"]
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": f"{meta['name']}-metrics", "namespace": meta["namespace"]},
        "spec": {
            "selector": deployment["spec"]["selector"]["matchLabels"],
            "ports": [{"name": "metrics", "port": manifests.METRICS_PORT, "targetPort": "metrics"}],
        },
    }


def _score(kube_score: Path, objects: list[dict[str, Any]], path: Path) -> dict[str, dict[str, int]]:
    """kube-score's grade of each check it ran (not skipped), by object name; 10 is OK."""
    path.write_text(yaml.safe_dump_all(objects))
    ignored = [arg for test in NOT_FOR_LOAD_GENERATORS for arg in ("--ignore-test", test)]
    scored = subprocess.run(
        [str(kube_score), "score", *ignored, "--output-format", "json", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert scored.stdout, scored.stderr
    return {
        found["object_name"]: {c["check"]["id"]: c["grade"] for c in found["checks"] if not c["skipped"]}
        for found in json.loads(scored.stdout)
    }


def test_kube_score_finds_the_worker_deployments_sound(kube_score: Path, tmp_path: Path) -> None:
    deployments = _deployments()
    grades = _score(kube_score, [*deployments, *map(_metrics_service, deployments)], tmp_path / "workers.yaml")
    for deployment in deployments:
        checks = grades[f"Deployment/apps/v1/perf/{deployment['metadata']['name']}"]
        for check in (
            "pod-probes",
            "pod-probes-identical",
            "container-resources",
            "container-ephemeral-storage-request-and-limit",
            "container-security-context-user-group-id",
            "container-security-context-privileged",
            "container-security-context-readonlyrootfilesystem",
        ):
            assert check in checks, f"kube-score did not run {check}: {sorted(checks)}"
        assert {check: grade for check, grade in checks.items() if grade < 10} == {}, deployment["metadata"]["name"]


def test_kube_score_would_see_a_worker_without_probes(kube_score: Path, tmp_path: Path) -> None:
    """The control: the same Deployment without its probes fails kube-score's probe check, so the check above
    is a real one."""
    [deployment, *_] = _deployments()
    [container] = deployment["spec"]["template"]["spec"]["containers"]  # type: ignore[index]
    container.pop("livenessProbe")
    container.pop("readinessProbe")
    grades = _score(kube_score, [deployment, _metrics_service(deployment)], tmp_path / "bare.yaml")
    assert grades[f"Deployment/apps/v1/perf/{deployment['metadata']['name']}"]["pod-probes"] < 10
