"""Pod start-up on the bench's real node: from the create (or scale) request to a worker pod that runs.

The pods are the ones the operator makes for a WorkerRole (``hivekeeper.operator.manifests.deployment``: our
worker image, hardened pod, broker URL from the Secret), for a generator role of a swarm of their own, so
they connect to the bench's RabbitMQ and report but no operator or other worker is involved. Two shapes:

* **one at a time**: ``--pods`` pods created one after another, each only once the previous one reports, so
  every sample is a single pod on an otherwise idle node;
* **burst**: a Deployment of those pods scaled from 0 to ``--pods`` in one request (what ``kubectl scale``
  on a WorkerRole leads to), every pod timed from the scale request, so the samples include the queueing
  of ``--pods`` containers starting at once on the node's two cores.

Per pod, three moments, each the arrival time of the first event that shows it (a pod watch on the API, and
the control exchange for the worker's own ``status-full``), not the status timestamps (whole seconds):

* **Running**: ``status.phase`` Running (scheduled, sandbox and network set up, container started);
* **Ready**: the ``Ready`` condition True (the worker container declares no readiness probe, so this is
  the kubelet reporting the started container; it comes with or shortly after Running);
* **reporting**: the worker's first ``status-full`` on the broker (Python started, connected, listening for
  signals): when the pod is actually of use to a swarm.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import TYPE_CHECKING, Any

from kube_node import WORKER_IMAGE, BenchNode, describe_error, namespace_with_broker, summary

from testbench.waiting import eventually

if TYPE_CHECKING:
    from lightkube import AsyncClient

NAMESPACE, SWARM = "bench-pods", "pods"
POD_TIMEOUT, BURST_TIMEOUT = 60.0, 180.0
"""Bounds for one pod, and for the whole burst, to report (the image is loaded: nothing is pulled)."""


def _deployment(role: str, replicas: int) -> dict[str, Any]:
    from hivekeeper.api.workerrole import WorkerRoleSpec
    from hivekeeper.operator import manifests
    from hivekeeper.protocol import naming

    config = {
        "inputs": {"scheduler": {"ratePerSec": 1}},
        "message": {"bodyType": "HTTP", "method": "GET", "path": "/"},
    }
    made = manifests.deployment(
        name=f"{SWARM}-{role}",
        namespace=NAMESPACE,
        swarm=SWARM,
        swarm_id=naming.swarm_id(SWARM, NAMESPACE),
        role=role,
        spec=WorkerRoleSpec(swarmRef=SWARM, role="generator", replicas=replicas, config=config),
        bootstrap_config=config,
        owner={},
        defaults=manifests.WorkerDefaults(image=WORKER_IMAGE),
    )
    del made["metadata"]["ownerReferences"]  # no WorkerRole here: the bench owns and deletes these
    return made


class Moments:
    """When each pod was first seen Running, Ready and reporting, on this process's monotonic clock."""

    def __init__(self) -> None:
        self.running: dict[str, float] = {}
        self.ready: dict[str, float] = {}
        self.reporting: dict[str, float] = {}

    def complete(self, pods: set[str]) -> bool:
        return bool(pods) and all(p in self.running and p in self.ready and p in self.reporting for p in pods)

    def seen(self, pod: str) -> str:
        moments = (("Running", self.running), ("Ready", self.ready), ("reporting", self.reporting))
        return ", ".join(what for what, seen in moments if pod in seen) or "nothing"

    def samples(self, started: dict[str, float]) -> dict[str, list[float]]:
        return {
            what: [(seen[pod] - started[pod]) * 1000 for pod in started]
            for what, seen in (("running", self.running), ("ready", self.ready), ("reporting", self.reporting))
        }


async def _watch_pods(kube: AsyncClient, moments: Moments) -> None:
    from lightkube.resources.core_v1 import Pod
    from lightkube.types import on_error_retry

    # Retry: a dropped watch must not silently end the measurement (the probes would then time out).
    async for _, pod in kube.watch(Pod, namespace=NAMESPACE, on_error=on_error_retry):
        name, status = str(pod.metadata.name if pod.metadata else ""), pod.status
        now = time.monotonic()
        if status is None:
            continue
        if status.phase == "Running":
            moments.running.setdefault(name, now)
        if any(c.type == "Ready" and c.status == "True" for c in status.conditions or []):
            moments.ready.setdefault(name, now)


async def _listen_reports(amqp_url: str, moments: Moments) -> Any:
    """Consume the pod swarm's events; returns the connection (closed by the caller)."""
    import aio_pika

    from hivekeeper.protocol import envelope as env
    from hivekeeper.protocol import naming

    connection = await aio_pika.connect(amqp_url)
    channel = await connection.channel()
    control = await channel.declare_exchange(naming.CONTROL_EXCHANGE, aio_pika.ExchangeType.TOPIC, durable=True)
    events = await channel.declare_queue(exclusive=True)
    await events.bind(control, naming.events_binding(naming.swarm_id(SWARM, NAMESPACE)))

    async def on_event(message: aio_pika.abc.AbstractIncomingMessage) -> None:
        async with message.process():
            event = env.parse(message.body)
            if event.type == "status-full":
                moments.reporting.setdefault(event.scope.instance, time.monotonic())

    await events.consume(on_event)
    return connection


