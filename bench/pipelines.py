"""Work-plane pipelines through RabbitMQ, batching on and off (decision 0013), measured side by side in one run.

Every worker is a process of its own, started as the operator's pods run it (``python -m hivekeeper.cli worker``
with ``HIVEKEEPER_*`` variables), on one private RabbitMQ (``testbench.rabbitmq``) and one nginx on loopback
(bench/run.py's, or one of our own when this file runs alone). Each run starts fresh workers on a swarm id of its
own, enables them (consumers first), waits until the processors have finished a warm-up of items (a condition with
a timeout), then measures over a window of ``--seconds``; afterwards its workers are stopped and its queues
deleted. The shapes:

* two-stage: generator (SCHEDULER at ``ratePerSec`` 100000, i.e. as fast as it goes, paced by its buffer guard;
  an HTTP GET envelope) → RabbitMQ → processor(s) (threadCount 50, prefetch its default) → nginx;
* three-stage: generator (a SIMPLE item with ``x-ph-call-id``) → RabbitMQ → request-builder (one literal GET
  template) → RabbitMQ → processor(s) → nginx.

Each generator's ``bufferGuard`` watches its own output queue, and so does the request-builder's (``PACING``: paused
at 20,000 items, going on at 10,000; a held builder takes no items, so its input queue fills and the generator's
guard closes in turn): on two shared cores a stage that outruns the next builds a backlog with CPU that stage needs,
so unpaced runs measure less than the pipeline sustains and never reach a steady state (``--unpaced`` runs them so).
Guarding the builder too took three stages from 18.7k and 20.7k to 22.7k and 24.6k items/s in interleaved runs: with
the generator's guard alone, the builder ran ahead of the processor (24.7k against 18.7k items/s) on CPU the
processor needed.
``--processors`` processor processes share the processor's queue (default: 2 for two stages, 1 for three). On these
two cores, shared with the broker, nginx and the other stages, every process more costs every process CPU per item,
so a stage gets a second process only where the machine has a core's worth left for it. Measured in interleaved runs:
three stages gave 17.8k and 18.4k items/s with one processor process against 10.1k and 11.9k with two (its workers
78-81 µs of CPU per item against 120-143); two stages, once the generator stopped waiting for each confirm, gave
25.2k and 25.8k with two against 17.7k and 23.7k with one, which ran at 0.84 of a core; ``--generators`` runs more
generator processes (default 1; a generator has 128 work loops, and each waits for the confirm of its item, so one
generator sends at most 128 items per broker round trip). The table prints each process's share of a core, and
``others``: what the rest of the machine (other tenants, the kernel) used meanwhile, from /proc/stat. On a shared
machine that is what makes runs differ: busy neighbours take whatever the pipeline leaves, so ``others`` near 0
marks a run that had the cores to itself. Batching "on" is the default config; "off" is
``outputs.batching.enabled: false`` on every role.

Measured, for each shape with batching on and off:

* **items/s**: the processors' ``processed`` counters (status-request to every processor instance, summed) at the
  end of the window minus at its start, divided by the window's wall time;
* **CPU µs per item** over the same window, divided by those items: RabbitMQ's (utime + stime of its ``beam.smp``
  process, all threads, from /proc/PID/stat; epmd and the Erlang helper processes are left out), the workers'
  (every worker process summed, and per role), and nginx's (master and worker);
* **items per message** each stage published over the window: the items over the messages its RabbitMQ output
  sent (a batch is one message), from the workers' own ``context.workOut`` counters;
* the queue depth (messages ready) at the start and end of the window: a growing depth means the generator
  outruns the next stage. The broker's CPU is divided by the items the processors finished, so with a growing
  backlog it also carries the publishes of items not yet consumed (the items/s of every role are printed).

Latency, for the two-stage shape only, batching on and off, at ``ratePerSec`` 100 and at full speed: the processor
publishes its results to a ``results`` queue, which a policy bounds (``max-length`` 2000, oldest dropped) so that
nothing piles up at full speed; the bench reads it (at most ``SAMPLE_ITEMS_PER_SEC`` items a second, paced, so
the reader cannot become the bottleneck; its own CPU is printed). For each item the processors *received during
the window*, the latency is ``hops[processor].receivedAt - hops[generator, the last one].processedAt``: from the
moment the generator's work loop stamped the finished item, just before handing it to its RabbitMQ output, to
the moment a processor's work loop took it from its input. That includes the serialisation, the wait for the end
of the generator's event-loop turn (the batch), the publish, the broker's routing and queueing, the delivery, the
split of a batch, and the wait in the processor's input buffer for a free work loop; it does not include the
generator's wait for the confirm (which runs beside it) or the HTTP call. Both times are ``time.time()`` of the
same machine, written with microseconds. At full speed the generator outruns the processors (they wait for the
confirms of their results), so that latency is mostly the backlog: the work queue's (up to the buffer guard's
20,000 items, unbounded ``--unpaced``), and the processors' own prefetch (50 messages each, i.e. up to 50 x 128 items
with batches); the depths are printed with it.

Windows: the machine's speed changes with its neighbours' load, by more than any change measured here (the same code
gave 16k and 31k items/s an hour apart). So each throughput run is measured ``--repeat`` times (default 3), in rounds
that take every shape once, and each row shows the run with the median items/s (its CPU figures are that run's), then
every window's items/s and the best. The latency runs at 100 items/s (the p99 goal's) are repeated the same way, and
their rows show the window with the median p99. The goal lines print the median and the best.

Printed next to the numbers, never asserted (benchmarks are not tests): ≥ 30k items/s two-stage and ≥ 20k
three-stage with batching, broker CPU per item cut ≥ 5x by batching, p99 < 2 ms at 100 items/s.

    python bench/pipelines.py --seconds 10 [--repeat 3] [--processors N] [--generators 1] [--unpaced] [--only TEXT]
        [--json FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from hivekeeper.protocol import envelope as env
from hivekeeper.protocol import naming
from hivekeeper.protocol.batch import BATCH_HEADER, split

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "support"))

from testbench.rabbitmq import RabbitMQ, start_rabbitmq  # noqa: E402

sys.path.insert(0, str(REPO / "bench"))
from proc_cpu import cpu_seconds, group_pids  # noqa: E402

FULL_SPEED = 100_000
"""The generator's ``ratePerSec`` for "as fast as it goes" (no run here reaches it)."""
THREADS = 50
"""Processor ``threadCount`` (the same 50 concurrent requests as the rest of bench/run.py)."""
PROCESSORS = {"two-stage": 2, "three-stage": 1}
"""Processor processes per shape (``--processors`` sets one number for both; the module's docstring says why)."""
REPEAT = 3
"""Windows per throughput run (``--repeat``); rows show the median one."""
WARM_ITEMS = 20_000
"""Items the processors finish before the window opens at full speed (at a set rate: two seconds of it)."""
WARM_TIMEOUT = 90.0
READY_TIMEOUT = 30.0
RESULTS_LENGTH = 2000
SAMPLE_ITEMS_PER_SEC = 1000
"""The latency reader parses at most this many items a second (the results queue drops the rest)."""
GOALS = {"two-stage": 30_000, "three-stage": 20_000}
CPU_CUT_GOAL = 5.0
P99_GOAL_MS = 2.0

