"""The generated CRDs on a real API server: valid swarms are accepted, invalid ones rejected with the reason."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from testbench.kube import run_kubectl

pytestmark = pytest.mark.e2e
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def crds(kubeconfig: Path) -> None:
    applied = run_kubectl(kubeconfig, "apply", "--server-side", "-f", str(REPO / "crds"))
    assert applied.returncode == 0, applied.stderr
    waited = run_kubectl(
        kubeconfig,
        "wait",
        "--for=condition=Established",
        "--timeout=60s",
        "crd/swarms.hivekeeper.io",
        "crd/workerroles.hivekeeper.io",
    )
    assert waited.returncode == 0, waited.stderr


@pytest.fixture
def namespace(kubeconfig: Path, crds: None) -> Iterator[str]:
    name = f"crd-{uuid.uuid4().hex[:8]}"
    assert run_kubectl(kubeconfig, "create", "namespace", name).returncode == 0
    yield name
    run_kubectl(kubeconfig, "delete", "namespace", name, "--wait=false")


def _quickstart() -> dict[str, object]:
    document: dict[str, object] = yaml.safe_load((REPO / "examples" / "quickstart.yaml").read_text())
    return document


def test_every_example_is_accepted_and_listed_with_its_columns(kubeconfig: Path, namespace: str) -> None:
    for example in sorted((REPO / "examples").glob("*.yaml")):
        created = run_kubectl(kubeconfig, "apply", "-n", namespace, "-f", str(example))
        assert created.returncode == 0, f"{example.name}: {created.stderr}"
    listed = run_kubectl(kubeconfig, "get", "sw", "-n", namespace)
    assert listed.stdout.split()[:8] == ["NAME", "READY", "WORKERS", "TPS", "ERRORS", "RUN", "VERDICT", "AGE"]
    everything = run_kubectl(kubeconfig, "get", "hivekeeper", "-n", namespace, "-o", "name")
    assert "swarm.hivekeeper.io/quickstart" in everything.stdout


def test_kubectl_explain_says_where_each_roles_config_keys_are_described(kubeconfig: Path, crds: None) -> None:
    explained = run_kubectl(kubeconfig, "explain", "swarm.spec.roles.config")
    assert explained.returncode == 0, explained.stderr
    text = " ".join(explained.stdout.split())  # kubectl wraps the description
    assert "docs/roles.md lists every key of each" in text
    for role in ("generator", "request-builder", "processor", "postprocessor", "http-sequence", "moderator"):
        assert f"`{role}`" in text, role
    assert "hivekeeper validate PATH" in text
    assert "config-update" in text
    workerrole = run_kubectl(kubeconfig, "explain", "workerrole.spec.config")
    assert workerrole.returncode == 0, workerrole.stderr
    assert "docs/roles.md" in " ".join(workerrole.stdout.split())


def _mutated(change: str) -> str:
    swarm = _quickstart()
    spec = swarm["spec"]
    assert isinstance(spec, dict)
    roles = spec["roles"]
    if change == "duplicate-name":
        roles[1]["name"] = roles[0]["name"]
    elif change == "orphan-alias":
        roles[1]["work"]["in"] = "nobody-produces-this"
    elif change == "role-and-image":
        roles[0]["image"] = "example.org/worker:1"
    elif change == "negative-replicas":
        roles[2]["replicas"] = -1
    elif change == "unknown-field":
        roles[2]["replicaz"] = 3
    elif change == "bad-alias":
        roles[0]["work"]["out"] = "Not_An.Alias"
    return yaml.safe_dump(swarm)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("duplicate-name", "spec.roles[].name must be unique in the swarm"),
        ("orphan-alias", "every spec.roles[].work.in must be the work.out of some role"),
        ("role-and-image", "set exactly one of role (a built-in role) or image"),
        ("negative-replicas", "should be greater than or equal to 0"),
        ("unknown-field", 'unknown field "spec.roles[2].replicaz"'),
        ("bad-alias", "should match"),
    ],
)
def test_an_invalid_swarm_is_rejected_by_the_api_server_with_the_reason(
    kubeconfig: Path, namespace: str, change: str, message: str
) -> None:
    rejected = run_kubectl(kubeconfig, "apply", "-n", namespace, "-f", "-", stdin=_mutated(change))
    assert rejected.returncode != 0
    assert message in rejected.stderr, rejected.stderr


def test_kubectl_scale_drives_a_workerrole(kubeconfig: Path, namespace: str) -> None:
    role = {
        "apiVersion": "hivekeeper.io/v1alpha1",
        "kind": "WorkerRole",
        "metadata": {"name": "caller"},
        "spec": {
            "swarmRef": "quickstart",
            "role": "processor",
            "replicas": 1,
            "work": {"in": "call"},
            "config": {"baseUrl": "http://sut:8080"},
        },
    }
    assert run_kubectl(kubeconfig, "apply", "-n", namespace, "-f", "-", stdin=yaml.safe_dump(role)).returncode == 0
    scaled = run_kubectl(kubeconfig, "scale", "-n", namespace, "wr/caller", "--replicas=3")
    assert scaled.returncode == 0, scaled.stderr
    replicas = run_kubectl(kubeconfig, "get", "-n", namespace, "wr/caller", "-o", "jsonpath={.spec.replicas}")
    assert replicas.stdout == "3"
