"""Our own per-item costs on the work path, in one process, without a broker: µs per item per stage and
cProfile's top entries (issue 19).

    PYTHONPATH=src:tests/support .venv/bin/python bench/profile_items.py [--items 20000] [--json FILE]

Three stages, each a real :class:`~hivekeeper.worker.runtime.worker.Worker` (the real role, the real work
loop, a real config-update over the in-memory control bus) on the in-memory transports:

* **generator**: a SCHEDULER input (the real one, at a rate no item waits for) rendering a templated body
  (``vars``, ``sequence()``, ``randInt``, ``pickWeighted``, ``nowIso``) and headers (one templated);
* **request-builder**: the generator's items from an in-memory queue, each rendered into an ``http.request``
  by a call template with ``{{ }}`` in its path, a header and its body;
* **processor**: the builder's items; the HTTP call goes to the port's in-memory twin (``MemoryHttp``: a 200
  with a small JSON body, no socket), so what is measured is the processor's *item side*: parse the item,
  read the envelope, serialise the request, build the result, add the step and the hop, encode it. Network
  costs are not in these figures (``make bench`` measures those against a real server).

Each stage's output goes to a sink that only keeps the bytes (no broker, no batching: ``outputs.batching``
is the RabbitMQ sink's and not measured here). A stage first runs ``--warmup`` items (templates compiled,
caches warm); the window is the next ``--items`` items, measured ``--repeat`` times without the profiler (the
best wall and CPU µs per item are printed) and ``--repeat`` times more, each on a fresh worker, under cProfile (the
top entries by tottime, per item, of the run with the least profiled time; the profiler's own overhead inflates
these, so compare them with each other, not with the timed figures).

A bench, not a test: nothing is asserted. The machine's other load shows in the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import cProfile
import gc
import json
import pstats
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(REPO / "tests" / "support"))

from hivekeeper.local.transports import MemoryTransports  # noqa: E402
from hivekeeper.protocol import envelope as env  # noqa: E402
from hivekeeper.protocol import naming  # noqa: E402
from hivekeeper.worker.http.memory import MemoryHttp, Reply, Sent  # noqa: E402
from hivekeeper.worker.http_port import HttpSettings  # noqa: E402
from hivekeeper.worker.identity import Identity  # noqa: E402
from hivekeeper.worker.ports import WorkSink  # noqa: E402
from hivekeeper.worker.runtime.worker import Worker  # noqa: E402
from hivekeeper.worker.transports.memory import MemoryBroker  # noqa: E402

SWARM = "bench"
TOP = 15
VARS = {"currency": "EUR", "tenant": "acme", "channelWeights": {"web": 70, "mobile": 30}}

GENERATOR: dict[str, Any] = {
    "vars": VARS,
    "message": {
        "bodyType": "SIMPLE",
        "body": (
            "{\"customer\": \"{{ sequence('customers', 'numeric', 'customer-%06d') }}\", "
            '"amount": {{ randInt(1, 500) }}, "currency": "{{ vars.currency }}", '
            "\"channel\": \"{{ pickWeighted('web', 70, 'mobile', 30) }}\", "
            '"requestedAt": "{{ nowIso() }}"}'
        ),
        "headers": {"x-ph-call-id": "createOrder", "x-tenant": "{{ vars.tenant }}"},
    },
}
TEMPLATE: dict[str, Any] = {
    "serviceId": "orders",
    "callId": "createOrder",
    "method": "POST",
    "pathTemplate": "/customers/{{ payload.customer }}/orders",
    "headersTemplate": {"Content-Type": "application/json", "X-Tenant": "{{ headers['x-tenant'] }}"},
    "bodyTemplate": (
        '{"amount": {{ payload.amount }}, "currency": "{{ vars.currency }}", '
        '"channel": "{{ payload.channel }}", "correlation": "{{ correlationId }}"}'
    ),
}
BUILDER: dict[str, Any] = {"vars": VARS, "serviceId": "orders", "templates": [TEMPLATE]}
PROCESSOR: dict[str, Any] = {"baseUrl": "http://sut.bench:8080", "threadCount": 8}
ANSWER = Reply(200, b'{"orderId": "o-1", "status": "ACCEPTED"}', (("Content-Type", "application/json"),))


class KeepingSink:
    """Keeps each published body; times (and profiles) the window of publishes ``start`` to ``end``."""

    def __init__(self, start: int, end: int, profiler: cProfile.Profile | None) -> None:
        self.bodies: list[bytes] = []
        self._start, self._end = start, end
        self._profiler = profiler
        self.wall = self.cpu = 0.0
        self.done = asyncio.Event()

    async def publish(self, body: bytes) -> None:
        self.bodies.append(body)
        count = len(self.bodies)
        if count == self._start:
            self.wall, self.cpu = time.perf_counter(), time.process_time()
            if self._profiler is not None:
                self._profiler.enable()
        elif count == self._end:
            if self._profiler is not None:
                self._profiler.disable()
            self.wall, self.cpu = time.perf_counter() - self.wall, time.process_time() - self.cpu
            self.done.set()

    def state(self) -> str:
        return "ok"

    async def close(self) -> None:
        return None


class BenchTransports(MemoryTransports):
    """The in-memory transports of ``hivekeeper run``, with the work output replaced by a :class:`KeepingSink`."""

    def __init__(self, broker: MemoryBroker, sink: KeepingSink) -> None:
        super().__init__(broker, SWARM)
        self.keeping = sink

    def sink(self, identity: Identity) -> WorkSink:
        return self.keeping


class BenchWorker(Worker):
    """A worker whose role gets the HTTP port's in-memory twin instead of the pooled client."""

    answers = MemoryHttp()

    def _http_for(self, wanted: HttpSettings) -> Any:
        return self.answers


