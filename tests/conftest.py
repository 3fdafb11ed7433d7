"""Session fixtures that hand tests the real services of the bench (see tests/support/testbench).

A fixture reuses a service that ``make services`` / ``make cluster`` left running (recorded in
.bench/state.json); otherwise it starts a private one for this session and stops it afterwards.
A service that cannot be installed or started fails the tests that need it, loudly, with the
command to run; nothing here skips.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn, TypeVar

import pytest

from testbench import registry, state
from testbench.errors import BenchError
from testbench.packages import NODE, missing_packages

if TYPE_CHECKING:
    from testbench.kube import Cluster, Exposure
    from testbench.rabbitmq import RabbitMQ

T = TypeVar("T")
REPORT: list[str] = []  # what the bench started this session, shown after the test results

HOW_TO_START = "run `make test` (installs and starts everything) or `make services` / `make cluster`"


@pytest.fixture(scope="session")
def bench_dir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="hivekeeper-bench-") as directory:
        yield Path(directory)


def _fail(exc: BenchError) -> NoReturn:
    pytest.fail(f"{exc}\n  -> {HOW_TO_START}", pytrace=False)


def _start(start: Callable[[], T]) -> T:
    """Start a service; a failure fails the asking test with one line (no chained traceback)."""
    try:
        return start()
    except BenchError as exc:
        failure = exc
    _fail(failure)


@pytest.fixture(scope="session")
def rabbitmq_url(bench_dir: Path) -> Iterator[str]:
    """AMQP URL of a real RabbitMQ node on loopback."""
    if entry := state.running("rabbitmq"):
        yield str(entry["url"])
        return
    from testbench.rabbitmq import start_rabbitmq

    if missing := missing_packages(["rabbitmq"]):
        _fail(BenchError("rabbitmq", "test bench", f"{' '.join(missing)} is not installed"))
    broker = registry.track(_start(lambda: start_rabbitmq(bench_dir / "rabbitmq")))
    REPORT.append(f"rabbitmq {broker.url}: accepted AMQP {broker.startup_seconds:.1f}s after start")
    yield broker.url
    registry.release(broker)


@pytest.fixture(scope="session")
def own_broker(bench_dir: Path) -> Iterator[RabbitMQ]:
    """A RabbitMQ node for the tests that change a broker at run time (alarms, limits, policies, users, a restart),
    never the shared one; one for the session, so each such test puts back what it changed."""
    from testbench.rabbitmq import start_rabbitmq

    if missing := missing_packages(["rabbitmq"]):
        _fail(BenchError("rabbitmq", "test bench", f"{' '.join(missing)} is not installed"))
    broker = registry.track(_start(lambda: start_rabbitmq(bench_dir / "own-rabbitmq")))
    REPORT.append(f"own rabbitmq {broker.url}: accepted AMQP {broker.startup_seconds:.1f}s after start")
    yield broker
    registry.release(broker)


@pytest.fixture(scope="session")
def redis_url(bench_dir: Path) -> Iterator[str]:
    """Redis URL of a real redis-server on loopback."""
    if entry := state.running("redis"):
        yield str(entry["url"])
        return
    from testbench.redis import start_redis

    if missing := missing_packages(["redis"]):
        _fail(BenchError("redis", "test bench", f"{' '.join(missing)} is not installed"))
    server = registry.track(_start(lambda: start_redis(bench_dir / "redis")))
    REPORT.append(f"redis {server.url}: answered PING {server.startup_seconds:.2f}s after start")
    yield server.url
    registry.release(server)


@pytest.fixture(scope="session")
def cluster(bench_dir: Path) -> Iterator[Cluster]:
    """A real one-node Kubernetes: control plane, kubelet, containerd, runc, CNI, kube-proxy and CoreDNS, in a
    network namespace of its own (see testbench.kube); the admin kubeconfig reaches it through loopback."""
    from testbench.gobuild import COREDNS, ETCD, KUBERNETES
    from testbench.kube import Cluster, start_cluster

    if entry := state.running("kube"):
        attached = Cluster.attach(entry)
        yield attached
        attached.stop()
        return
    if missing := missing_packages(NODE):
        _fail(BenchError("kube", "test bench", f"{' '.join(missing)} is not installed; run `make bench-install`"))
    for build in (ETCD, KUBERNETES, COREDNS):
        if not build.is_built():
            _fail(
                BenchError(
                    build.name,
                    "test bench",
                    f"{build.module} {build.version()} is not built in {build.bin_dir()}; run `make bench-install`",
                )
            )
    started = registry.track(_start(lambda: start_cluster(bench_dir / "kube", owner_pid=os.getpid())))
    REPORT.append(
        "kubernetes node: "
        + ", ".join(f"{name} {seconds:.1f}s" for name, seconds in started.startup_seconds.items())
        + f" (network namespace {started.namespace})"
    )
    yield started
    registry.release(started)


@pytest.fixture(scope="session")
def kubeconfig(cluster: Cluster) -> Path:
    """Path of an admin kubeconfig for the bench's cluster (a real node; see ``cluster``)."""
    return cluster.kubeconfig