async def _pods_gone(kube: AsyncClient) -> None:
    from lightkube.resources.core_v1 import Pod

    async def gone() -> bool:
        return not [pod async for pod in kube.list(Pod, namespace=NAMESPACE)]

    # The next measurement (and the operator's) should not share the node's cores with stopping workers.
    await eventually(gone, timeout=120, interval=0.2, what=f"the pods of {NAMESPACE} to be deleted")


async def _one_at_a_time(kube: AsyncClient, moments: Moments, count: int) -> dict[str, Any]:
    from lightkube.codecs import from_dict
    from lightkube.resources.core_v1 import Pod

    template = _deployment("single", 0)["spec"]["template"]
    started: dict[str, float] = {}
    for index in range(count):
        name = f"{SWARM}-single-{index}"
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {**template["metadata"], "name": name, "namespace": NAMESPACE},
        }
        pod["spec"] = template["spec"]
        started[name] = time.monotonic()
        await kube.create(from_dict(pod))

        async def up(name: str = name) -> bool:
            return moments.complete({name})

        try:
            await eventually(up, timeout=POD_TIMEOUT, interval=0.01, what=f"pod {name} Running, Ready and reporting")
        except AssertionError as exc:
            raise AssertionError(f"{exc}; seen: {moments.seen(name)}") from exc
    for name in started:
        await kube.delete(Pod, name, namespace=NAMESPACE, grace_period=5)
    await _pods_gone(kube)
    return {name: summary(values) for name, values in moments.samples(started).items()}


async def _burst(kube: AsyncClient, moments: Moments, count: int) -> dict[str, Any]:
    from lightkube.codecs import from_dict
    from lightkube.resources.apps_v1 import Deployment
    from lightkube.resources.core_v1 import Pod
    from lightkube.types import PatchType

    from hivekeeper.operator.manifests import selector_labels

    deployment = _deployment("burst", 0)
    selector: dict[str, Any] = {**selector_labels(SWARM, "burst")}
    name = deployment["metadata"]["name"]
    await kube.create(from_dict(deployment))
    began = time.monotonic()
    await kube.patch(
        Deployment.Scale,
        name,
        {"spec": {"replicas": count}},
        namespace=NAMESPACE,
        patch_type=PatchType.MERGE,
    )

    async def all_up() -> set[str] | None:
        pods = {str(p.metadata.name) async for p in kube.list(Pod, namespace=NAMESPACE, labels=selector) if p.metadata}
        return pods if len(pods) == count and moments.complete(pods) else None

    try:
        pods = await eventually(all_up, timeout=BURST_TIMEOUT, interval=0.2, what=f"{count} pods of a burst reporting")
    except AssertionError as exc:
        listed = [
            str(p.metadata.name) async for p in kube.list(Pod, namespace=NAMESPACE, labels=selector) if p.metadata
        ]
        raise AssertionError(f"{exc}; seen: {', '.join(f'{p}: {moments.seen(p)}' for p in listed)}") from exc
    samples = moments.samples(dict.fromkeys(pods, began))
    await kube.delete(Deployment, name, namespace=NAMESPACE)
    await _pods_gone(kube)
    return {what: summary(values) for what, values in samples.items()}


async def measure_pods(node: BenchNode, count: int) -> dict[str, Any]:
    """Both shapes, ``count`` pods each; a shape that fails reports its error and the other still runs."""
    from lightkube import AsyncClient, KubeConfig

    kube = AsyncClient(config=KubeConfig.from_file(str(node.kubeconfig)))
    moments = Moments()
    watcher: asyncio.Task[None] | None = None
    connection = None
    result: dict[str, Any] = {"pods": count}
    try:
        await namespace_with_broker(kube, NAMESPACE, node.pod_amqp_url)
        watcher = asyncio.create_task(_watch_pods(kube, moments))
        connection = await _listen_reports(node.amqp_url, moments)
        for shape, measure in (("one_at_a_time", _one_at_a_time), ("burst", _burst)):
            began = time.monotonic()
            try:
                result[shape] = await measure(kube, moments, count)
            except Exception as exc:  # a bench reports what it could not measure instead of dying
                result[shape] = {"error": describe_error(exc)}
            result[shape]["seconds"] = round(time.monotonic() - began, 1)
    except Exception as exc:
        result["error"] = describe_error(exc)
    finally:
        if watcher is not None:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await watcher
        if connection is not None:
            await connection.close()
        await kube.close()
    return result


def report(result: dict[str, Any]) -> None:
    pods = result.get("pods")
    print(f"\nPod start-up on the bench node (kubelet + containerd + runc, our worker image, {pods} pods)")
    if "error" in result:
        print(f"  not measured: {result['error'][:200]}")
        return
    shapes = (("one_at_a_time", "one at a time"), ("burst", f"burst, 0 → {result['pods']} replicas"))
    print(f"  {'':34} {'Running p50/p95':>17} {'Ready p50/p95':>17} {'reporting p50/p95':>19}  (ms)")
    for key, label in shapes:
        data = result.get(key, {})
        if "error" in data:
            print(f"  {label:34} not measured: {data['error'][:160]}")
            continue
        cells = [f"{data[m]['p50_ms']:.0f} / {data[m]['p95_ms']:.0f}" for m in ("running", "ready", "reporting")]
        print(f"  {label:34} {cells[0]:>17} {cells[1]:>17} {cells[2]:>19}  ({data['seconds']:.0f} s)")
    print("  from the create (burst: the scale) request; Ready comes with Running (the worker has no readiness probe);")
    print("  reporting = the worker's first status-full on the broker (started, connected, listening for signals)")