PACING = {"high": 20_000, "low": 10_000, "minRatePerSec": 0, "intervalMs": 100}
"""The generators' buffer guard (``Scale.paced``): depths in items, read ten times a second."""
GENERATOR_HTTP = {"message": {"bodyType": "HTTP", "method": "GET", "path": "/", "body": ""}}
GENERATOR_SIMPLE = {"message": {"bodyType": "SIMPLE", "body": '{"n": 1}', "headers": {"x-ph-call-id": "get"}}}
BUILDER = {
    "serviceId": "bench",
    "templates": [{"serviceId": "bench", "callId": "get", "method": "GET", "pathTemplate": "/"}],
}


@dataclass(frozen=True)
class Stage:
    role: str
    kind: str
    work_in: str | None
    work_out: str | None
    config: dict[str, Any]
    instances: int = 1


@dataclass(frozen=True)
class Shape:
    name: str
    stages: tuple[Stage, ...]

    @property
    def queues(self) -> list[str]:
        return [stage.work_out for stage in self.stages if stage.work_out is not None]


@dataclass(frozen=True)
class Scale:
    """Processes per stage: ``processors`` share the processor's queue; ``generators`` each run their own SCHEDULER
    (a generator without ``threadCount`` has 128 work loops, which bounds its batches and its items per round trip)."""

    processors: int | None = None
    """None: :data:`PROCESSORS`' number for the shape."""
    generators: int = 1
    paced: bool = True
    """The generators' and the request-builder's ``bufferGuard`` watch their output queue (:data:`PACING`): they
    pause while it holds ``high`` items and go on at ``low``, so a run measures what the pipeline sustains instead of
    a backlog growing on CPU the slower stages need (``--unpaced``: as fast as they go)."""


