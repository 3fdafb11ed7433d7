"""The control side at scale (``make bench-scale``): one operator, 100 swarms, about 1,000 worker instances.

On the bench's real one-node Kubernetes (``kube_node``), with the operator as a local process watching one
namespace:

* **99 simulated swarms** of two roles (generator x5 → processor x5) are applied as real Swarms. The operator
  creates their WorkerRoles, Deployments, queues and 990 pods, all real API objects; the pods carry a
  ``nodeSelector`` no node has, so they stay ``Pending`` (one node runs at most ~110 pods, and 990 Python workers
  would not fit two cores). What the operator hears from them is played by this script, one process: for every
  pod it publishes what a worker publishes, at a worker's cadence: a ``status-full`` when it first sees the pod,
  then a ``status-delta`` every ``--interval`` seconds (5, the workers' default), spread over the interval, with
  counters, a rate that wanders (so every report changes the status) and a latency histogram built by the
  workers' own ``RoleStats``. It answers ``config-update`` signals with ``Applied`` outcomes and
  ``status-request`` with a ``status-full``, as a worker does. These roles say ``Stalled`` (their pods cannot be
  scheduled): the operator does the same work per report as for running pods.
* **1 real swarm** of two roles, one real worker pod each (our image, run by kubelet and containerd), against the
  bench's SUT at 20 items/s. During the steady window it is edited ``--edits`` times (a ``vars`` value that
  reaches both roles' config); per edit: PATCH → both workers' ``Applied`` outcome (``applied``), and PATCH → both
  WorkerRoles ``ConfigApplied=True`` at the new generation (``visible``).

Measured over the steady window (``--steady`` seconds, after every simulated instance has reported once):
operator CPU (% of one core, from /proc), resident memory at the window's start and end and its peak (bounded
growth), status patches per second to the API server (the operator's own counter), reports per second it
consumed, and the edit latencies' p50/p95. Nothing asserts: the figures go in docs/scaling.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from kube_node import BenchNode, describe_error, metrics_port, namespace_with_broker, percentile, start_node
from operator_edits import _scrape, _start_operator
from proc_cpu import cpu_seconds

from testbench.waiting import eventually

NAMESPACE = "scale"
REAL = "real"
SIM_ROLES = (("feeder", "generator"), ("caller", "processor"))
NOWHERE = {"hivekeeper.io/bench-pool": "simulated-nowhere"}
"""A node selector no node matches: the simulated swarms' pods exist but never run."""


def _swarm(name: str, replicas: int, caller_url: str, rate: int, **spec: Any) -> dict[str, Any]:
    """A generator → processor Swarm of ``replicas`` per role; ``spec``: more of its spec (``pod``, ``vars``)."""
    return {
        "apiVersion": "hivekeeper.io/v1alpha1",
        "kind": "Swarm",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": {
            **spec,
            "roles": [
                {
                    "name": "feeder",
                    "role": "generator",
                    "replicas": replicas,
                    "work": {"out": "call"},
                    "config": {
                        "inputs": {"scheduler": {"ratePerSec": rate}},
                        "message": {"bodyType": "HTTP", "method": "GET", "path": "/"},
                    },
                },
                {
                    "name": "caller",
                    "role": "processor",
                    "replicas": replicas,
                    "work": {"in": "call"},
                    "config": {"baseUrl": caller_url, "threadCount": 4},
                },
            ],
        },
    }


def _sim_swarm(name: str, replicas: int) -> dict[str, Any]:
    return _swarm(name, replicas, "http://sut.invalid:8080", 100, pod={"nodeSelector": NOWHERE})


def _real_swarm(url: str, edit: int) -> dict[str, Any]:
    return _swarm(REAL, 1, url, 20, vars={"edit": edit})


