"""kstatus, Flux and Argo CD read real Swarm and WorkerRole objects from the API server the way we intend.

Each test creates the object on the bench's kube-apiserver (the generated CRDs validate it), writes the status
the operator writes in that situation through the status subresource (built by the operator's own status code,
tests/support/gitops_states.py), reads the object back with kubectl and hands it to:
- kstatus (``status.Compute`` of sigs.k8s.io/cli-utils, the rules of Flux's default health checks and kpt),
- Flux's CEL evaluator with the ``healthCheckExprs`` of gitops/flux/kustomization.yaml (docs/gitops.md),
- the Argo CD health script of gitops/argocd/hivekeeper.io/<Kind>/health.lua,
through tests/support/kstatus (a Go wrapper built by `make bench-install`).
"""

from __future__ import annotations

import json
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

import gitops_states
from testbench.gobuild import KSTATUS
from testbench.kube import run_kubectl

pytestmark = pytest.mark.e2e
REPO = Path(__file__).resolve().parents[2]
FLUX = REPO / "gitops" / "flux" / "kustomization.yaml"
KINDS = ("Swarm", "WorkerRole")
RESOURCE = {"Swarm": "swarm.hivekeeper.io", "WorkerRole": "workerrole.hivekeeper.io"}


@pytest.fixture
def namespace(kubeconfig: Path, hivekeeper_crds: None) -> Iterator[str]:
    name = f"kstatus-{uuid.uuid4().hex[:8]}"
    created = run_kubectl(kubeconfig, "create", "namespace", name)
    assert created.returncode == 0, created.stderr
    yield name
    run_kubectl(kubeconfig, "delete", "namespace", name, "--wait=false")


class Cluster:
    """One object of one kind in one namespace of the bench cluster, put into the states of gitops_states."""

    def __init__(self, kubeconfig: Path, namespace: str, kind: str) -> None:
        self.kubeconfig, self.namespace, self.kind = kubeconfig, namespace, kind
        self.ref = f"{RESOURCE[kind]}/{gitops_states.NAME[kind]}"

    def kubectl(self, *args: str, stdin: str | None = None) -> str:
        done = run_kubectl(self.kubeconfig, "-n", self.namespace, *args, stdin=stdin)
        assert done.returncode == 0, f"kubectl {' '.join(args)}: {done.stderr}"
        return done.stdout

    def create(self) -> dict[str, Any]:
        manifest = gitops_states.resource(self.kind, "healthy")
        manifest["metadata"] = {"name": manifest["metadata"]["name"], "labels": manifest["metadata"].get("labels", {})}
        del manifest["status"]  # an API server ignores status on create; the operator writes it later
        self.kubectl("create", "-f", "-", stdin=yaml.safe_dump(manifest))
        return self.get()

    def get(self) -> dict[str, Any]:
        obj: dict[str, Any] = json.loads(self.kubectl("get", self.ref, "-o", "json"))
        return obj

    def edit_spec(self, spec: dict[str, Any]) -> int:
        self.kubectl("patch", self.ref, "--type=merge", "-p", json.dumps({"spec": spec}))
        return int(self.get()["metadata"]["generation"])

    def write_status(self, state: str, generation: int | None = None) -> dict[str, Any]:
        """Patch the status the operator writes in ``state`` for ``generation`` (default: the current one)."""
        facts = gitops_states.STATES[state]
        if self.get()["spec"].get("paused", False) != facts.paused:
            self.edit_spec({"paused": facts.paused})
        observed = generation if generation is not None else int(self.get()["metadata"]["generation"])
        status = gitops_states.STATUS[self.kind](facts, observed)
        self.kubectl("patch", self.ref, "--subresource=status", "--type=merge", "-p", json.dumps({"status": status}))
        return self.get()


