"""Throughput against processor replicas on the real node (part of ``make bench-scale``): 1, 2 and 4 caller pods.

On the bench's one-node Kubernetes (``kube_node``: kubelet, containerd and runc run our worker image) the operator,
a local process, runs one Swarm: a generator pod → RabbitMQ → N processor pods calling nginx. nginx runs inside
the node's own network namespace (on the node's address), so the calls do not cross the bench's loopback relay;
the broker is reached through that relay (with batches it carries a few hundred messages a second). The generator
asks for more than the callers can take and a ``bufferGuard`` on the queue holds the backlog between 5,000 and
20,000 items, so the callers are never starved and the queue never grows without bound.

For N in 1, 2, 4 (``--replicas``): scale the caller role, wait until N workers report, warm up, then count the
items the callers finished over ``--seconds`` (their own ``processed`` counters, asked with a status-request at
both ends of the window, as bench/run.py does). Also printed: CPU of the whole machine over the window (both
cores: when it is near 100 % more pods cannot help), the broker's CPU per item, and the mean batch size the
generator sent. Nothing asserts; the figures go in docs/scaling.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from kube_node import BenchNode, describe_error, namespace_with_broker, start_node
from operator_edits import _start_operator
from proc_cpu import tree_cpu_seconds
from run import NGINX_CONF

from testbench import netns
from testbench.kube import NODE_IP
from testbench.packages import DEBIAN_PACKAGES, ensure_debian_packages
from testbench.procs import ManagedProcess, free_port
from testbench.waiting import eventually

NAMESPACE = "replicas"
SWARM = "through"
THREADS = 64


def _swarm(url: str, callers: int) -> dict[str, Any]:
    return {
        "apiVersion": "hivekeeper.io/v1alpha1",
        "kind": "Swarm",
        "metadata": {"name": SWARM, "namespace": NAMESPACE},
        "spec": {
            "roles": [
                {
                    "name": "feeder",
                    "role": "generator",
                    "replicas": 1,
                    "work": {"out": "call"},
                    "config": {
                        "inputs": {"scheduler": {"ratePerSec": 100000}},
                        "message": {"bodyType": "HTTP", "method": "GET", "path": "/"},
                        "bufferGuard": {"queue": "call", "high": 20000, "low": 5000, "intervalMs": 200},
                    },
                },
                {
                    "name": "caller",
                    "role": "processor",
                    "replicas": callers,
                    "work": {"in": "call"},
                    "config": {"baseUrl": url, "threadCount": THREADS, "timeoutMs": 5000},
                },
            ],
        },
    }


def start_nginx_on_node(node: BenchNode, workdir: Path) -> tuple[ManagedProcess, str]:
    """nginx inside the node's network namespace, listening on the node's address (pods reach it directly)."""
    ensure_debian_packages(["nginx"])
    port = free_port()
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "nginx.conf").write_text(NGINX_CONF.format(dir=workdir, address=NODE_IP, port=port))
    argv = ["nsenter", f"--net={netns.path(node.cluster.namespace)}", "--"]
    proc = ManagedProcess(
        "nginx (node)", [*argv, DEBIAN_PACKAGES["nginx"][1], "-c", str(workdir / "nginx.conf")], workdir / "nginx.out"
    ).start()

    def answers() -> bool:
        with contextlib.suppress(OSError), netns.socket_in(node.cluster.namespace) as sock:
            sock.settimeout(1)
            sock.connect((NODE_IP, port))
            return True
        return False

    proc.wait_ready(answers, 15, "listening on the node's address")
    return proc, f"http://{NODE_IP}:{port}"


def _machine_busy() -> tuple[float, float]:
    """(busy, total) jiffies of all CPUs since boot, from /proc/stat."""
    fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + fields[4]
    return sum(fields) - idle, sum(fields)


async def measure(node: BenchNode, workdir: Path, replicas: list[int], seconds: float) -> dict[str, Any]:  # noqa: PLR0915
    import aio_pika
    from lightkube import AsyncClient, KubeConfig
    from lightkube.codecs import from_dict
    from lightkube.generic_resource import create_namespaced_resource

    from hivekeeper.protocol import envelope as env
    from hivekeeper.protocol import naming

    create_namespaced_resource("hivekeeper.io", "v1alpha1", "Swarm", "swarms")  # from_dict knows the kind then
    kube = AsyncClient(config=KubeConfig.from_file(str(node.kubeconfig)))
    swarm_id = naming.swarm_id(SWARM, NAMESPACE)
    nginx, url = start_nginx_on_node(node, workdir / "nginx")
    operator = None
    connection = None
    reports: dict[tuple[str, str], tuple[float, dict[str, Any]]] = {}
    rows: list[dict[str, Any]] = []
    broker_pids = [p.pid for p in node.broker.processes]
    try:
        await namespace_with_broker(kube, NAMESPACE, node.pod_amqp_url)
        operator = _start_operator(node, workdir, NAMESPACE)
        connection = await aio_pika.connect(node.amqp_url)
        channel = await connection.channel()
        control = await channel.declare_exchange(naming.CONTROL_EXCHANGE, aio_pika.ExchangeType.TOPIC, durable=True)
        events = await channel.declare_queue(exclusive=True)
        await events.bind(control, naming.events_binding(swarm_id))

        async def on_event(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            async with message.process():
                event = env.parse(message.body)
                if event.kind == "metric" and event.type in ("status-full", "status-delta"):
                    reports[(event.scope.role, event.scope.instance)] = (time.monotonic(), event.data)

        await events.consume(on_event)

        async def fresh(role: str, count: int, after: float) -> dict[str, dict[str, Any]] | None:
            """The reports of ``count`` instances of ``role`` heard after ``after``, or None while fewer."""
            found = {i: d for (r, i), (t, d) in reports.items() if r == role and t > after}
            return found if len(found) >= count else None

        async def ask(role: str, count: int) -> dict[str, dict[str, Any]]:
            asked = time.monotonic()
            signal = env.signal(
                "status-request", env.Scope(swarmId=swarm_id, role=role, instance=naming.ALL), {}, origin="bench"
            )
            key = naming.signal_key("status-request", swarm_id, role, naming.ALL)
            await control.publish(aio_pika.Message(signal.to_json()), routing_key=key)
            return await eventually(
                lambda: fresh(role, count, asked), timeout=30, interval=0.05, what=f"{count} {role} reports"
            )

        for callers in replicas:
            await kube.apply(from_dict(_swarm(url, callers)), field_manager="bench", force=True)
            settled = time.monotonic()

            async def running(callers: int = callers, settled: float = settled) -> bool:
                found = await fresh("caller", callers, settled)
                return found is not None and all(d.get("enabled") for d in found.values())

            await eventually(running, timeout=300, interval=0.5, what=f"{callers} caller pods reporting, enabled")
            await asyncio.sleep(5.0)  # warm-up: connections open, the backlog at the guard's level
            before = await ask("caller", callers)
            feeder_before = (await ask("feeder", 1)).popitem()[1]
            busy0, total0 = _machine_busy()
            broker0 = sum(tree_cpu_seconds(pid) for pid in broker_pids)
            t0 = time.monotonic()
            await asyncio.sleep(seconds)  # the measured window
            after = await ask("caller", callers)
            t1 = time.monotonic()
            busy1, total1 = _machine_busy()
            broker1 = sum(tree_cpu_seconds(pid) for pid in broker_pids)
            feeder_after = (await ask("feeder", 1)).popitem()[1]
            done = sum(
                int(after[i]["context"]["processed"]) - int(before[i]["context"]["processed"])
                for i in after
                if i in before
            )
            published = feeder_after["context"].get("workOut", {})
            published0 = feeder_before["context"].get("workOut", {})
            messages = int(published.get("messages", 0)) - int(published0.get("messages", 0))
            items = int(published.get("items", 0)) - int(published0.get("items", 0))
            rows.append(
                {
                    "callers": callers,
                    "items_per_s": round(done / (t1 - t0)),
                    "machine_busy_pct": round((busy1 - busy0) / max(1, total1 - total0) * 100, 1),
                    "broker_cpu_us_per_item": round((broker1 - broker0) / max(1, done) * 1e6, 1),
                    "mean_batch": round(items / messages, 1) if messages else None,
                }
            )
        return {"rows": rows, "threads": THREADS, "seconds": seconds}
    finally:
        if connection is not None:
            await connection.close()
        if operator is not None:
            operator.stop()
        nginx.stop()
        await kube.close()


def bench_replicas(workdir: Path, replicas: list[int], seconds: float, node: BenchNode | None = None) -> dict[str, Any]:
    """Start the node (unless given), measure, remove it; errors are reported, not raised."""
    own = node is None
    try:
        node = node or start_node(workdir / "node")
    except Exception as exc:
        return {"error": describe_error(exc)}
    try:
        return asyncio.run(measure(node, workdir, replicas, seconds))
    except Exception as exc:
        return {"error": describe_error(exc)}
    finally:
        if own:
            node.stop()


def report(result: dict[str, Any]) -> None:
    print("\nThroughput against caller replicas on the real node (generator → RabbitMQ → N processor pods → nginx)")
    if "error" in result:
        print(f"  not measured: {result['error'][:400]}")
        return
    base = result["rows"][0]["items_per_s"] if result["rows"] else 0
    print(f"  {'callers':>7} {'items/s':>9} {'vs 1':>6} {'machine busy':>13} {'broker µs/item':>15} {'batch':>6}")
    for row in result["rows"]:
        scale = f"{row['items_per_s'] / base:.2f}x" if base else "-"
        batch = f"{row['mean_batch']:.0f}" if row["mean_batch"] else "-"
        print(
            f"  {row['callers']:>7} {row['items_per_s']:>9,} {scale:>6} {row['machine_busy_pct']:>12.0f}%"
            f" {row['broker_cpu_us_per_item']:>15.1f} {batch:>6}"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--replicas", default="1,2,4", help="caller replica counts, in order")
    parser.add_argument("--seconds", type=float, default=15.0, help="measured window per count")
    parser.add_argument("--json", metavar="FILE")
    args = parser.parse_args()
    counts = [int(n) for n in args.replicas.split(",")]
    with tempfile.TemporaryDirectory(prefix="hivekeeper-bench-replicas-") as tmp:
        result = bench_replicas(Path(tmp), counts, args.seconds)
    report(result)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(result, indent=2))
    return 0 if "error" not in result else 1


if __name__ == "__main__":
    sys.exit(main())