class Instance:
    """One simulated worker: its counters and histogram (the workers' own ``RoleStats``) and its config state."""

    def __init__(self, swarm_id: str, role: str, kind: str, name: str) -> None:
        from hivekeeper.protocol import envelope as env
        from hivekeeper.worker.stats import RoleStats

        self.scope = env.Scope(swarmId=swarm_id, role=role, instance=name)
        self.kind = kind
        self.stats = RoleStats()
        self.mark = self.stats.latency.copy()
        self.generation = 0
        self.enabled = False
        self.rate = random.uniform(80, 120)
        self.started = env.now()

    def advance(self, seconds: float) -> None:
        """What a worker would have done in ``seconds``: items at a wandering rate, latencies of its calls."""
        self.rate = max(1.0, self.rate * random.uniform(0.9, 1.1))
        done = int(self.rate * seconds) if self.enabled else 0
        self.stats.processed += done
        if self.kind == "processor":
            for _ in range(min(done, 64)):  # a sample is enough for a realistic histogram's shape and size
                self.stats.latency.record(random.lognormvariate(-6.0, 0.6))

    def data(self, full: bool) -> dict[str, Any]:
        recent = self.stats.latency.since(self.mark)
        self.mark = self.stats.latency.copy()
        data: dict[str, Any] = {
            "enabled": self.enabled,
            "tps": round(self.rate) if self.enabled else 0,
            "ioState": {"work": {"input": "ok", "output": "ok"}},
            "context": {
                "configGeneration": self.generation,
                "processedPerSec": round(self.rate, 2) if self.enabled else 0.0,
                **self.stats.snapshot(recent=recent),
            },
        }
        if full:
            data["startedAt"] = self.started
        return data


class Simulator:
    """Plays every pod of the simulated swarms on the control exchange (see the module docstring)."""

    def __init__(self, amqp_url: str, interval: float) -> None:
        self.url = amqp_url
        self.interval = interval
        self.instances: dict[tuple[str, str, str], Instance] = {}
        self.reports = 0
        self.outcomes = 0
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self, swarm_ids: list[str]) -> None:
        import aio_pika

        from hivekeeper.protocol import naming

        self.connection = await aio_pika.connect(self.url)
        channel = await self.connection.channel()
        self.control = await channel.declare_exchange(
            naming.CONTROL_EXCHANGE, aio_pika.ExchangeType.TOPIC, durable=True
        )
        signals = await channel.declare_queue(exclusive=True)
        for swarm_id in swarm_ids:
            await signals.bind(self.control, f"signal.*.{swarm_id}.#")
        await signals.consume(self._on_signal)
        self._tasks.append(asyncio.create_task(self._report_loop()))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.connection.close()

    async def add(self, swarm_id: str, role: str, kind: str, name: str) -> None:
        key = (swarm_id, role, name)
        if key not in self.instances:
            self.instances[key] = Instance(swarm_id, role, kind, name)
            await self._report(self.instances[key], full=True)

    async def _publish(self, key: str, body: bytes) -> None:
        import aio_pika

        await self.control.publish(aio_pika.Message(body, content_type="application/json"), routing_key=key)

    async def _report(self, instance: Instance, full: bool) -> None:
        from hivekeeper.protocol import envelope as env
        from hivekeeper.protocol import naming

        kind = "status-full" if full else "status-delta"
        scope = instance.scope
        message = env.metric(kind, scope, instance.data(full), origin=scope.instance)
        await self._publish(naming.metric_key(kind, scope.swarmId, scope.role, scope.instance), message.to_json())
        self.reports += 1

    async def _report_loop(self) -> None:
        """A status-delta from every instance once per interval, spread evenly over it (workers start at random
        moments, so their reports do not come in bursts)."""
        while True:
            began = time.monotonic()
            instances = list(self.instances.values())
            for index, instance in enumerate(instances):
                due = began + self.interval * index / max(1, len(instances))
                delay = due - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                instance.advance(self.interval)
                await self._report(instance, full=False)
            rest = began + self.interval - time.monotonic()
            await asyncio.sleep(max(0.0, rest))

    def _addressed(self, swarm_id: str, role: str, name: str) -> list[Instance]:
        from hivekeeper.protocol import naming

        return [
            instance
            for (s, r, n), instance in self.instances.items()
            if s == swarm_id and role in (r, naming.ALL) and name in (n, naming.ALL)
        ]

    async def _on_signal(self, message: Any) -> None:
        from hivekeeper.protocol import envelope as env
        from hivekeeper.protocol import naming

        async with message.process():
            signal = env.parse(message.body)
            scope = signal.scope
            for instance in self._addressed(scope.swarmId, scope.role, scope.instance):
                if signal.type == "config-update":
                    instance.generation = int(signal.data.get("configGeneration", instance.generation))
                    instance.enabled = bool(signal.data.get("enabled", instance.enabled))
                    context = {"configGeneration": instance.generation}
                    extra = {"enabled": instance.enabled, "configGeneration": instance.generation}
                else:
                    context, extra = {"reported": "status-full"}, None
                answer = env.outcome(
                    signal, "Applied", instance.scope, origin=instance.scope.instance, context=context, extra=extra
                )
                key = naming.outcome_key(signal.type, scope.swarmId, instance.scope.role, instance.scope.instance)
                await self._publish(key, answer.to_json())
                self.outcomes += 1
                await self._report(instance, full=True)


