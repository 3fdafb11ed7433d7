"""The operator under ``make bench``: how fast a spec edit reaches every worker, and how chatty its status is.

On the bench cluster (real etcd, kube-apiserver and controller-manager; worker pods run as local
processes by the test node agent; a real RabbitMQ), one Swarm with two roles of 3 replicas each
(generator → processor against the bench's nginx) is edited ``--edits`` times. Each edit changes a
swarm-wide ``vars`` value, which reaches the config of both roles, so every edit must be applied by
all 6 workers. Per edit the bench records:

* **applied**: from the PATCH request to the last of the 6 workers' ``Applied`` outcomes for the new
  generation (read from the control exchange, as the operator reads them);
* **visible**: from the PATCH request until both WorkerRoles show ``ConfigApplied=True`` at the new
  generation (what ``kubectl wait`` or a GitOps tool would see).

Then the swarm runs untouched for ``--steady`` seconds and the operator's own metric
``hivekeeper_operator_status_patches_total`` gives its status-patch rate (3 objects: 1 Swarm, 2 WorkerRoles).
"""

from __future__ import annotations

import asyncio
import base64
import os
import statistics
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "support"))

from testbench.kube import install_crds, start_control_plane  # noqa: E402
from testbench.node_agent import NodeAgent  # noqa: E402
from testbench.procs import ManagedProcess, free_port  # noqa: E402
from testbench.rabbitmq import start_rabbitmq  # noqa: E402
from testbench.waiting import eventually  # noqa: E402

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


def _percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