def _answer(_: Sent) -> Reply:
    return ANSWER


@dataclass
class Stage:
    name: str
    kind: str
    config: dict[str, Any]
    wall_us: float = 0.0
    cpu_us: float = 0.0
    top: list[dict[str, Any]] = field(default_factory=list)
    total_tottime_us: float = 0.0


async def run_stage(
    stage: Stage, inputs: list[bytes] | None, warmup: int, items: int, profiler: cProfile.Profile | None
) -> KeepingSink:
    """Run ``stage``'s worker over ``inputs`` (None: its SCHEDULER) until ``warmup + items`` results are out."""
    total = warmup + items
    sink = KeepingSink(warmup, total, profiler)
    broker = MemoryBroker(queue_limit=total + 1)
    transports = BenchTransports(broker, sink)
    work_in = naming.work_queue(SWARM, f"{stage.name}-in") if inputs is not None else None
    identity = Identity(
        swarm=SWARM,
        role=stage.name,
        kind=stage.kind,
        instance=f"{stage.name}-0",
        work_in=work_in,
        work_out=naming.work_routing_key(SWARM, f"{stage.name}-out"),
    )
    config = dict(stage.config)
    if inputs is None:  # the real scheduler, at a rate no tick waits for, stopping after the last item
        config["inputs"] = {"type": "SCHEDULER", "scheduler": {"ratePerSec": 1e9, "maxMessages": total}}
    BenchWorker.answers = MemoryHttp(_answer)
    BenchWorker.answers.sent = collections.deque(maxlen=1)  # type: ignore[assignment]  # keeps no history
    worker = BenchWorker(identity, config, transports, status_interval=3600)
    if inputs is not None:
        assert work_in is not None
        queue = broker.declare_queue(work_in).queue
        for body in inputs[:total]:
            queue.put_nowait(body)
    await worker.start()
    signal = env.signal("config-update", identity.scope, {**config, "enabled": True}, origin="bench")
    await transports.control.publish(
        naming.signal_key("config-update", SWARM, identity.role, identity.instance), signal.to_json()
    )
    try:
        await asyncio.wait_for(sink.done.wait(), timeout=600)
    finally:
        await worker.stop()
        await transports.close()
    if worker.stats.dropped or worker.stats.errors:
        raise SystemExit(f"{stage.name}: {worker.stats.dropped} dropped, {worker.stats.errors} errors: {worker.stats}")
    return sink


