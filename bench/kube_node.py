"""The real one-node Kubernetes that ``make bench`` measures the operator and pod start-up on.

One node (``testbench.kube.start_cluster``: control plane, kubelet, containerd + runc, kube-proxy, CoreDNS in
a network namespace of its own) with our worker image loaded, the CRDs installed, and a RabbitMQ on host
loopback. Pods reach the broker and the SUT only through ``Cluster.expose`` (the node's address, relayed to a
loopback port), so all traffic stays on loopback or inside the bench's namespace. The operator and the bench's
own AMQP listener use the broker's loopback URL; the ``hivekeeper-broker`` Secret holds the pods' URL.
"""

from __future__ import annotations

import base64
import os
import re
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "support"))

from testbench import registry  # noqa: E402
from testbench.images import ensure_images  # noqa: E402
from testbench.kube import Cluster, install_crds, start_cluster  # noqa: E402
from testbench.procs import ManagedProcess  # noqa: E402
from testbench.rabbitmq import RabbitMQ, start_rabbitmq  # noqa: E402
from testbench.waiting import eventually  # noqa: E402

if TYPE_CHECKING:
    from lightkube import AsyncClient

WORKER_IMAGE = "hivekeeper/worker:dev"
BROKER_SECRET = "hivekeeper-broker"


@dataclass
class BenchNode:
    """A running node with the broker and SUT exposed to its pods; ``stop`` removes all of it."""

    cluster: Cluster
    broker: RabbitMQ
    pod_amqp_url: str
    seconds: dict[str, float] = field(default_factory=dict)
    """How long each step of ``start_node`` (and ``stop``) took."""

    @property
    def kubeconfig(self) -> Path:
        return self.cluster.kubeconfig

    @property
    def amqp_url(self) -> str:
        return self.broker.url

    def pod_url(self, url: str) -> str:
        """``url`` (a loopback service of the host) as pods reach it: the node's address, relayed."""
        parts = urlsplit(url)
        address = self.cluster.expose(parts.port or 80).address
        netloc = f"{parts.username}:{parts.password}@{address}" if parts.username else address
        return urlunsplit(parts._replace(netloc=netloc))

    def stop(self) -> None:
        registry.release(self.cluster)  # the exposures' relays too
        registry.release(self.broker)


def start_node(workdir: Path) -> BenchNode:
    """Build (or find cached) the worker image, start a broker and the node, load the image, install the CRDs.

    Both are registered with ``testbench.registry`` so that SIGTERM/SIGHUP still remove the node (its network
    namespace, mounts and cgroups), not only a normal return.
    """
    seconds: dict[str, float] = {}
    began = time.monotonic()
    archives = ensure_images()
    seconds["images (build or cache)"] = time.monotonic() - began
    began = time.monotonic()
    broker = registry.track(start_rabbitmq(workdir / "node-rabbitmq"))
    seconds["rabbitmq"] = time.monotonic() - began
    try:
        began = time.monotonic()
        # Only the worker image: the operator runs as a local process here, and each archive costs seconds.
        cluster = registry.track(
            start_cluster(workdir / "kube", owner_pid=os.getpid(), images=[archives[WORKER_IMAGE]])
        )
        seconds["node"] = time.monotonic() - began
    except BaseException:
        registry.release(broker)
        raise
    node = BenchNode(cluster, broker, "", seconds)
    try:
        began = time.monotonic()
        install_crds(cluster.kubeconfig, REPO / "crds")
        seconds["crds"] = time.monotonic() - began
        node.pod_amqp_url = node.pod_url(broker.url)
    except BaseException:
        node.stop()
        raise
    return node


async def namespace_with_broker(kube: AsyncClient, name: str, pod_amqp_url: str) -> None:
    """A namespace with the broker Secret worker pods read, ready for pods (its ServiceAccount exists: the
    admission plugin refuses a pod until then, even one that mounts no token)."""
    from lightkube.models.meta_v1 import ObjectMeta
    from lightkube.resources.core_v1 import Namespace, Secret, ServiceAccount

    await kube.create(Namespace(metadata=ObjectMeta(name=name)))
    await kube.create(
        Secret(
            metadata=ObjectMeta(name=BROKER_SECRET, namespace=name),
            data={"amqpUrl": base64.b64encode(pod_amqp_url.encode()).decode()},
        )
    )

    async def service_account() -> bool:
        return bool(await kube.get(ServiceAccount, "default", namespace=name))

    await eventually(service_account, timeout=30, interval=0.1, what=f"the default ServiceAccount in {name}")


async def metrics_port(operator: ManagedProcess) -> int:
    """The port the operator's /metrics bound (``--metrics-port auto``), from its log."""

    async def logged() -> int | None:
        found = re.search(r"serving /metrics on port (\d+)", operator.log_path.read_text(errors="replace"))
        return int(found.group(1)) if found else None

    return await eventually(logged, timeout=60, interval=0.2, what="the operator to log its metrics port")


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile (the bench's samples are few; no interpolation between them)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


def summary(values: list[float]) -> dict[str, float]:
    """p50/p95/max of millisecond samples, rounded for the report and the JSON."""
    return {
        "p50_ms": round(statistics.median(values), 1),
        "p95_ms": round(percentile(values, 95), 1),
        "max_ms": round(max(values), 1),
    }


def describe_error(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"
