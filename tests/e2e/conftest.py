"""What every e2e module shares: each one leaves the node as it found it.

On two cores a swarm left running by one module loads the node for the rest of the session and makes later,
unrelated tests slow or flaky; this check names the module that left it.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from testbench.kube import namespaced_pods, run_kubectl
from testbench.operator_proc import start_operator
from testbench.procs import ManagedProcess

LEFTOVER_TIMEOUT = 180.0
"""How long the pods of namespaces a module deleted may take to go (graceful termination included)."""


@pytest.fixture(scope="module", autouse=True)
def leaves_no_pods_behind(request: pytest.FixtureRequest) -> Iterator[None]:
    """After the module (and all its fixtures) ends, no pod may remain in a namespace that did not exist
    before it started."""
    kubeconfig: Path = request.getfixturevalue("kubeconfig")
    listed = run_kubectl(kubeconfig, "get", "namespaces", "-o", "name")
    assert listed.returncode == 0, listed.stderr
    before = {name.removeprefix("namespace/") for name in listed.stdout.split()}
    yield
    deadline = time.monotonic() + LEFTOVER_TIMEOUT
    left = {n: pods for n, pods in namespaced_pods(kubeconfig).items() if n not in before}
    while left and time.monotonic() < deadline:
        time.sleep(1.0)
        left = {n: pods for n, pods in namespaced_pods(kubeconfig).items() if n not in before}
    assert not left, f"{request.module.__name__} left pods running {LEFTOVER_TIMEOUT:.0f} s after it ended: {left}"


@pytest.fixture
def operator_process(
    kubeconfig: Path,
    rabbitmq_url: str,
    hivekeeper_crds: None,
    namespace: str,
    tmp_path: Path,
    hivekeeper_images: dict[str, str],
) -> Iterator[ManagedProcess]:
    """The operator as a local process watching the module's ``namespace`` (testbench.operator_proc)."""
    process = start_operator(
        kubeconfig=kubeconfig,
        rabbitmq_url=rabbitmq_url,
        namespace=namespace,
        worker_image=hivekeeper_images["worker"],
        log_path=tmp_path / "operator.log",
        # The safe default refuses custom images; the image-worker tests run theirs from this test-only prefix.
        policy={"allowedImages": ["example.test/*"]},
    )
    yield process
    process.stop()