def judge(obj: dict[str, Any]) -> dict[str, Any]:
    """kstatus' and Flux's verdicts (from the Go wrapper) and Argo CD's, on one object as the API server has it."""
    binary = KSTATUS.binaries()[0]
    if not KSTATUS.is_built():
        pytest.fail(
            f"kstatus ({KSTATUS.module} {KSTATUS.version()}) is not built in {KSTATUS.bin_dir()}; "
            "run `make bench-install`",
            pytrace=False,
        )
    done = subprocess.run(
        [str(binary), "-flux", str(FLUX)],
        input=json.dumps(obj),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    verdict: dict[str, Any] = json.loads(done.stdout)
    verdict["argo"], verdict["argoMessage"] = gitops_states.argo_health(obj["kind"], obj)
    return verdict


def condition(obj: dict[str, Any], type_: str) -> dict[str, Any]:
    found: dict[str, Any] = next(c for c in obj["status"]["conditions"] if c["type"] == type_)
    return found


@pytest.mark.parametrize("kind", KINDS)
def test_a_ready_object_is_current_for_kstatus_and_flux_and_healthy_for_argo(
    kubeconfig: Path, namespace: str, kind: str
) -> None:
    cluster = Cluster(kubeconfig, namespace, kind)
    cluster.create()
    obj = cluster.write_status("healthy")
    verdict = judge(obj)
    assert (verdict["status"], verdict["flux"], verdict["argo"]) == ("Current", "Current", "Healthy")
    assert verdict["message"] == "Resource is Ready"
    assert verdict["argoMessage"] == condition(obj, "Ready")["message"]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("state", ["progressing-config-pending", "progressing-workers-missing", "progressing-pausing"])
def test_a_reconciling_object_is_in_progress_with_the_reconciling_message(
    kubeconfig: Path, namespace: str, kind: str, state: str
) -> None:
    cluster = Cluster(kubeconfig, namespace, kind)
    cluster.create()
    obj = cluster.write_status(state)
    verdict = judge(obj)
    assert (verdict["status"], verdict["flux"], verdict["argo"]) == ("InProgress", "InProgress", "Progressing")
    reconciling = condition(obj, "Reconciling")
    assert reconciling["status"] == "True"
    assert verdict["message"] == reconciling["message"] == verdict["argoMessage"]


@pytest.mark.parametrize("kind", KINDS)
def test_a_stalled_object_is_failed_for_kstatus_and_flux_and_degraded_for_argo(
    kubeconfig: Path, namespace: str, kind: str
) -> None:
    cluster = Cluster(kubeconfig, namespace, kind)
    cluster.create()
    obj = cluster.write_status("degraded-missing-secret")
    verdict = judge(obj)
    assert (verdict["status"], verdict["flux"], verdict["argo"]) == ("Failed", "Failed", "Degraded")
    assert 'secret "hivekeeper-broker" not found' in verdict["message"]
    assert verdict["message"] == condition(obj, "Stalled")["message"] == verdict["argoMessage"]


@pytest.mark.parametrize("kind", KINDS)
def test_a_refused_config_is_failed_for_kstatus_and_flux_and_degraded_for_argo(
    kubeconfig: Path, namespace: str, kind: str
) -> None:
    cluster = Cluster(kubeconfig, namespace, kind)
    cluster.create()
    obj = cluster.write_status("degraded-config-refused")
    verdict = judge(obj)
    assert (verdict["status"], verdict["flux"], verdict["argo"]) == ("Failed", "Failed", "Degraded")
    assert "rejected the config" in verdict["message"]
    # Argo CD shows the worker's own reason: the WorkerRole's ConfigApplied carries it, and the Swarm's carries
    # it up (reason WorkerRejectedConfig) with the role named.
    assert verdict["argoMessage"] == condition(obj, "ConfigApplied")["message"]
    assert gitops_states.REFUSAL in verdict["argoMessage"]
    if kind == "Swarm":
        assert verdict["argoMessage"].startswith("caller: ")


@pytest.mark.parametrize("kind", KINDS)
def test_a_paused_object_is_current_for_kstatus_and_flux_and_suspended_for_argo(
    kubeconfig: Path, namespace: str, kind: str
) -> None:
    cluster = Cluster(kubeconfig, namespace, kind)
    cluster.create()
    obj = cluster.write_status("suspended-paused")
    assert obj["spec"]["paused"] is True
    verdict = judge(obj)
    assert (verdict["status"], verdict["flux"], verdict["argo"]) == ("Current", "Current", "Suspended")
    assert verdict["argoMessage"] == "work is disabled; pods and queues stay"


@pytest.mark.parametrize("kind", KINDS)
def test_an_edited_spec_is_in_progress_until_the_operator_observes_its_generation(
    kubeconfig: Path, namespace: str, kind: str
) -> None:
    cluster = Cluster(kubeconfig, namespace, kind)
    cluster.create()
    cluster.write_status("healthy")
    edit = {"roles": gitops_states.swarm_spec(rate=80)["roles"]} if kind == "Swarm" else {"config": {"threadCount": 32}}
    generation = cluster.edit_spec(edit)
    assert generation == 2
    stale = judge(cluster.get())
    assert (stale["status"], stale["flux"], stale["argo"]) == ("InProgress", "InProgress", "Progressing")
    assert stale["conditions"][0]["reason"] == "LatestGenerationNotObserved"
    observed = judge(cluster.write_status("healthy", generation=generation))
    assert (observed["status"], observed["flux"], observed["argo"]) == ("Current", "Current", "Healthy")


@pytest.mark.parametrize("kind", KINDS)
def test_a_new_object_without_status_is_current_for_kstatus_but_not_for_flux_exprs_or_argo(
    kubeconfig: Path, namespace: str, kind: str
) -> None:
    """kstatus' fallback: no conditions at all means Current. Hence docs/gitops.md recommends healthCheckExprs."""
    cluster = Cluster(kubeconfig, namespace, kind)
    obj = cluster.create()
    assert "status" not in obj or not obj["status"].get("conditions")
    verdict = judge(obj)
    assert verdict["status"] == "Current"
    assert verdict["message"] == "Resource is current"
    assert "flux" not in verdict, "Flux's evaluator errs (Unknown: it keeps waiting) while status is missing"
    assert "no such key" in verdict["fluxError"] or "no such attribute" in verdict["fluxError"]
    assert verdict["argo"] == "Progressing"
