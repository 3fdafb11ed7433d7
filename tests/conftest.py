"""Session fixtures that hand tests the real services of the bench (see tests/support/testbench).

A fixture reuses a service that ``make services`` / ``make cluster`` left running (recorded in
.bench/state.json); otherwise it starts a private one for this session and stops it afterwards.
A service that cannot be installed or started fails the tests that need it, loudly, with the
command to run; nothing here skips.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from testbench import registry, state
from testbench.errors import BenchError
from testbench.packages import missing_packages

HOW_TO_START = "run `make test` (installs and starts everything) or `make services` / `make cluster`"


@pytest.fixture(scope="session")
def bench_dir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="hivekeeper-bench-") as directory:
        yield Path(directory)


def _fail(exc: BenchError) -> None:
    pytest.fail(f"{exc}\n  -> {HOW_TO_START}", pytrace=False)


@pytest.fixture(scope="session")
def rabbitmq_url(bench_dir: Path) -> Iterator[str]:
    """AMQP URL of a real RabbitMQ node on loopback."""
    if entry := state.running("rabbitmq"):
        yield str(entry["url"])
        return
    from testbench.rabbitmq import start_rabbitmq

    if missing := missing_packages(["rabbitmq"]):
        _fail(BenchError("rabbitmq", "test bench", f"{' '.join(missing)} is not installed"))
    try:
        broker = registry.track(start_rabbitmq(bench_dir / "rabbitmq"))
    except BenchError as exc:
        _fail(exc)
        raise
    print(f"\n[bench] rabbitmq {broker.url} accepted AMQP after {broker.startup_seconds:.1f}s")
    yield broker.url
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
    try:
        server = registry.track(start_redis(bench_dir / "redis"))
    except BenchError as exc:
        _fail(exc)
        raise
    print(f"\n[bench] redis {server.url} answered PING after {server.startup_seconds:.2f}s")
    yield server.url
    registry.release(server)


@pytest.fixture(scope="session")
def kubeconfig(bench_dir: Path) -> Iterator[Path]:
    """Path of an admin kubeconfig for a real etcd + kube-apiserver + kube-controller-manager."""
    if entry := state.running("kube"):
        yield Path(entry["kubeconfig"])
        return
    from testbench.gobuild import ETCD, KUBERNETES
    from testbench.kube import start_control_plane

    for build in (ETCD, KUBERNETES):
        if not build.is_built():
            _fail(
                BenchError(
                    build.name,
                    "test bench",
                    f"{build.module} {build.version()} is not built in {build.bin_dir()}",
                )
            )
    try:
        plane = registry.track(start_control_plane(bench_dir / "kube"))
    except BenchError as exc:
        _fail(exc)
        raise
    print(
        f"\n[bench] control plane {plane.server}; started in "
        + ", ".join(f"{name} {sec:.1f}s" for name, sec in plane.startup_seconds.items())
    )
    for name, version in plane.versions.items():
        print(f"[bench] {name}: {version}")
    yield plane.kubeconfig
    registry.release(plane)