def shape(name: str, url: str, scale: Scale, *, rate: float, results: bool) -> Shape:
    """The stages of ``name`` (two-stage or three-stage); ``results``: the processor publishes to ``results``.
    ``rate`` is each generator's."""
    scheduler: dict[str, Any] = {"inputs": {"type": "SCHEDULER", "scheduler": {"ratePerSec": rate}}}
    processor = Stage(
        "caller",
        "processor",
        "call",
        "results" if results else None,
        {"baseUrl": url, "threadCount": THREADS, "timeoutMs": 5000},
        scale.processors or PROCESSORS[name],
    )
    first = "call" if name == "two-stage" else "build"
    if scale.paced:
        scheduler["bufferGuard"] = {"queue": first, **PACING}
    builder = {**BUILDER, "bufferGuard": {"queue": "call", **PACING}} if scale.paced else BUILDER
    if name == "two-stage":
        generator = Stage("feeder", "generator", None, first, {**scheduler, **GENERATOR_HTTP}, scale.generators)
        return Shape(name, (generator, processor))
    return Shape(
        name,
        (
            Stage("feeder", "generator", None, first, {**scheduler, **GENERATOR_SIMPLE}, scale.generators),
            Stage("builder", "request-builder", "build", "call", builder),
            processor,
        ),
    )


# -- CPU from /proc -------------------------------------------------------------------------------------------


def beam_pid(broker: RabbitMQ) -> int:
    """The ``beam.smp`` process of the node ``start_rabbitmq`` started (in the server's process group)."""
    server = broker.processes[-1]
    pids = group_pids(server.pid, "beam.smp")
    if len(pids) != 1:
        raise RuntimeError(f"expected one beam.smp in process group {server.pid}, found {pids}")
    return pids[0]


def machine_busy_seconds() -> float:
    """CPU seconds every core of the machine spent busy so far (the ``cpu`` line of /proc/stat, idle and iowait
    left out)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields[:8]
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


class CpuProbe:
    """CPU seconds of named sets of processes, and of the whole machine (``machine``), read together."""

    def __init__(self, pids: dict[str, list[int]]) -> None:
        self.pids = pids

    def read(self) -> dict[str, float]:
        totals = {"machine": machine_busy_seconds()}
        for name, pids in self.pids.items():
            totals[name] = 0.0
            for pid in pids:
                with contextlib.suppress(OSError):
                    totals[name] += cpu_seconds(pid)
        return totals


# -- the workers and their control plane -----------------------------------------------------------------------


@dataclass
class Workers:
    """Worker processes of one run, and their status replies (by instance) on the control exchange."""

    swarm: str
    amqp: str
    workdir: Path
    procs: dict[str, tuple[Stage, subprocess.Popen[bytes]]] = field(default_factory=dict)
    status: dict[str, dict[str, Any]] = field(default_factory=dict)
    waiting: dict[str, asyncio.Event] = field(default_factory=dict)
    control: Any = None

    def start(self, stage: Stage, index: int) -> None:
        instance = f"{stage.role}-{index}"
        variables = {
            "HIVEKEEPER_SWARM_ID": self.swarm,
            "HIVEKEEPER_AMQP_URL": self.amqp,
            "HIVEKEEPER_METRICS_PORT": "0",
            "HIVEKEEPER_STATUS_INTERVAL": "600",
            "HIVEKEEPER_STOP_GRACE_SECONDS": "0",
            "HIVEKEEPER_ROLE": stage.role,
            "HIVEKEEPER_ROLE_KIND": stage.kind,
            "HIVEKEEPER_INSTANCE": instance,
            "HIVEKEEPER_CONFIG": json.dumps(stage.config),
        }
        if stage.work_in:
            variables["HIVEKEEPER_WORK_IN"] = stage.work_in
        if stage.work_out:
            variables["HIVEKEEPER_WORK_OUT"] = stage.work_out
        with (self.workdir / f"{self.swarm}-{instance}.log").open("wb") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "hivekeeper.cli", "worker"],
                env={**os.environ, **variables},
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self.procs[instance] = (stage, proc)
        self.waiting[instance] = asyncio.Event()

    def check_alive(self) -> None:
        for instance, (_, proc) in self.procs.items():
            if proc.poll() is not None:
                log = self.workdir / f"{self.swarm}-{instance}.log"
                lines = log.read_text(errors="replace").strip().splitlines()[-5:] if log.exists() else []
                raise RuntimeError(f"worker {instance} exited with {proc.returncode}: {' | '.join(lines)}")

    def on_status(self, instance: str, data: dict[str, Any]) -> None:
        self.status[instance] = data
        if instance in self.waiting:
            self.waiting[instance].set()

    async def wait_for(self, instances: list[str], timeout: float) -> None:
        """Until every one of ``instances`` has reported since its event was cleared; the workers must stay up."""
        deadline = time.monotonic() + timeout
        while not all(self.waiting[i].is_set() for i in instances):
            self.check_alive()
            if time.monotonic() > deadline:
                missing = [i for i in instances if not self.waiting[i].is_set()]
                raise TimeoutError(f"no status from {missing} within {timeout:.0f} s (logs in {self.workdir})")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.gather(*(self.waiting[i].wait() for i in instances)), 0.5)

    async def signal(self, instance: str, type_: str, data: dict[str, Any]) -> None:
        import aio_pika

        role = self.procs[instance][0].role
        scope = env.Scope(swarmId=self.swarm, role=role, instance=instance)
        message = env.signal(type_, scope, data, origin="bench")
        await self.control.publish(
            aio_pika.Message(message.to_json()), naming.signal_key(type_, self.swarm, role, instance)
        )

    def instances(self, role: str | None = None) -> list[str]:
        return [i for i, (stage, _) in self.procs.items() if role is None or stage.role == role]

    async def counters(self) -> dict[str, Counters]:
        """Each instance's counters, asked for now (status-request) and answered."""
        everyone = self.instances()
        for instance in everyone:
            self.waiting[instance].clear()
            await self.signal(instance, "status-request", {})
        await self.wait_for(everyone, 10)
        return {i: Counters.of(self.status[i]["context"]) for i in everyone}

    def stop(self) -> None:
        for _, proc in self.procs.values():
            if proc.poll() is None:
                proc.terminate()
        deadline = time.monotonic() + 10
        for _, proc in self.procs.values():
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)