async def _measure(  # noqa: PLR0915 - one linear scenario
    url: str, amqp: str, kubeconfig: Path, workdir: Path, edits: int, steady: float
) -> dict[str, Any]:
    import aio_pika
    from lightkube import AsyncClient, KubeConfig
    from lightkube.codecs import from_dict
    from lightkube.generic_resource import create_namespaced_resource
    from lightkube.models.meta_v1 import ObjectMeta
    from lightkube.resources.core_v1 import Namespace, Secret
    from lightkube.types import PatchType

    from hivekeeper.protocol import envelope as env
    from hivekeeper.protocol import naming

    swarm_resource = create_namespaced_resource("hivekeeper.io", "v1alpha1", "Swarm", "swarms")
    role_resource = create_namespaced_resource("hivekeeper.io", "v1alpha1", "WorkerRole", "workerroles")
    kube = AsyncClient(config=KubeConfig.from_file(str(kubeconfig)))
    await kube.create(Namespace(metadata=ObjectMeta(name=NAMESPACE)))
    await kube.create(
        Secret(
            metadata=ObjectMeta(name="hivekeeper-broker", namespace=NAMESPACE),
            data={"amqpUrl": base64.b64encode(amqp.encode()).decode()},
        )
    )
    metrics_port = free_port()
    operator = ManagedProcess(
        "hivekeeper operator",
        [
            sys.executable,
            *("-m", "hivekeeper.cli", "operator", "--namespace", NAMESPACE),
            *("--health-port", "0", "--metrics-port", str(metrics_port)),
        ],
        workdir / "operator.log",
        env={**os.environ, "KUBECONFIG": str(kubeconfig), "HIVEKEEPER_AMQP_URL": amqp},
    ).start()
    agent = NodeAgent(kubeconfig=kubeconfig, workdir=workdir / "pods")
    await agent.start()

    # Every Applied outcome of the swarm's workers, timestamped on arrival.
    applied: dict[tuple[str, int], float] = {}
    swarm_id = naming.swarm_id(SWARM, NAMESPACE)
    connection = await aio_pika.connect(amqp)
    channel = await connection.channel()
    control = await channel.declare_exchange(naming.CONTROL_EXCHANGE, aio_pika.ExchangeType.TOPIC, durable=True)
    outcomes = await channel.declare_queue(exclusive=True)
    await outcomes.bind(control, f"event.outcome.config-update.{swarm_id}.#")

    async def on_outcome(message: aio_pika.abc.AbstractIncomingMessage) -> None:
        async with message.process():
            event = env.parse(message.body)
            if event.data.get("status") == "Applied":
                key = (f"{event.scope.role}/{event.scope.instance}", int(event.data.get("configGeneration", 0)))
                applied.setdefault(key, time.monotonic())

    await outcomes.consume(on_outcome)

    async def roles_at(generation: int) -> bool:
        for name in (f"{SWARM}-feeder", f"{SWARM}-caller"):
            status = (await kube.get(role_resource, name, namespace=NAMESPACE)).get("status") or {}
            conditions = {c["type"]: c["status"] for c in status.get("conditions", [])}
            at = status.get("configGeneration") == generation and status.get("appliedGeneration") == generation
            if not (at and status.get("readyReplicas") == REPLICAS and conditions.get("ConfigApplied") == "True"):
                return False
        return True

    try:
        await kube.apply(from_dict(_swarm(url, 0)), field_manager="bench", force=True)
        await eventually(lambda: roles_at(1), timeout=120, interval=0.5, what="6 workers at generation 1")
        workers = set()
        for role in ("feeder", "caller"):
            status = (await kube.get(role_resource, f"{SWARM}-{role}", namespace=NAMESPACE)).get("status") or {}
            workers |= {f"{role}/{instance['name']}" for instance in status.get("instances", [])}
        applied_ms: list[float] = []
        visible_ms: list[float] = []
        acks_before = _scrape(metrics_port, "hivekeeper_operator_config_ack_seconds_count")
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
        acks = _scrape(metrics_port, "hivekeeper_operator_config_ack_seconds_count") - acks_before
        ack_sum = _scrape(metrics_port, "hivekeeper_operator_config_ack_seconds_sum")

        patches_before = _scrape(metrics_port, "hivekeeper_operator_status_patches_total")
        window_start = time.monotonic()
        await asyncio.sleep(steady)  # the steady window is the measurement
        patches = _scrape(metrics_port, "hivekeeper_operator_status_patches_total") - patches_before
        per_minute = patches * 60 / (time.monotonic() - window_start)
        return {
            "edits": edits,
            "workers": len(workers),
            "applied_p50_ms": statistics.median(applied_ms),
            "applied_p95_ms": _percentile(applied_ms, 95),
            "visible_p50_ms": statistics.median(visible_ms),
            "visible_p95_ms": _percentile(visible_ms, 95),
            "acks": acks,
            "ack_mean_ms": ack_sum
            / max(1.0, _scrape(metrics_port, "hivekeeper_operator_config_ack_seconds_count"))
            * 1000,
            "status_patches_per_min": per_minute,
            "status_objects": 3,
        }
    finally:
        await connection.close()
        await agent.stop()
        operator.stop()
        await kube.close()


def bench_operator(url: str, workdir: Path, edits: int = 20, steady: float = 30.0) -> dict[str, Any]:
    """Start a broker and the bench cluster, run the scenario, stop everything."""
    broker = start_rabbitmq(workdir / "op-rabbitmq")
    plane = None
    try:
        plane = start_control_plane(workdir / "kube")
        install_crds(plane.kubeconfig, REPO / "crds")
        return asyncio.run(_measure(url, broker.url, plane.kubeconfig, workdir, edits, steady))
    except Exception as exc:  # a bench reports what it could not measure instead of dying
        return {"error": f"{type(exc).__name__}: {exc}"}
    finally:
        if plane is not None:
            plane.stop()
        broker.stop()


def report(result: dict[str, Any]) -> None:
    print("\nOperator: spec edit → every worker applied (bench cluster, real broker, 2 roles of 3 replicas)")
    if "error" in result:
        print(f"  not measured: {result['error'][:200]}")
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


if __name__ == "__main__":
    import argparse
    import tempfile

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--edits", type=int, default=20)
    parser.add_argument("--steady", type=float, default=30.0)
    parser.add_argument("--url", default="http://127.0.0.1:9/", help="SUT base URL (the run's nginx under make bench)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="hivekeeper-bench-") as tmp:
        report(bench_operator(args.url, Path(tmp), args.edits, args.steady))
