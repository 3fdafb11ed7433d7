"""The operator under ``make bench``: how fast a spec edit reaches every worker pod, and how chatty its status is.

On the bench's real one-node Kubernetes (``kube_node``: kubelet, containerd and runc run our worker image; a
real RabbitMQ on loopback, exposed to the pods), with the operator as a local process, one Swarm with two
roles of 3 replicas each (generator → processor against the bench's SUT) is edited ``--edits`` times. Each
edit changes a swarm-wide ``vars`` value, which reaches the config of both roles, so every edit must be
applied by all 6 worker pods. Per edit the bench records:

* **applied**: from the PATCH request to the last of the 6 workers' ``Applied`` outcomes for the new
  generation (read from the control exchange, as the operator reads them);
* **visible**: from the PATCH request until both WorkerRoles show ``ConfigApplied=True`` at the new
  generation (what ``kubectl wait`` or a GitOps tool would see).

Then the swarm runs untouched for ``--steady`` seconds and the operator's own metric
``hivekeeper_operator_status_patches_total`` gives its status-patch rate (3 objects: 1 Swarm, 2 WorkerRoles).

Before the operator starts, the same node measures pod start-up (``pod_startup``). ``bench_operator`` runs
both on one node and reports both.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import statistics
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import pod_startup
from kube_node import (
    WORKER_IMAGE,
    BenchNode,
    describe_error,
    metrics_port,
    namespace_with_broker,
    percentile,
    start_node,
)

from testbench.procs import ManagedProcess
from testbench.waiting import eventually

NAMESPACE, SWARM, REPLICAS = "bench", "edits", 3


def _swarm(url: str, edit: int) -> dict[str, Any]:
    return {
        "apiVersion": "hivekeeper.io/v1alpha1",
        "kind": "Swarm",
        "metadata": {"name": SWARM, "namespace": NAMESPACE},
        "spec": {
            "vars": {"edit": edit},
            "roles": [
                {
                    "name": "feeder",
                    "role": "generator",
                    "replicas": REPLICAS,
                    "work": {"out": "call"},
                    "config": {
                        "inputs": {"scheduler": {"ratePerSec": 20}},
                        "message": {"bodyType": "HTTP", "method": "GET", "path": "/"},
                    },
                },
                {
                    "name": "caller",
                    "role": "processor",
                    "replicas": REPLICAS,
                    "work": {"in": "call"},
                    "config": {"baseUrl": url, "threadCount": 4},
                },
            ],
        },
    }


def _scrape(port: int, name: str) -> float:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        lines = response.read().decode().splitlines()
    return sum(float(line.rpartition(" ")[2]) for line in lines if line.startswith(name))


def _start_operator(
    node: BenchNode, workdir: Path, namespace: str = NAMESPACE, profile: Path | None = None
) -> ManagedProcess:
    """The operator as a local process; with ``profile``, under cProfile (its stats written there when it stops)."""
    profiled = ("-m", "cProfile", "-o", str(profile)) if profile is not None else ()
    return ManagedProcess(
        "hivekeeper operator",
        [
            sys.executable,
            *profiled,
            *("-m", "hivekeeper.cli", "operator", "--namespace", namespace),
            # auto: the operator binds a free port itself and logs it (no port picked here and lost to a race)
            *("--health-port", "0", "--metrics-port", "auto"),
        ],
        workdir / "operator.log",
        env={
            **os.environ,
            "KUBECONFIG": str(node.kubeconfig),
            "HIVEKEEPER_AMQP_URL": node.amqp_url,  # the operator is on the host: loopback
            "HIVEKEEPER_WORKER_IMAGE": WORKER_IMAGE,
        },
    ).start()


async def measure_edits(  # noqa: PLR0915 - one linear scenario
    node: BenchNode, sut_url: str, workdir: Path, edits: int, steady: float
) -> dict[str, Any]:
    import aio_pika
    from lightkube import AsyncClient, KubeConfig
    from lightkube.codecs import from_dict
    from lightkube.generic_resource import create_namespaced_resource
    from lightkube.types import PatchType

    from hivekeeper.protocol import envelope as env
    from hivekeeper.protocol import naming

    swarm_resource = create_namespaced_resource("hivekeeper.io", "v1alpha1", "Swarm", "swarms")
    role_resource = create_namespaced_resource("hivekeeper.io", "v1alpha1", "WorkerRole", "workerroles")
    kube = AsyncClient(config=KubeConfig.from_file(str(node.kubeconfig)))
    operator = _start_operator(node, workdir)
    # Every Applied outcome of the swarm's workers, timestamped on arrival.
    applied: dict[tuple[str, int], float] = {}
    connection: aio_pika.abc.AbstractConnection | None = None

    async def on_outcome(message: aio_pika.abc.AbstractIncomingMessage) -> None:
        async with message.process():
            event = env.parse(message.body)
            if event.data.get("status") == "Applied":
                key = (f"{event.scope.role}/{event.scope.instance}", int(event.data.get("configGeneration", 0)))
                applied.setdefault(key, time.monotonic())

    async def roles_at(generation: int) -> bool:
        for name in (f"{SWARM}-feeder", f"{SWARM}-caller"):
            status = (await kube.get(role_resource, name, namespace=NAMESPACE)).get("status") or {}
            conditions = {c["type"]: c["status"] for c in status.get("conditions", [])}
            at = status.get("configGeneration") == generation and status.get("appliedGeneration") == generation
            if not (at and status.get("readyReplicas") == REPLICAS and conditions.get("ConfigApplied") == "True"):
                return False
        return True

    try:
        await namespace_with_broker(kube, NAMESPACE, node.pod_amqp_url)
        connection = await aio_pika.connect(node.amqp_url)
        channel = await connection.channel()
        control = await channel.declare_exchange(naming.CONTROL_EXCHANGE, aio_pika.ExchangeType.TOPIC, durable=True)
        outcomes = await channel.declare_queue(exclusive=True)
        await outcomes.bind(control, f"event.outcome.config-update.{naming.swarm_id(SWARM, NAMESPACE)}.#")
        await outcomes.consume(on_outcome)
        port = await metrics_port(operator)
        began = time.monotonic()
        await kube.apply(from_dict(_swarm(sut_url, 0)), field_manager="bench", force=True)
        # Six real pods start here (image loaded, nothing pulled); the bound covers a slow two-core node.
        await eventually(lambda: roles_at(1), timeout=180, interval=0.5, what="6 workers at generation 1")
        swarm_up = time.monotonic() - began
        workers = set()
        for role in ("feeder", "caller"):
            status = (await kube.get(role_resource, f"{SWARM}-{role}", namespace=NAMESPACE)).get("status") or {}
            workers |= {f"{role}/{instance['name']}" for instance in status.get("instances", [])}
        applied_ms: list[float] = []
        visible_ms: list[float] = []
        acks_before = _scrape(port, "hivekeeper_operator_config_ack_seconds_count")
        edits_began = time.monotonic()
        for edit in range(1, edits + 1):
            generation = edit + 1
            started = time.monotonic()
            await kube.patch(
                swarm_resource,
                SWARM,
                {"spec": {"vars": {"edit": edit}}},
                namespace=NAMESPACE,
                patch_type=PatchType.MERGE,
            )

            async def all_applied(generation: int = generation) -> bool:
                return all((worker, generation) in applied for worker in workers)

            await eventually(all_applied, timeout=30, interval=0.005, what=f"6 workers at generation {generation}")
            applied_ms.append((max(applied[(w, generation)] for w in workers) - started) * 1000)
            await eventually(
                lambda generation=generation: roles_at(generation),  # type: ignore[misc]
                timeout=30,
                interval=0.05,
                what=f"ConfigApplied at generation {generation}",
            )
            visible_ms.append((time.monotonic() - started) * 1000)
        edits_seconds = time.monotonic() - edits_began
        acks = _scrape(port, "hivekeeper_operator_config_ack_seconds_count") - acks_before
        ack_sum = _scrape(port, "hivekeeper_operator_config_ack_seconds_sum")

        patches_before = _scrape(port, "hivekeeper_operator_status_patches_total")
        window_start = time.monotonic()
        await asyncio.sleep(steady)  # the steady window is the measurement
        patches = _scrape(port, "hivekeeper_operator_status_patches_total") - patches_before
        per_minute = patches * 60 / (time.monotonic() - window_start)
        return {
            "edits": edits,
            "workers": len(workers),
            "swarm_up_seconds": round(swarm_up, 1),
            "edits_seconds": round(edits_seconds, 1),
            "applied_p50_ms": statistics.median(applied_ms),
            "applied_p95_ms": percentile(applied_ms, 95),
            "visible_p50_ms": statistics.median(visible_ms),
            "visible_p95_ms": percentile(visible_ms, 95),
            "acks": acks,
            "ack_mean_ms": ack_sum / max(1.0, _scrape(port, "hivekeeper_operator_config_ack_seconds_count")) * 1000,
            "status_patches_per_min": per_minute,
            "status_objects": 3,
        }
    except Exception as exc:
        log = operator.log_path.read_text(errors="replace").strip().splitlines()
        raise RuntimeError(f"{describe_error(exc)}; operator log: {' | '.join(log[-3:])}") from exc
    finally:
        if connection is not None:
            await connection.close()
        operator.stop()
        await kube.close()


async def _on_node(
    node: BenchNode, url: str | None, workdir: Path, edits: int, steady: float, pods: int
) -> dict[str, Any]:
    from testbench.demo import demo_service

    result: dict[str, Any] = {}
    async with contextlib.AsyncExitStack() as stack:
        if url is None:  # run on its own: the demo cards API is the SUT
            url = (await stack.enter_async_context(demo_service())).url
        if pods:
            began = time.monotonic()
            result["pods"] = await pod_startup.measure_pods(node, pods)
            result["pods"]["total_seconds"] = round(time.monotonic() - began, 1)
        if edits:
            began = time.monotonic()
            try:
                result["operator"] = await measure_edits(node, node.pod_url(url), workdir, edits, steady)
            except Exception as exc:  # a bench reports what it could not measure instead of dying
                result["operator"] = {"error": describe_error(exc)}
            result["operator"]["total_seconds"] = round(time.monotonic() - began, 1)
    return result


def bench_operator(
    url: str | None, workdir: Path, edits: int = 20, steady: float = 30.0, pods: int = 10
) -> dict[str, Any]:
    """Start the node, measure pod start-up then the operator's edits, remove the node.

    ``url``: the SUT on host loopback (exposed to the pods here); None starts the demo API.
    Returns ``{"node": {...}, "pods": {...}, "operator": {...}}``; what failed holds ``{"error": ...}``.
    """
    began = time.monotonic()
    try:
        node = start_node(workdir / "node")
    except Exception as exc:  # a bench reports what it could not measure instead of dying
        error = {"error": describe_error(exc)}
        return {"node": error, "pods": error, "operator": error}
    try:
        result = asyncio.run(_on_node(node, url, workdir, edits, steady, pods))
    except Exception as exc:  # each measurement catches its own; this is the SUT or the event loop failing
        result = {"operator": {"error": describe_error(exc)}}
    finally:
        stopping = time.monotonic()
        node.stop()
        node.seconds["stop"] = time.monotonic() - stopping
    seconds = {name: round(value, 1) for name, value in node.seconds.items()}
    return {"node": {"seconds": seconds, "total_seconds": round(time.monotonic() - began, 1)}, **result}


def report(result: dict[str, Any]) -> None:
    node = result.get("node", {})
    if "error" in node:
        print(f"\nBench node (real one-node Kubernetes): not started: {node['error'][:300]}")
        return
    steps = ", ".join(f"{name} {seconds:.0f} s" for name, seconds in node["seconds"].items())
    print(f"\nBench node (real one-node Kubernetes): {node['total_seconds']:.0f} s in all ({steps})")
    if "pods" in result:
        pod_startup.report(result["pods"])
    if "operator" in result:
        report_edits(result["operator"])


def report_edits(result: dict[str, Any]) -> None:
    print("\nOperator: spec edit → every worker pod applied (bench node, real broker, 2 roles of 3 replicas)")
    if "error" in result:
        print(f"  not measured: {result['error'][:300]}")
        return
    print(
        f"  {result['edits']} edits, {result['workers']} workers each:"
        f" applied p50 {result['applied_p50_ms']:.0f} ms, p95 {result['applied_p95_ms']:.0f} ms"
        f" (PATCH → last worker's Applied outcome)"
    )
    print(
        f"  visible in WorkerRole status (ConfigApplied=True at the generation):"
        f" p50 {result['visible_p50_ms']:.0f} ms, p95 {result['visible_p95_ms']:.0f} ms"
    )
    print(f"  operator's push-to-ack mean {result['ack_mean_ms']:.0f} ms over {result['acks']:.0f} acks")
    print(
        f"  status patches under a steady swarm: {result['status_patches_per_min']:.0f}/min"
        f" for {result['status_objects']} objects (bound: 30/min per object)"
    )
    print(
        f"  took {result['total_seconds']:.0f} s: swarm of 6 pods up in {result['swarm_up_seconds']:.0f} s,"
        f" edits {result['edits_seconds']:.0f} s, then the steady window"
    )


if __name__ == "__main__":
    import argparse
    import tempfile

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--edits", type=int, default=20, help="spec edits (0 skips the operator)")
    parser.add_argument("--steady", type=float, default=30.0)
    parser.add_argument("--pods", type=int, default=10, help="pods per start-up shape (0 skips it)")
    parser.add_argument("--url", default=None, help="SUT base URL on loopback (default: the demo API)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="hivekeeper-bench-") as tmp:
        report(bench_operator(args.url, Path(tmp), args.edits, args.steady, args.pods))