@dataclass(frozen=True)
class Counters:
    """What one worker's status says it did so far: items processed, and messages and items its RabbitMQ output
    published (``context.workOut``: a batch is one message)."""

    processed: int
    messages: int
    published: int

    @classmethod
    def of(cls, context: dict[str, Any]) -> Counters:
        published = context.get("workOut") or {}
        return cls(int(context["processed"]), int(published.get("messages", 0)), int(published.get("items", 0)))


def role_sum(counts: dict[str, Counters], workers: Workers, role: str, what: str = "processed") -> int:
    return sum(int(getattr(counts[i], what)) for i in workers.instances(role))


# -- readers: batch sizes and latency ------------------------------------------------------------------------


def items_of(message: Any) -> list[bytes]:
    count = (message.headers or {}).get(BATCH_HEADER)
    return [message.body] if count is None else split(message.body, count)


def _epoch(stamp: str) -> float:
    return dt.datetime.fromisoformat(stamp).timestamp()


@dataclass
class LatencyReader:
    """Reads the results queue (bounded by a policy), at most ``SAMPLE_ITEMS_PER_SEC`` items a second, and keeps
    the latency of each item a processor received inside the window."""

    generator: str
    processor: str
    window: tuple[float, float] = (float("inf"), float("inf"))
    samples: list[float] = field(default_factory=list)
    parsed: int = 0
    skipped: int = 0

    def take(self, body: bytes) -> None:
        hops = orjson.loads(body)["observability"]["hops"]
        made = next(h for h in reversed(hops) if h["service"] == self.generator)
        taken = next(h for h in reversed(hops) if h["service"] == self.processor)
        received = _epoch(taken["receivedAt"])
        if self.window[0] <= received <= self.window[1]:
            self.samples.append((received - _epoch(made["processedAt"])) * 1000)
        else:
            self.skipped += 1

    async def run(self, channel: Any, queue_name: str) -> None:
        queue = await channel.declare_queue(queue_name, durable=True)
        started = time.monotonic()
        async with queue.iterator() as messages:
            async for message in messages:
                for body in items_of(message):
                    self.parsed += 1
                    self.take(body)
                await message.ack()
                ahead = self.parsed / SAMPLE_ITEMS_PER_SEC - (time.monotonic() - started)
                if ahead > 0:  # pacing the reader (the queue drops what it does not read), not a readiness wait
                    await asyncio.sleep(ahead)


def percentile(values: list[float], fraction: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered) + 0.5) - 1))]


# -- one run ---------------------------------------------------------------------------------------------------


def batching(config: dict[str, Any], enabled: bool) -> dict[str, Any]:
    """``config`` with batching as asked: on is the default config, off is ``outputs.batching.enabled: false``."""
    if enabled:
        return config
    return {**config, "outputs": {**config.get("outputs", {}), "batching": {"enabled": False}}}


@dataclass(frozen=True)
class Run:
    shape: Shape
    batched: bool
    rate: float
    latency: bool
    swarm: str

    @property
    def label(self) -> str:
        speed = "full speed" if self.rate >= FULL_SPEED else f"{self.rate:,.0f} items/s"
        latency = f", latency at {speed}" if self.latency else ""
        return f"{self.shape.name}, batching {'on' if self.batched else 'off'}{latency}"