def _pod_url(cluster: Cluster, url: str) -> str:
    return cluster.expose_url(url)[0]


@pytest.fixture(scope="session")
def pod_rabbitmq_url(cluster: Cluster, rabbitmq_url: str) -> str:
    """The bench's RabbitMQ as pods reach it: the node's address, relayed to the broker's loopback port."""
    return _pod_url(cluster, rabbitmq_url)


@pytest.fixture(scope="session")
def pod_redis_url(cluster: Cluster, redis_url: str) -> str:
    """The bench's Redis as pods reach it (see ``pod_rabbitmq_url``)."""
    return _pod_url(cluster, redis_url)


@pytest.fixture(scope="session")
def hivekeeper_images(cluster: Cluster) -> dict[str, str]:
    """Our operator and worker images, built from the shipped Dockerfiles (``make images``; cached by the
    digest of their inputs) and loaded into the node's containerd: ``{"operator": ref, "worker": ref}``."""
    import time

    from testbench.images import ensure_images

    began = time.monotonic()
    archives = _start(ensure_images)
    _start(lambda: cluster.load_images(list(archives.values())))
    REPORT.append(f"images {', '.join(archives)}: built or cached and loaded in {time.monotonic() - began:.1f}s")
    return {ref.split("/", 1)[1].split(":", 1)[0]: ref for ref in archives}


@pytest.fixture
def expose(cluster: Cluster) -> Iterator[Callable[[int], str]]:
    """``expose(port)``: make a loopback port of this test (a SUT) reachable from pods; returns host:port."""
    exposures: list[Exposure] = []

    def make(port: int) -> str:
        exposures.append(cluster.expose(port))
        return exposures[-1].address

    yield make
    for exposure in exposures:
        exposure.stop()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if REPORT:
        terminalreporter.section("hivekeeper test bench")
        for line in REPORT:
            terminalreporter.write_line(line)


@pytest.fixture(scope="session")
def hivekeeper_crds(kubeconfig: Path) -> None:
    """The generated CRDs installed (server-side apply) and Established on the bench's API server."""
    from testbench.kube import install_crds

    _start(lambda: install_crds(kubeconfig, Path(__file__).resolve().parents[1] / "crds"))


@pytest.fixture(scope="session")
def helm() -> Path:
    """Path of the helm binary built from the pinned helm.sh/helm/v3 module (tests/support/helm)."""
    from testbench.gobuild import HELM
    from testbench.helmtool import helm as helm_path

    if not HELM.is_built():
        missing = f"{HELM.module} {HELM.version()} is not built in {HELM.bin_dir()}; run `make bench-install`"
        _fail(BenchError(HELM.name, "test bench", missing))
    return helm_path()
