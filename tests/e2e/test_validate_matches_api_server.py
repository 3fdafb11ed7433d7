"""`hivekeeper validate` agrees with a real API server: the corpus manifests it flags with schema or CEL codes
are refused by `kubectl apply --dry-run=server` (strict field validation), the ones it flags with worker-side
codes are accepted (only validate catches those before the workers do), and the examples are accepted."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from hivekeeper.validate.run import validate_paths
from testbench.kube import run_kubectl

pytestmark = pytest.mark.e2e
REPO = Path(__file__).resolve().parents[2]
CORPUS = sorted((REPO / "tests" / "validate" / "broken").glob("*.yaml"))
API_SERVER_CODES = {
    "schema-type",
    "schema-enum",
    "schema-pattern",
    "schema-range",
    "schema-required",
    "unknown-field",
    "cel-rule",
    "unknown-kind",
}
"""Codes of rules the API server applies itself (the CRD's schema and CEL rules, the served versions)."""
KUBECTL_CODES = {"yaml-syntax"}
"""Codes of problems kubectl refuses before sending anything. (A duplicate key is not one: kubectl keeps the
last value silently, which is why validate reports it.)"""


@pytest.fixture(scope="module")
def namespace(kubeconfig: Path, hivekeeper_crds: None) -> Iterator[str]:
    name = f"validate-{uuid.uuid4().hex[:8]}"
    assert run_kubectl(kubeconfig, "create", "namespace", name).returncode == 0
    yield name
    run_kubectl(kubeconfig, "delete", "namespace", name, "--wait=false")


def dry_run(kubeconfig: Path, namespace: str, manifest: Path) -> tuple[bool, str]:
    done = run_kubectl(kubeconfig, "apply", "--dry-run=server", "-n", namespace, "-f", "-", stdin=manifest.read_text())
    return done.returncode == 0, done.stderr


def test_the_api_server_refuses_exactly_what_validate_flags_with_schema_and_cel_codes(
    kubeconfig: Path, namespace: str
) -> None:
    disagreements = []
    checked = {"refused": 0, "accepted": 0}
    for manifest in CORPUS:
        codes = {f.code for f in validate_paths([str(manifest)]).findings}
        assert codes, f"{manifest.name}: validate found nothing"
        accepted, stderr = dry_run(kubeconfig, namespace, manifest)
        refused_by_validate = bool(codes & (API_SERVER_CODES | KUBECTL_CODES))
        if accepted == refused_by_validate:
            disagreements.append(f"{manifest.name}: validate {sorted(codes)}, kubectl accepted={accepted}: {stderr}")
        checked["accepted" if accepted else "refused"] += 1
    assert disagreements == []
    assert checked["refused"] >= 10  # both sides are well represented in the corpus
    assert checked["accepted"] >= 10


def test_the_api_server_gives_the_cel_message_validate_gives(kubeconfig: Path, namespace: str) -> None:
    for manifest in CORPUS:
        findings = [f for f in validate_paths([str(manifest)]).findings if f.code == "cel-rule"]
        if not findings:
            continue
        accepted, stderr = dry_run(kubeconfig, namespace, manifest)
        assert not accepted
        assert findings[0].message in " ".join(stderr.split()), f"{manifest.name}: {stderr}"


def test_every_example_is_accepted_and_valid(kubeconfig: Path, namespace: str) -> None:
    for example in sorted((REPO / "examples").glob("*.yaml")):
        assert validate_paths([str(example)]).findings == []
        accepted, stderr = dry_run(kubeconfig, namespace, example)
        assert accepted, f"{example.name}: {stderr}"