def _where(key: tuple[str, int, str]) -> str:
    filename, line, function = key
    if filename == "~":
        return function  # a builtin: {method 'get' of 'dict' objects}
    for marker in ("/src/", "/site-packages/", "/lib/python"):
        if marker in filename:
            filename = filename.split(marker, 1)[1]
            if marker == "/lib/python":  # the standard library: python3.11/copy.py -> copy.py
                filename = filename.split("/", 1)[-1]
            break
    return f"{filename}:{line}({function})"


def top_entries(profiler: cProfile.Profile, items: int) -> tuple[list[dict[str, Any]], float]:
    """The ``TOP`` entries by tottime, per item; and the total tottime per item (µs)."""
    stats: Any = pstats.Stats(profiler).stats
    rows = sorted(stats.items(), key=lambda kv: kv[1][2], reverse=True)
    total = sum(v[2] for v in stats.values()) / items * 1e6
    return [
        {
            "function": _where(key),
            "calls_per_item": round(nc / items, 2),
            "tottime_us": round(tt / items * 1e6, 3),
            "cumtime_us": round(ct / items * 1e6, 3),
        }
        for key, (_, nc, tt, ct, _) in rows[:TOP]
    ], total


async def bench(items: int, warmup: int, repeat: int) -> list[Stage]:
    stages = [
        Stage("generator", "generator", GENERATOR),
        Stage("request-builder", "request-builder", BUILDER),
        Stage("processor", "processor", PROCESSOR),
    ]
    inputs: list[bytes] | None = None
    for stage in stages:
        runs = []
        for _ in range(repeat):  # the best of a few: the machine's other load only ever adds time
            gc.collect()
            runs.append(await run_stage(stage, inputs, warmup, items, None))
        timed = min(runs, key=lambda run: run.cpu)
        stage.wall_us = min(run.wall for run in runs) / items * 1e6
        stage.cpu_us = timed.cpu / items * 1e6
        profiled = []
        for _ in range(repeat):  # the same for the profile: the run with the least profiled time is kept
            gc.collect()
            profiler = cProfile.Profile()
            await run_stage(stage, inputs, warmup, items, profiler)
            profiled.append(top_entries(profiler, items))
        stage.top, stage.total_tottime_us = min(profiled, key=lambda run: run[1])
        inputs = timed.bodies
    return stages


def report(stages: list[Stage], items: int) -> str:
    lines = [f"per-item costs, {items} items per stage (in process, no broker; HTTP answered by MemoryHttp)", ""]
    lines.append("best of the timed runs; the profiled run is separate and slower (cProfile's overhead)")
    lines.append(f"{'stage':<18}{'wall µs/item':>14}{'CPU µs/item':>14}")
    for s in stages:
        lines.append(f"{s.name:<18}{s.wall_us:>14.2f}{s.cpu_us:>14.2f}")
    for s in stages:
        lines += ["", f"{s.name}: top {TOP} by tottime (µs per item; profiled total {s.total_tottime_us:.1f} µs/item)"]
        lines.append(f"{'tottime':>9}{'cumtime':>9}{'calls':>7}  function")
        for row in s.top:
            lines.append(
                f"{row['tottime_us']:>9.2f}{row['cumtime_us']:>9.2f}{row['calls_per_item']:>7.2f}  {row['function']}"
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=20_000, help="items measured per stage (default 20000)")
    parser.add_argument("--warmup", type=int, default=500, help="items run first, not measured (default 500)")
    parser.add_argument("--repeat", type=int, default=3, help="timed and profiled runs per stage (default 3)")
    parser.add_argument("--json", type=Path, help="also write the figures to this file as JSON")
    args = parser.parse_args()
    if args.items < 1 or args.warmup < 1 or args.repeat < 1:
        parser.error("--items, --warmup and --repeat must be at least 1")
    stages = asyncio.run(bench(args.items, args.warmup, args.repeat))
    print(report(stages, args.items))
    if args.json is not None:
        document = {
            "items": args.items,
            "warmup": args.warmup,
            "repeat": args.repeat,
            "stages": {
                s.name: {"wall_us": round(s.wall_us, 3), "cpu_us": round(s.cpu_us, 3), "top": s.top} for s in stages
            },
        }
        args.json.write_text(json.dumps(document, indent=2) + "\n")


if __name__ == "__main__":
    main()