@dataclass
class Bench:
    """What every run shares: the broker, the SUT's processes, the window and where logs go."""

    broker: RabbitMQ
    sut_pids: list[int]
    seconds: float
    workdir: Path


async def one_run(run: Run, bench: Bench) -> dict[str, Any]:
    """Start ``run``'s workers, warm up, measure over the window, read the batch sizes; stop and clean up."""
    import aio_pika

    stages = tuple(
        Stage(s.role, s.kind, s.work_in, s.work_out, batching(s.config, run.batched), s.instances)
        for s in run.shape.stages
    )
    workers = Workers(run.swarm, bench.broker.url, bench.workdir)
    reader = LatencyReader(stages[0].role, stages[-1].role)
    connection = await aio_pika.connect(bench.broker.url)
    reading: asyncio.Task[None] | None = None
    try:
        channel = await connection.channel()
        workers.control = await channel.declare_exchange(
            naming.CONTROL_EXCHANGE, aio_pika.ExchangeType.TOPIC, durable=True
        )
        events = await channel.declare_queue(exclusive=True)
        await events.bind(workers.control, naming.events_binding(run.swarm))

        async def on_event(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            async with message.process():
                event = env.parse(message.body)
                if event.type == "status-full":
                    workers.on_status(event.scope.instance, event.data)

        await events.consume(on_event)
        for stage in stages:
            for index in range(stage.instances):
                workers.start(stage, index)
        await workers.wait_for(workers.instances(), READY_TIMEOUT)  # each sends status-full once it is up
        if run.latency:
            reader_channel = await connection.channel()
            await reader_channel.set_qos(prefetch_count=16)
            results = naming.work_queue(run.swarm, "results")
            reading = asyncio.create_task(reader.run(reader_channel, results))
        for stage in reversed(stages):  # consumers before producers
            for instance in workers.instances(stage.role):
                await workers.signal(instance, "config-update", {"enabled": True})
        measured = await measure(run, bench, workers, reader, await connection.channel())
    finally:
        if reading is not None:
            reading.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reading
        workers.stop()
        with contextlib.suppress(Exception):
            cleanup = await connection.channel()
            for alias in run.shape.queues:
                await cleanup.queue_delete(naming.work_queue(run.swarm, alias))
            for instance, (stage, _) in workers.procs.items():
                await cleanup.queue_delete(naming.control_queue(run.swarm, stage.role, instance))
        await connection.close()
    if run.latency:
        samples = reader.samples
        measured["latency"] = {
            "samples": len(samples),
            "p50Ms": percentile(samples, 0.5),
            "p99Ms": percentile(samples, 0.99),
            "maxMs": max(samples) if samples else None,
            "readerItems": reader.parsed,
            "readerCoreShare": measured["coreShare"].pop("bench"),
        }
    measured["coreShare"].pop("bench", None)
    return {"shape": run.shape.name, "batching": run.batched, "rate": run.rate, "label": run.label, **measured}


async def measure(run: Run, bench: Bench, workers: Workers, reader: LatencyReader, channel: Any) -> dict[str, Any]:
    """Warm up (until the processors finished enough items), then count items and CPU over the window."""
    processors = run.shape.stages[-1].role
    warm = WARM_ITEMS if run.rate >= FULL_SPEED else int(run.rate * 2)
    deadline = time.monotonic() + WARM_TIMEOUT
    while role_sum(await workers.counters(), workers, processors) < warm:
        if time.monotonic() > deadline:
            raise TimeoutError(f"the processors did not finish {warm} items within {WARM_TIMEOUT:.0f} s")
        await asyncio.sleep(0.2)  # polling a condition
    work_queues = [alias for alias in run.shape.queues if alias != "results"]

    async def depths() -> dict[str, int]:
        found = {}
        for alias in work_queues:
            queue = await channel.declare_queue(naming.work_queue(run.swarm, alias), passive=True)
            found[alias] = int(queue.declaration_result.message_count or 0)
        return found

    probe = CpuProbe(
        {
            "broker": [beam_pid(bench.broker)],
            "nginx": bench.sut_pids,
            **{instance: [proc.pid] for instance, (_, proc) in workers.procs.items()},
            "bench": [os.getpid()],
        }
    )
    depth0, cpu0, n0 = await depths(), probe.read(), await workers.counters()
    t0 = time.monotonic()
    reader.window = (time.time(), float("inf"))
    await asyncio.sleep(bench.seconds)  # the measuring window
    n1 = await workers.counters()
    t1, cpu1 = time.monotonic(), probe.read()
    reader.window = (reader.window[0], time.time())
    depth1 = await depths()

    elapsed = t1 - t0

    def delta(role: str, what: str = "processed") -> int:
        return role_sum(n1, workers, role, what) - role_sum(n0, workers, role, what)

    items = delta(processors)
    used = {name: cpu1[name] - cpu0[name] for name in cpu0}
    machine = used.pop("machine")
    used["others"] = max(0.0, machine - sum(used.values()))  # what else ran on the machine meanwhile
    per_role: dict[str, float] = {}
    for instance, (stage, _) in workers.procs.items():
        per_role[stage.role] = per_role.get(stage.role, 0.0) + used[instance]

    def per_item(cpu: float) -> float | None:
        return cpu / items * 1e6 if items else None

    # The items the broker moved: per work queue, the mean of the items published into it and taken out of it. When
    # a stage outruns the next (the queue grows), dividing the broker's CPU by the items the processors finished
    # would charge the extra publishes to them; this divides by what went through, then counts each queue hop.
    consumers = {stage.work_in: stage.role for stage in run.shape.stages if stage.work_in}
    hops = [stage for stage in run.shape.stages if stage.work_out in consumers]
    moved = sum((delta(stage.role, "published") + delta(consumers[stage.work_out], "processed")) / 2 for stage in hops)
    per_moved = used["broker"] / moved * len(hops) * 1e6 if moved else None

    return {
        "processors": run.shape.stages[-1].instances,
        "seconds": round(elapsed, 2),
        "items": items,
        "itemsPerSec": items / elapsed if elapsed else 0.0,
        "rolePerSec": {stage.role: delta(stage.role) / elapsed for stage in run.shape.stages},
        "brokerCpuUs": per_item(used["broker"]),
        "brokerCpuUsMoved": per_moved,
        "workersCpuUs": per_item(sum(per_role.values())),
        "roleCpuUs": {role: per_item(cpu) for role, cpu in per_role.items()},
        "nginxCpuUs": per_item(used["nginx"]),
        "coreShare": {name: round(cpu / elapsed, 2) for name, cpu in used.items()},
        "depth": {alias: [depth0[alias], depth1[alias]] for alias in work_queues},
        "itemsPerMessage": {
            stage.work_out: delta(stage.role, "published") / delta(stage.role, "messages")
            for stage in run.shape.stages
            if stage.work_out is not None and delta(stage.role, "messages")
        },
    }


def plan(url: str, scale: Scale, repeat: int = REPEAT) -> list[Run]:
    """The throughput runs (both shapes, batching on and off), ``repeat`` rounds of them, then the latency runs
    (two-stage, both rates; those at 100 items/s, the goal's, also ``repeat`` rounds)."""
    throughput = [
        Run(shape(name, url, scale, rate=FULL_SPEED, results=False), batched, FULL_SPEED, False, "")
        for name in ("two-stage", "three-stage")
        for batched in (True, False)
    ]
    runs = [run for _ in range(repeat) for run in throughput]  # rounds: a neighbour's burst hits every shape alike
    slow = [Run(shape("two-stage", url, scale, rate=100, results=True), b, 100, True, "") for b in (True, False)]
    runs += [run for _ in range(repeat) for run in slow]
    runs += [
        Run(shape("two-stage", url, scale, rate=FULL_SPEED, results=True), batched, FULL_SPEED, True, "")
        for batched in (True, False)
    ]
    return [Run(r.shape, r.batched, r.rate, r.latency, f"benchpipe{number}") for number, r in enumerate(runs)]


async def all_runs(runs: list[Run], bench: Bench) -> dict[str, Any]:
    throughput: list[dict[str, Any]] = []
    latency: list[dict[str, Any]] = []
    for run in runs:
        print(f"  pipelines: {run.label} ...", file=sys.stderr, flush=True)
        into = latency if run.latency else throughput
        try:
            into.append(await one_run(run, bench))
        except Exception as exc:  # one failed run is reported, the others still run
            error = f"{type(exc).__name__}: {exc}"
            into.append({"shape": run.shape.name, "batching": run.batched, "rate": run.rate, "error": error})
    return {
        "runs": median_runs(throughput, _items_per_sec, higher_is_better=True),
        "latency": median_runs(latency, _p99, higher_is_better=False),
        "windows": throughput + latency,
        "seconds": bench.seconds,
    }


def _items_per_sec(row: dict[str, Any]) -> float | None:
    return row.get("itemsPerSec")


def _p99(row: dict[str, Any]) -> float | None:
    return row.get("latency", {}).get("p99Ms")


def median_runs(
    rows: list[dict[str, Any]], figure: Callable[[dict[str, Any]], float | None], higher_is_better: bool
) -> list[dict[str, Any]]:
    """One row per shape, batching and rate: the measured run with the median ``figure`` (the worse of the two middle
    ones for an even count), with ``windows`` (every measured run's figure, in order) and ``failedWindows``."""
    groups: dict[tuple[str, bool, float], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault((row["shape"], row["batching"], row["rate"]), []).append(row)
    chosen = []
    for group in groups.values():
        measured = [row for row in group if figure(row) is not None]
        if not measured:
            chosen.append(group[0])  # every window failed: the first error is shown
            continue
        ranked = sorted(measured, key=lambda row: figure(row) or 0.0, reverse=not higher_is_better)  # worst first
        windows = [figure(row) for row in measured]
        chosen.append(
            {**ranked[(len(ranked) - 1) // 2], "windows": windows, "failedWindows": len(group) - len(measured)}
        )
    return chosen


def bench_pipelines(
    url: str,
    seconds: float,
    workdir: Path,
    sut_pid: int,
    scale: Scale | None = None,
    only: str = "",
    repeat: int = REPEAT,
) -> dict[str, Any]:
    """Every run (those whose label contains ``only``) against the nginx at ``url``, whose process group is
    ``sut_pid``, on a RabbitMQ of their own; each throughput run ``repeat`` times."""
    scale = scale or Scale()
    runs = [run for run in plan(url, scale, repeat) if only in run.label]
    broker = start_rabbitmq(workdir / "rabbitmq-pipelines")
    try:
        policy = json.dumps({"max-length": RESULTS_LENGTH})
        broker.ctl("set_policy", "bench-results", r"^hivekeeper\..+\.results$", policy, "--apply-to", "queues")
        bench = Bench(broker, group_pids(sut_pid), seconds, workdir)
        result = asyncio.run(all_runs(runs, bench))
    finally:
        broker.stop()
    return {
        **result,
        "processors": scale.processors or PROCESSORS,
        "generators": scale.generators,
        "threadCount": THREADS,
        "repeat": repeat,
    }


# -- the report ------------------------------------------------------------------------------------------------


def _num(value: float | None, fmt: str = ".1f") -> str:
    return "-" if value is None else format(value, fmt)


def _find(rows: list[dict[str, Any]], name: str, batched: bool, rate: float | None = None) -> dict[str, Any]:
    for row in rows:
        if row["shape"] == name and row["batching"] == batched and (rate is None or row["rate"] == rate):
            return row
    return {}


def _details(row: dict[str, Any]) -> str:
    sizes = " ".join(f"{alias} {mean:.1f}" for alias, mean in row["itemsPerMessage"].items())
    depth = " ".join(f"{alias} {a:,}→{b:,}" for alias, (a, b) in row["depth"].items())
    rates = " ".join(f"{role} {value:,.0f}" for role, value in row["rolePerSec"].items())
    roles = " ".join(f"{role} {_num(value)}" for role, value in row["roleCpuUs"].items())
    cores = " ".join(f"{name} {value:.2f}" for name, value in row["coreShare"].items())
    return (
        f"    items/message {sizes}; depth (messages) {depth}; items/s by role {rates}\n"
        f"    worker µs/item {roles}; share of a core: {cores}"
    )


def _windows(row: dict[str, Any], what: str, fmt: str, best: Callable[[list[float]], float]) -> str | None:
    """``    windows (what): a, b, c; best x`` for a row measured in more than one window (else None)."""
    windows = row.get("windows", [])
    if len(windows) < 2 and not row.get("failedWindows"):
        return None
    each = ", ".join(format(value, fmt) for value in windows)
    failed = f"; {row['failedWindows']} failed" if row.get("failedWindows") else ""
    return f"    windows ({what}): {each}; best {format(best(windows), fmt)}{failed}"


def _processes(processors: int | dict[str, int]) -> str:
    if isinstance(processors, int):
        return str(processors)
    return ", ".join(f"{count} ({shape})" for shape, count in processors.items())


def report(result: dict[str, Any]) -> None:
    runs, latency = result["runs"], result["latency"]
    print(
        f"\nWork-plane pipelines (bench/pipelines.py): each worker a process, RabbitMQ and nginx on loopback, "
        f"{result['generators']} generator and {_processes(result['processors'])} processor processes "
        f"(threadCount {result['threadCount']}), "
        f"{result['seconds']:.0f} s each, 2 cores; items/s and p99 at 100 items/s: the median of "
        f"{result.get('repeat', 1)} windows, taken in rounds\n"
    )
    print(f"{'pipeline':30} {'items/s':>9} {'broker µs/item':>15} {'workers µs/item':>16} {'nginx µs/item':>14}")
    for row in runs:
        label = f"{row['shape']}, batching {'on' if row['batching'] else 'off'}"
        if "error" in row:
            print(f"{label:30} {'-':>9} {'-':>15} {'-':>16} {'-':>14}  not measured: {row['error'][:100]}")
            continue
        print(
            f"{label:30} {row['itemsPerSec']:9,.0f} {_num(row['brokerCpuUs']):>15} "
            f"{_num(row['workersCpuUs']):>16} {_num(row['nginxCpuUs']):>14}"
        )
        print(_details(row))
        windows = _windows(row, "items/s", ",.0f", max)
        if windows:
            print(windows)
    _report_latency(latency)
    _report_goals(runs, latency)


def _report_latency(latency: list[dict[str, Any]]) -> None:
    if latency:
        print(
            f"\n{'latency, two-stage':30} {'items/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'samples':>8}"
            "  reader: items read, share of a core"
        )
    for row in latency:
        speed = "full speed" if row["rate"] >= FULL_SPEED else f"{row['rate']:,.0f} items/s"
        label = f"{speed}, batching {'on' if row['batching'] else 'off'}"
        if "error" in row:
            print(f"{label:30} not measured: {row['error'][:100]}")
            continue
        lat = row["latency"]
        print(
            f"{label:30} {row['itemsPerSec']:9,.0f} {_num(lat['p50Ms'], '.2f'):>8} {_num(lat['p99Ms'], '.2f'):>8} "
            f"{_num(lat['maxMs'], '.2f'):>8} {lat['samples']:8,}  "
            f"{lat['readerItems']:,}, {lat['readerCoreShare']:.2f}"
        )
        print(_details(row))
        windows = _windows(row, "p99 ms", ".2f", min)
        if windows:
            print(windows)


def _report_goals(runs: list[dict[str, Any]], latency: list[dict[str, Any]]) -> None:
    print("\nratios and goals (printed, not asserted; 2 shared cores: noisy):")
    for name, goal in GOALS.items():
        on, off = _find(runs, name, True), _find(runs, name, False)
        if "itemsPerSec" in on:
            gain = f", {on['itemsPerSec'] / off['itemsPerSec']:.1f}x batching off" if off.get("itemsPerSec") else ""
            best = max(on.get("windows", [on["itemsPerSec"]]))
            print(
                f"  {name} items/s with batching: median {on['itemsPerSec']:,.0f}, best {best:,.0f}   "
                f"(goal ≥ {goal:,}){gain}"
            )
        if on.get("brokerCpuUs") and off.get("brokerCpuUs"):
            cut = off["brokerCpuUs"] / on["brokerCpuUs"]
            print(f"  {name} broker CPU per item finished, off / on: {cut:.1f}x   (goal ≥ {CPU_CUT_GOAL:.0f}x)")
        if on.get("brokerCpuUsMoved") and off.get("brokerCpuUsMoved"):
            cut = off["brokerCpuUsMoved"] / on["brokerCpuUsMoved"]
            print(
                f"  {name} broker CPU per item moved through its queues, off / on: {cut:.1f}x   "
                f"({on['brokerCpuUsMoved']:.1f} vs {off['brokerCpuUsMoved']:.1f} µs)"
            )
    for batched in (True, False):
        row = _find(latency, "two-stage", batched, 100)
        p99 = _p99(row)
        if p99 is not None:
            on_off = "on" if batched else "off"
            best = min(row.get("windows", [p99]))
            print(
                f"  p99 at 100 items/s, batching {on_off}: median {p99:.2f} ms, best {best:.2f} ms   "
                f"(goal < {P99_GOAL_MS:.0f} ms)"
            )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10.0, help="measuring window of each run")
    parser.add_argument(
        "--processors", type=int, default=None, help=f"processor processes per pipeline (default: {PROCESSORS})"
    )
    parser.add_argument("--repeat", type=int, default=REPEAT, help="windows per throughput run (rows: the median)")
    parser.add_argument("--generators", type=int, default=1, help="generator processes per pipeline")
    parser.add_argument(
        "--unpaced", action="store_true", help="generators without their buffer guard: as fast as they go"
    )
    parser.add_argument("--only", default="", help="run only the runs whose label contains this text")
    parser.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    args = parser.parse_args()
    if args.repeat < 1:
        parser.error(f"--repeat is {args.repeat}: it must be 1 or more (windows per throughput run)")
    sys.path.insert(0, str(REPO / "bench"))
    from run import start_nginx

    from testbench.packages import ensure_debian_packages

    ensure_debian_packages(["nginx", "rabbitmq"])
    with tempfile.TemporaryDirectory(prefix="hivekeeper-pipelines-") as tmp:
        workdir = Path(tmp)
        nginx, url = start_nginx(workdir / "nginx")
        try:
            result = bench_pipelines(
                url,
                args.seconds,
                workdir,
                nginx.pid,
                Scale(args.processors, args.generators, not args.unpaced),
                args.only,
                args.repeat,
            )
        finally:
            nginx.stop()
    report(result)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