def _progress(text: str) -> None:
    print(f"control-scale: {text}", file=sys.stderr, flush=True)


def _rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def measure(  # noqa: PLR0915 - one linear scenario
    node: BenchNode,
    sut_url: str,
    workdir: Path,
    swarms: int,
    replicas: int,
    edits: int,
    steady: float,
    interval: float,
    profile: Path | None = None,
) -> dict[str, Any]:
    import aio_pika
    from lightkube import AsyncClient, KubeConfig
    from lightkube.codecs import from_dict
    from lightkube.generic_resource import create_namespaced_resource
    from lightkube.resources.core_v1 import Pod
    from lightkube.types import PatchType

    from hivekeeper.operator.plan import LABEL_ROLE, LABEL_SWARM
    from hivekeeper.protocol import envelope as env
    from hivekeeper.protocol import naming

    swarm_resource = create_namespaced_resource("hivekeeper.io", "v1alpha1", "Swarm", "swarms")
    role_resource = create_namespaced_resource("hivekeeper.io", "v1alpha1", "WorkerRole", "workerroles")
    kube = AsyncClient(config=KubeConfig.from_file(str(node.kubeconfig)))
    names = [f"sim-{n:03d}" for n in range(swarms - 1)]
    kinds = dict(SIM_ROLES)
    simulator = Simulator(node.amqp_url, interval)
    operator = None
    connection: aio_pika.abc.AbstractConnection | None = None
    applied: dict[tuple[str, int], float] = {}
    result: dict[str, Any] = {"swarms": swarms, "replicas": replicas, "interval_s": interval}
    try:
        await namespace_with_broker(kube, NAMESPACE, node.pod_amqp_url)
        operator = _start_operator(node, workdir, NAMESPACE, profile)
        port = await metrics_port(operator)
        rss_idle = _rss_mib(operator.pid)
        await simulator.start([naming.swarm_id(name, NAMESPACE) for name in names])

        connection = await aio_pika.connect(node.amqp_url)
        channel = await connection.channel()
        control = await channel.declare_exchange(naming.CONTROL_EXCHANGE, aio_pika.ExchangeType.TOPIC, durable=True)
        outcomes = await channel.declare_queue(exclusive=True)
        await outcomes.bind(control, f"event.outcome.config-update.{naming.swarm_id(REAL, NAMESPACE)}.#")

        async def on_outcome(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            async with message.process():
                event = env.parse(message.body)
                if event.data.get("status") == "Applied":
                    key = (event.scope.role, int(event.data.get("configGeneration", 0)))
                    applied.setdefault(key, time.monotonic())

        await outcomes.consume(on_outcome)

        began = time.monotonic()
        await kube.apply(from_dict(_real_swarm(sut_url, 0)), field_manager="bench", force=True)
        for name in names:
            await kube.apply(from_dict(_sim_swarm(name, replicas)), field_manager="bench", force=True)
        expected = len(names) * len(SIM_ROLES) * replicas

        async def all_pods_played() -> bool:
            async for pod in kube.list(Pod, namespace=NAMESPACE):
                labels = pod.metadata.labels or {}
                swarm, role = labels.get(LABEL_SWARM), labels.get(LABEL_ROLE)
                if swarm in (None, REAL) or role not in kinds or pod.metadata.deletionTimestamp:
                    continue
                await simulator.add(naming.swarm_id(swarm, NAMESPACE), role, kinds[role], pod.metadata.name)
            return len(simulator.instances) >= expected

        await eventually(all_pods_played, timeout=900, interval=5, what=f"{expected} simulated pods created")
        result["setup_seconds"] = round(time.monotonic() - began, 1)
        _progress(f"{len(simulator.instances)} simulated instances reporting after {result['setup_seconds']:.0f} s")

        async def real_at(generation: int) -> bool:
            for role in ("feeder", "caller"):
                status = (await kube.get(role_resource, f"{REAL}-{role}", namespace=NAMESPACE)).get("status") or {}
                conditions = {c["type"]: c["status"] for c in status.get("conditions", [])}
                at = status.get("configGeneration") == generation and status.get("appliedGeneration") == generation
                if not (at and status.get("readyReplicas") == 1 and conditions.get("ConfigApplied") == "True"):
                    return False
            return True

        await eventually(lambda: real_at(1), timeout=300, interval=1, what="the real swarm's 2 workers applied")
        _progress("the real swarm's 2 workers applied generation 1; steady window starts")

        # The steady window: every simulated instance reports, the real swarm is edited now and then.
        patches0 = _scrape(port, "hivekeeper_operator_status_patches_total")
        events0 = _scrape(port, "hivekeeper_operator_events_total")
        reports0, cpu0, t0 = simulator.reports, cpu_seconds(operator.pid), time.monotonic()
        rss = [_rss_mib(operator.pid)]
        applied_ms: list[float] = []
        visible_ms: list[float] = []
        gap = steady / (edits + 1)
        for edit in range(1, edits + 1):
            await asyncio.sleep(gap)  # edits spread over the steady window (the window is the measurement)
            rss.append(_rss_mib(operator.pid))
            generation = edit + 1
            started = time.monotonic()
            await kube.patch(
                swarm_resource,
                REAL,
                {"spec": {"vars": {"edit": edit}}},
                namespace=NAMESPACE,
                patch_type=PatchType.MERGE,
            )

            async def both_applied(generation: int = generation) -> bool:
                return all((role, generation) in applied for role in ("feeder", "caller"))

            await eventually(both_applied, timeout=60, interval=0.005, what=f"both workers at generation {generation}")
            applied_ms.append((max(applied[(r, generation)] for r in ("feeder", "caller")) - started) * 1000)
            await eventually(
                lambda generation=generation: real_at(generation),  # type: ignore[misc]
                timeout=60,
                interval=0.05,
                what=f"ConfigApplied at generation {generation}",
            )
            visible_ms.append((time.monotonic() - started) * 1000)
            _progress(f"edit {edit}: applied {applied_ms[-1]:.0f} ms, visible {visible_ms[-1]:.0f} ms")
        await asyncio.sleep(max(0.0, t0 + steady - time.monotonic()))
        elapsed = time.monotonic() - t0
        rss.append(_rss_mib(operator.pid))
        result.update(
            {
                "instances": len(simulator.instances) + 2,
                "objects": swarms * 3,
                "steady_seconds": round(elapsed, 1),
                "operator_cpu_pct": round((cpu_seconds(operator.pid) - cpu0) / elapsed * 100, 1),
                "rss_idle_mib": round(rss_idle, 1),
                "rss_start_mib": round(rss[0], 1),
                "rss_end_mib": round(rss[-1], 1),
                "rss_peak_mib": round(max(rss), 1),
                "status_patches_per_s": round(
                    (_scrape(port, "hivekeeper_operator_status_patches_total") - patches0) / elapsed, 2
                ),
                "events_per_s": round((_scrape(port, "hivekeeper_operator_events_total") - events0) / elapsed, 1),
                "sim_reports_per_s": round((simulator.reports - reports0) / elapsed, 1),
                "edits": edits,
                "applied_p50_ms": round(statistics.median(applied_ms), 1) if applied_ms else None,
                "applied_p95_ms": round(percentile(applied_ms, 95), 1) if applied_ms else None,
                "visible_p50_ms": round(statistics.median(visible_ms), 1) if visible_ms else None,
                "visible_p95_ms": round(percentile(visible_ms, 95), 1) if visible_ms else None,
            }
        )
        return result
    except Exception as exc:
        tail = ""
        if operator is not None:
            tail = " | ".join(operator.log_path.read_text(errors="replace").strip().splitlines()[-3:])
        raise RuntimeError(f"{describe_error(exc)}; operator log: {tail}") from exc
    finally:
        with contextlib.suppress(Exception):
            await simulator.stop()
        if connection is not None:
            await connection.close()
        if operator is not None:
            operator.stop()
        await kube.close()


def bench_control(
    workdir: Path, swarms: int, replicas: int, edits: int, steady: float, interval: float, profile: Path | None = None
) -> dict[str, Any]:
    """Start the node and the demo SUT, run :func:`measure`, remove everything; errors are reported, not raised."""
    from testbench.demo import demo_service

    async def on_node(node: BenchNode) -> dict[str, Any]:
        async with demo_service() as sut:
            return await measure(
                node, node.pod_url(sut.url), workdir, swarms, replicas, edits, steady, interval, profile
            )

    try:
        node = start_node(workdir / "node")
    except Exception as exc:
        return {"error": describe_error(exc)}
    try:
        return asyncio.run(on_node(node))
    except Exception as exc:
        return {"error": describe_error(exc)}
    finally:
        node.stop()


def report(result: dict[str, Any]) -> None:
    print("\nControl side at scale: one operator, simulated workers' status traffic (bench node, real broker)")
    if "error" in result:
        print(f"  not measured: {result['error'][:400]}")
        return
    print(
        f"  {result['swarms']} swarms, {result['instances']} worker instances ({result['swarms'] - 1} simulated "
        f"swarms of 2 roles x {result['replicas']}, 1 real swarm of 2 pods), {result['objects']} objects, "
        f"status every {result['interval_s']:g} s"
    )
    print(
        f"  steady {result['steady_seconds']:.0f} s: operator CPU {result['operator_cpu_pct']:.1f}% of a core, "
        f"RSS {result['rss_start_mib']:.0f} → {result['rss_end_mib']:.0f} MiB (peak {result['rss_peak_mib']:.0f}, "
        f"idle {result['rss_idle_mib']:.0f} before any swarm)"
    )
    print(
        f"  status reports consumed {result['sim_reports_per_s']:.0f}/s, status patches "
        f"{result['status_patches_per_s']:.1f}/s to the API server, events handled {result['events_per_s']:.0f}/s"
    )
    if result.get("applied_p95_ms") is not None:
        print(
            f"  real swarm, {result['edits']} edits while the others report: edit → applied p50 "
            f"{result['applied_p50_ms']:.0f} ms, p95 {result['applied_p95_ms']:.0f} ms; visible in status p50 "
            f"{result['visible_p50_ms']:.0f} ms, p95 {result['visible_p95_ms']:.0f} ms"
        )
    print(f"  setup (swarms applied → every simulated pod created and reporting) {result['setup_seconds']:.0f} s")


def main() -> int:
    import json

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--swarms", type=int, default=100, help="swarms in all (one of them real)")
    parser.add_argument("--replicas", type=int, default=5, help="replicas of each simulated role (2 roles)")
    parser.add_argument("--edits", type=int, default=20, help="edits of the real swarm during the steady window")
    parser.add_argument("--steady", type=float, default=120.0, help="seconds of the measured window")
    parser.add_argument("--interval", type=float, default=5.0, help="seconds between a worker's status-deltas")
    parser.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    parser.add_argument("--logs", metavar="DIR", help="keep the operator's log there")
    parser.add_argument("--profile", metavar="FILE", help="run the operator under cProfile, its stats to FILE")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="hivekeeper-bench-scale-") as tmp:
        profile = Path(args.profile).resolve() if args.profile else None
        result = bench_control(Path(tmp), args.swarms, args.replicas, args.edits, args.steady, args.interval, profile)
        if args.logs:
            Path(args.logs).mkdir(parents=True, exist_ok=True)
            for log in Path(tmp).glob("*.log"):
                shutil.copy(log, Path(args.logs) / log.name)
    report(result)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(result, indent=2))
    return 0 if "error" not in result else 1


if __name__ == "__main__":
    sys.exit(main())
