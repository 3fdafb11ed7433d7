"""The admission webhook on the bench's real node: `kubectl apply` against the API server, the chart's webhook,
our operator image answering it.

A Swarm or WorkerRole with a bad role config is refused, and the message is what `hivekeeper validate` prints for
the same file (without its `file:line:`: the API server has the object, not the file); a good one is stored; a
warning reaches kubectl; the chart's certificate survives `helm upgrade`; with no operator running, what
docs/operator.md says happens does (failurePolicy Fail: creations and spec changes are refused, metadata updates
pass, and all is well again once an operator runs).
"""

from __future__ import annotations

import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import pytest
import yaml

from testbench.diagnose import pods_report
from testbench.helmtool import run_helm
from testbench.kube import remove_namespaces, run_kubectl
from testbench.waiting import eventually

pytestmark = pytest.mark.e2e
REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "helm" / "hivekeeper"
QUICKSTART = (REPO / "examples" / "quickstart.yaml").read_text()
DENIED = 'admission webhook "role-configs.hivekeeper.io" denied the request: '
LOCATION = re.compile(r"^\S+?:\d+: ", re.MULTILINE)
WORKERROLE = """\
apiVersion: hivekeeper.io/v1alpha1
kind: WorkerRole
metadata:
  name: lone-caller
spec:
  role: processor
  swarmRef: lone
  replicas: 0
  work: {in: call}
  config:
    baseUrl: http://sut.perf.svc:8080
    timeoutMilis: 500
"""


class Release(NamedTuple):
    name: str
    namespace: str
    """Where the operator runs."""
    swarms: str
    """The namespace it watches (and the webhook checks)."""


@pytest.fixture(scope="module")
def release(
    helm: Path,
    kubeconfig: Path,
    hivekeeper_images: dict[str, str],
    hivekeeper_crds: None,
    pod_rabbitmq_url: str,
    pod_redis_url: str,
) -> Iterator[Release]:
    """The chart installed with its defaults (the webhook on, failurePolicy Fail), watching one namespace; the
    CRDs as the bench applies them (test_helm_chart.py tests the chart's own copies)."""
    suffix = uuid.uuid4().hex[:8]
    found = Release("hkw", f"hkw-{suffix}", f"sww-{suffix}")
    for namespace in (found.namespace, found.swarms):
        assert run_kubectl(kubeconfig, "create", "namespace", namespace).returncode == 0
        secret = run_kubectl(
            kubeconfig, "create", "secret", "generic", "hivekeeper-broker", "-n", namespace,
            f"--from-literal=amqpUrl={pod_rabbitmq_url}", f"--from-literal=redisUrl={pod_redis_url}",
        )  # fmt: skip
        assert secret.returncode == 0, secret.stderr
    operator_repository, operator_tag = hivekeeper_images["operator"].rsplit(":", 1)
    worker_repository, worker_tag = hivekeeper_images["worker"].rsplit(":", 1)
    installed = run_helm(
        "install", found.name, str(CHART), "--namespace", found.namespace,
        "--set", f"operator.image.repository={operator_repository}", "--set", f"operator.image.tag={operator_tag}",
        "--set", "operator.image.pullPolicy=Never", "--set", "crds.install=false",
        "--set", f"workers.image.repository={worker_repository}", "--set", f"workers.image.tag={worker_tag}",
        "--set", f"watchNamespaces={{{found.swarms}}}", "--set", "rbac.namespaced=true",
        "--wait", "--timeout", "4m",
        kubeconfig=kubeconfig, timeout=300,
    )  # fmt: skip
    assert installed.returncode == 0, f"{installed.stderr}\n{pods_report(kubeconfig, found.namespace)}"
    yield found
    for swarm in run_kubectl(kubeconfig, "get", "swarms", "-n", found.swarms, "-o", "name").stdout.split():
        run_kubectl(kubeconfig, "delete", "-n", found.swarms, swarm, "--timeout=60s")
        run_kubectl(
            kubeconfig, "patch", "-n", found.swarms, swarm, "--type=merge", "-p", '{"metadata":{"finalizers":null}}'
        )
    run_helm("uninstall", found.name, "--namespace", found.namespace, "--wait", kubeconfig=kubeconfig, timeout=200)
    left = remove_namespaces(kubeconfig, found.swarms, found.namespace)
    assert not left, (
        f"namespaces still there 180 s after deletion: {left}\n{[pods_report(kubeconfig, n) for n in left]}"
    )


def _validate(path: Path) -> subprocess.CompletedProcess[str]:
    """`hivekeeper validate PATH`, as a user runs it."""
    return subprocess.run(
        [sys.executable, "-m", "hivekeeper.cli", "validate", str(path)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def _printed_findings(path: Path, severity: str) -> list[str]:
    """The findings of one severity `hivekeeper validate` prints for ``path`` (each with its `fix:` line), without
    their `file:line:`; its notes and summary line left out."""
    lines = _validate(path).stdout.splitlines()
    findings: list[str] = []
    for line in lines:
        if line.startswith(f"{path}:") and f": {severity} " in line:
            findings.append(LOCATION.sub("", line))
        elif line.startswith("  fix: ") and findings and not findings[-1].count("\n  fix: "):
            findings[-1] += "\n" + line
    return findings


def _apply(kubeconfig: Path, namespace: str, path: Path) -> subprocess.CompletedProcess[str]:
    return run_kubectl(kubeconfig, "apply", "-n", namespace, "-f", str(path))


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def _bad_swarm(name: str = "quickstart") -> str:
    return QUICKSTART.replace("threadCount: 16", "threadCount: 16\n        thredCount: 4").replace(
        "name: quickstart", f"name: {name}", 1
    )


def _stored(kubeconfig: Path, namespace: str, kind: str, name: str) -> dict[str, Any] | None:
    found = run_kubectl(kubeconfig, "get", kind, name, "-n", namespace, "-o", "yaml")
    return yaml.safe_load(found.stdout) if found.returncode == 0 else None


def test_a_swarm_with_an_unknown_role_config_key_is_refused_with_what_validate_prints(
    kubeconfig: Path, release: Release, tmp_path: Path
) -> None:
    path = _write(tmp_path, "bad-swarm.yaml", _bad_swarm("bad-swarm"))
    [expected] = _printed_findings(path, "error")
    assert "thredCount: unknown key for role processor" in expected
    applied = _apply(kubeconfig, release.swarms, path)
    assert applied.returncode != 0, applied.stdout
    refusal = applied.stderr.strip()
    assert DENIED in refusal, refusal
    assert refusal.split(DENIED, 1)[1] == expected
    assert _stored(kubeconfig, release.swarms, "swarm", "bad-swarm") is None


def test_a_workerrole_with_a_bad_config_is_refused_with_what_validate_prints(
    kubeconfig: Path, release: Release, tmp_path: Path
) -> None:
    path = _write(tmp_path, "bad-role.yaml", WORKERROLE)
    [expected] = _printed_findings(path, "error")
    applied = _apply(kubeconfig, release.swarms, path)
    assert applied.returncode != 0, applied.stdout
    assert applied.stderr.strip().split(DENIED, 1)[1] == expected
    assert "(spec.config.timeoutMilis)" in expected
    assert _stored(kubeconfig, release.swarms, "workerrole", "lone-caller") is None


def test_a_good_swarm_is_stored_and_a_bad_edit_of_it_is_refused_leaving_it_as_it_was(
    kubeconfig: Path, release: Release, tmp_path: Path
) -> None:
    good = _write(tmp_path, "quickstart.yaml", QUICKSTART)
    assert _validate(good).returncode == 0
    applied = _apply(kubeconfig, release.swarms, good)
    assert applied.returncode == 0, applied.stderr
    assert "Warning:" not in applied.stderr
    assert applied.stdout.strip() == "swarm.hivekeeper.io/quickstart created"

    bad = _write(tmp_path, "quickstart-edited.yaml", _bad_swarm())
    [expected] = _printed_findings(bad, "error")
    edited = _apply(kubeconfig, release.swarms, bad)
    assert edited.returncode != 0, edited.stdout
    assert edited.stderr.strip().split(DENIED, 1)[1] == expected
    stored = _stored(kubeconfig, release.swarms, "swarm", "quickstart")
    assert stored is not None
    assert "thredCount" not in stored["spec"]["roles"][2]["config"]


def test_a_manifest_with_only_warnings_is_stored_and_kubectl_prints_each_warning(
    kubeconfig: Path, release: Release, tmp_path: Path
) -> None:
    text = QUICKSTART.replace("{{ pickWeighted('balance', 80, 'topup', 20) }}", "{{ payload.kind }}")
    path = _write(tmp_path, "dynamic.yaml", text.replace("name: quickstart", "name: dynamic", 1))
    [expected] = _printed_findings(path, "warning")
    applied = _apply(kubeconfig, release.swarms, path)
    assert applied.returncode == 0, applied.stderr
    # The API server passes warnings on as one line each: the finding's fix line joins it.
    one_line = " ".join(line.strip() for line in expected.splitlines())
    assert f"Warning: {one_line}" in applied.stderr.splitlines(), applied.stderr
    assert _stored(kubeconfig, release.swarms, "swarm", "dynamic") is not None


def test_the_webhook_certificate_and_ca_bundle_survive_helm_upgrade(kubeconfig: Path, release: Release) -> None:
    def current() -> tuple[str, str]:
        secret = _stored(kubeconfig, release.namespace, "secret", "hkw-hivekeeper-webhook-tls")
        config = _stored(
            kubeconfig, "", "validatingwebhookconfiguration", f"hkw-hivekeeper-webhook-{release.namespace}"
        )
        assert secret is not None
        assert config is not None
        assert config["webhooks"][0]["clientConfig"]["caBundle"] == secret["data"]["ca.crt"]
        return secret["data"]["tls.crt"], secret["data"]["ca.crt"]

    before = current()
    upgraded = run_helm(
        "upgrade", release.name, str(CHART), "--namespace", release.namespace, "--reuse-values", "--wait",
        kubeconfig=kubeconfig, timeout=300,
    )  # fmt: skip
    assert upgraded.returncode == 0, upgraded.stderr
    assert current() == before


async def test_with_no_operator_running_creations_are_refused_metadata_updates_pass_and_a_restarted_operator_answers(
    kubeconfig: Path, release: Release, tmp_path: Path
) -> None:
    """docs/operator.md, "When no operator runs" (failurePolicy Fail, the chart's default)."""
    deployment = f"deployment/{release.name}-hivekeeper-operator"
    selector = f"app.kubernetes.io/name=hivekeeper-operator,app.kubernetes.io/instance={release.name}"
    scaled = run_kubectl(kubeconfig, "scale", "-n", release.namespace, deployment, "--replicas=0")
    assert scaled.returncode == 0, scaled.stderr
    gone = run_kubectl(
        kubeconfig, "wait", "-n", release.namespace, "--for=delete", "pod", "-l", selector, "--timeout=90s"
    )
    assert gone.returncode == 0, gone.stderr
    try:
        good = _write(tmp_path, "later.yaml", QUICKSTART.replace("name: quickstart", "name: later", 1))
        refused = _apply(kubeconfig, release.swarms, good)
        assert refused.returncode != 0, refused.stdout
        assert 'failed calling webhook "role-configs.hivekeeper.io"' in refused.stderr, refused.stderr
        assert _stored(kubeconfig, release.swarms, "swarm", "later") is None
        labelled = run_kubectl(kubeconfig, "label", "-n", release.swarms, "swarm/quickstart", "team=perf")
        assert labelled.returncode == 0, f"a metadata update needs no operator: {labelled.stderr}"
    finally:
        back = run_kubectl(kubeconfig, "scale", "-n", release.namespace, deployment, "--replicas=1")
        assert back.returncode == 0, back.stderr
        ready = run_kubectl(kubeconfig, "rollout", "status", "-n", release.namespace, deployment, "--timeout=120s")
        assert ready.returncode == 0, f"{ready.stderr}\n{pods_report(kubeconfig, release.namespace)}"

    async def accepted() -> bool:
        return _apply(kubeconfig, release.swarms, good).returncode == 0

    await eventually(accepted, timeout=60, interval=1.0, what="the Swarm accepted once the operator runs again")
