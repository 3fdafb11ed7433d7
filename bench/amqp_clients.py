"""AMQP clients side by side: the client's own CPU per message for aio-pika, aiormq and our lean work-plane
client (``hivekeeper.worker.transports.rabbit.amqp``), plus pamqp and our codec alone (decision 0003).

    .venv/bin/python bench/amqp_clients.py [--count 10000] [--rounds 3] [--in-flight 256] [--size 600]
    .venv/bin/python bench/amqp_clients.py --url amqp://guest:guest@127.0.0.1:5672/   # a broker of yours
    make bench-amqp

Without ``--url`` it starts a private RabbitMQ on loopback from the test bench (free ports, its own data
directory, stopped at the end). Everything runs in this one process on uvloop (the worker's loop;
``--loop asyncio`` for the standard one), one client after the other, interleaved round by round so that
noise from other work on the machine spreads over all of them:

- publish + confirm: ``count`` persistent, ``mandatory`` publishes of ``size``-byte bodies to a durable
  queue through the default exchange, ``in-flight`` of them waiting for their confirm at any time;
- consume + ack: the same queue drained with ``prefetch = in-flight``, each delivery acknowledged one by one
  (the way a worker acknowledges an item when it is done with it);
- codec alone: encode one publish (method + content header + body frames) / decode one delivery (deliver
  + content header + body frames), with pamqp and with our ``codec`` (``bench/amqp_codecs.py``); no I/O.

"µs/msg" is CPU time of this process (``time.process_time``: user + system, all threads) per message, so
the broker's own work is not counted; RabbitMQ runs in other processes. Each figure printed is the median of
the rounds, with the best in brackets. Not a test: nothing asserts; the numbers are for people.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import importlib.metadata
import json
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "support"))
sys.path.insert(0, str(REPO / "src"))

from pamqp import commands  # noqa: E402

from hivekeeper.worker.transports.rabbit.amqp.connection import AmqpConnection  # noqa: E402

sys.path.insert(0, str(REPO / "bench"))
from amqp_codecs import CONTENT_TYPE, codec_alone  # noqa: E402

CLIENTS = ("aio-pika", "aiormq", "hivekeeper")
PHASES = ("publish", "consume")
WARM_UP = 1000


@dataclass
class Results:
    """µs of client CPU per message, one sample per round, keyed by (client, phase); and messages/s."""

    cpu: dict[tuple[str, str], list[float]] = field(default_factory=dict)
    rate: dict[tuple[str, str], list[float]] = field(default_factory=dict)

    def add(self, client: str, phase: str, count: int, cpu: float, wall: float) -> None:
        self.cpu.setdefault((client, phase), []).append(cpu / count * 1e6)
        self.rate.setdefault((client, phase), []).append(count / wall)


class Client:
    """One client's publish-with-confirm and consume-with-ack on one queue, as its own API has them."""

    def __init__(self, queue: str) -> None:
        self.queue = queue

    async def open(self, url: str, in_flight: int) -> None:
        """Connect, open the channel(s) with confirms and ``prefetch = in_flight``, declare the queue."""
        raise NotImplementedError

    def publisher(self, body: bytes) -> Callable[[], Awaitable[object]]:
        raise NotImplementedError

    async def consume(self, count: int) -> None:
        """Return once ``count`` deliveries were acknowledged (the consumer is cancelled then)."""
        raise NotImplementedError

    async def close(self) -> None:
        """Delete the queue and close the connection."""
        raise NotImplementedError


class AioPika(Client):
    async def open(self, url: str, in_flight: int) -> None:
        import aio_pika

        self.connection = await aio_pika.connect(url)
        self.channel = await self.connection.channel(publisher_confirms=True)
        await self.channel.set_qos(prefetch_count=in_flight)
        self.declared = await self.channel.declare_queue(self.queue, durable=True)

    def publisher(self, body: bytes) -> Callable[[], Awaitable[object]]:
        import aio_pika

        exchange, queue = self.channel.default_exchange, self.queue

        def publish() -> Awaitable[object]:
            # A new Message per publish, as a caller with a new item would build it (aio-pika stamps it).
            message = aio_pika.Message(body, content_type=CONTENT_TYPE, delivery_mode=aio_pika.DeliveryMode.PERSISTENT)
            return exchange.publish(message, routing_key=queue, mandatory=True)

        return publish

    async def consume(self, count: int) -> None:
        from aio_pika.abc import AbstractIncomingMessage

        done = _Countdown(count)

        async def on_message(message: AbstractIncomingMessage) -> None:
            await message.ack()
            done.tick()

        tag = await self.declared.consume(on_message)
        await done.wait()
        await self.declared.cancel(tag)

    async def close(self) -> None:
        await self.declared.delete(if_unused=False, if_empty=False)
        await self.connection.close()


class Aiormq(Client):
    async def open(self, url: str, in_flight: int) -> None:
        import aiormq

        self.connection = await aiormq.connect(url)
        self.channel = await self.connection.channel(publisher_confirms=True)
        await self.channel.basic_qos(prefetch_count=in_flight)
        await self.channel.queue_declare(self.queue, durable=True)

    def publisher(self, body: bytes) -> Callable[[], Awaitable[object]]:
        properties = commands.Basic.Properties(content_type=CONTENT_TYPE, delivery_mode=2)
        channel, queue = self.channel, self.queue

        def publish() -> Awaitable[object]:
            return channel.basic_publish(body, routing_key=queue, properties=properties, mandatory=True)

        return publish

    async def consume(self, count: int) -> None:
        from aiormq.abc import DeliveredMessage

        done = _Countdown(count)
        channel = self.channel

        async def on_message(message: DeliveredMessage) -> None:
            assert message.delivery_tag is not None
            await channel.basic_ack(message.delivery_tag)
            done.tick()

        ok = await channel.basic_consume(self.queue, on_message)
        await done.wait()
        assert ok.consumer_tag is not None
        await channel.basic_cancel(ok.consumer_tag)

    async def close(self) -> None:
        await self.channel.queue_delete(self.queue)
        await self.connection.close()


class Lean(Client):
    """The work plane's client as a worker opens it: one channel with confirms for its output, one with a
    prefetch for its input."""

    async def open(self, url: str, in_flight: int) -> None:
        self.connection = await AmqpConnection.open(url)
        self.publishing = await self.connection.channel(confirms=True)
        self.consuming = await self.connection.channel(prefetch=in_flight)
        await self.publishing.queue_declare(self.queue, durable=True)

    def publisher(self, body: bytes) -> Callable[[], Awaitable[object]]:
        channel, queue = self.publishing, self.queue

        def publish() -> Awaitable[object]:
            return channel.publish("", queue, body)  # persistent, mandatory, application/json

        return publish

    async def consume(self, count: int) -> None:
        done = _Countdown(count)
        channel = self.consuming

        def on_delivery(tag: int, redelivered: bool, body: bytes, delivery_count: int | None) -> None:
            channel.ack(tag)
            done.tick()

        tag = await channel.consume(self.queue, on_delivery)
        await done.wait()
        await channel.cancel(tag)

    async def close(self) -> None:
        await self.publishing.rpc(commands.Queue.Delete(queue=self.queue), commands.Queue.DeleteOk)
        await self.connection.close()


class _Countdown:
    """Set once ``count`` deliveries were acknowledged."""

    def __init__(self, count: int) -> None:
        self.left = count
        self.event = asyncio.Event()

    def tick(self) -> None:
        self.left -= 1
        if self.left <= 0:
            self.event.set()

    async def wait(self) -> None:
        await self.event.wait()


KINDS: dict[str, type[Client]] = {"aio-pika": AioPika, "aiormq": Aiormq, "hivekeeper": Lean}


async def _pump(publish: Callable[[], Awaitable[object]], count: int, in_flight: int) -> None:
    """``count`` publishes, ``in_flight`` waiting for their confirm at a time (as a worker's loops do)."""
    left = count

    async def loop() -> None:
        nonlocal left
        while left > 0:
            left -= 1
            await publish()

    await asyncio.gather(*(loop() for _ in range(in_flight)))


async def _timed(work: Coroutine[Any, Any, None]) -> tuple[float, float]:
    gc.collect()
    wall, cpu = time.perf_counter(), time.process_time()
    await work
    return time.process_time() - cpu, time.perf_counter() - wall


async def _one_round(name: str, url: str, args: argparse.Namespace, results: Results) -> None:
    client = KINDS[name](f"bench-amqp-{name}-{uuid.uuid4().hex[:6]}")
    await client.open(url, args.in_flight)
    try:
        publish = client.publisher(b"x" * args.size)
        await _pump(publish, WARM_UP, args.in_flight)
        await client.consume(WARM_UP)
        cpu, wall = await _timed(_pump(publish, args.count, args.in_flight))
        results.add(name, "publish", args.count, cpu, wall)
        cpu, wall = await _timed(client.consume(args.count))
        results.add(name, "consume", args.count, cpu, wall)
    finally:
        await client.close()


async def bench(url: str, args: argparse.Namespace) -> Results:
    results = Results()
    for round_ in range(args.rounds):
        for name in args.clients:
            await _one_round(name, url, args, results)
        for (name, phase), seconds in codec_alone(args.size, args.count).items():
            results.add(name, phase, args.count, *seconds)
        print(f"round {round_ + 1}/{args.rounds} done", file=sys.stderr)
    return results


def _version(distribution: str) -> str:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "?"


LABELS = {
    "aio-pika": f"aio-pika {_version('aio-pika')}",
    "aiormq": f"aiormq {_version('aiormq')} (aio-pika's engine)",
    "hivekeeper": "hivekeeper.worker.transports.rabbit.amqp (lean client)",
    "pamqp alone": f"pamqp {_version('pamqp')} alone: encode one publish / decode one delivery",
    "codec alone": "hivekeeper.worker.transports.rabbit.amqp.codec alone: the same",
}


def report(results: Results, args: argparse.Namespace) -> dict[str, Any]:
    def cell(key: tuple[str, str]) -> str:
        samples = results.cpu[key]
        return f"{statistics.median(samples):.1f} µs ({min(samples):.1f})"

    def rate(key: tuple[str, str]) -> str:
        return f"{statistics.median(results.rate[key]):,.0f}/s"

    print(
        f"\n{args.count} messages of {args.size} bytes per client and round, {args.in_flight} in flight, "
        f"{args.rounds} rounds, {args.loop}; client CPU per message, median (best)\n"
    )
    print("| client | publish + confirm | consume + ack |")
    print("|---|---:|---:|")
    rows = [*args.clients, "pamqp alone", "codec alone"]
    for name in rows:
        if name in CLIENTS:
            print(
                f"| {LABELS[name]} | {cell((name, 'publish'))}, {rate((name, 'publish'))} "
                f"| {cell((name, 'consume'))}, {rate((name, 'consume'))} |"
            )
        else:
            print(f"| {LABELS[name]} | {cell((name, 'publish'))} | {cell((name, 'consume'))} |")
    if "hivekeeper" in args.clients:
        print("\nratios to the lean client (median CPU per message):")
        ours = {phase: statistics.median(results.cpu[("hivekeeper", phase)]) for phase in PHASES}
        for name in rows:
            if name == "hivekeeper":
                continue
            parts = [f"{phase} {statistics.median(results.cpu[(name, phase)]) / ours[phase]:.2f}x" for phase in PHASES]
            print(f"  {name:12s} {'   '.join(parts)}")
    return {
        "count": args.count,
        "size": args.size,
        "in_flight": args.in_flight,
        "loop": args.loop,
        "cpu_us_per_message": {f"{name} {phase}": samples for (name, phase), samples in results.cpu.items()},
        "messages_per_second": {f"{name} {phase}": samples for (name, phase), samples in results.rate.items()},
    }


def _run(main: Coroutine[Any, Any, Results], loop: str) -> Results:
    if loop == "uvloop":
        import uvloop

        return uvloop.run(main)
    return asyncio.run(main)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", help="a RabbitMQ URL (default: start a private broker on loopback)")
    parser.add_argument("--count", type=int, default=10000, help="messages per client, phase and round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--in-flight", type=int, default=256)
    parser.add_argument("--size", type=int, default=600, help="body bytes")
    parser.add_argument("--clients", nargs="+", choices=CLIENTS, default=list(CLIENTS))
    parser.add_argument("--loop", choices=("uvloop", "asyncio"), default="uvloop")
    parser.add_argument("--json", type=Path, help="also write every sample to this file")
    args = parser.parse_args()

    if args.url:
        results = _run(bench(args.url, args), args.loop)
    else:
        from testbench.rabbitmq import start_rabbitmq

        with tempfile.TemporaryDirectory(prefix="amqp-clients-") as directory:
            broker = start_rabbitmq(Path(directory))
            try:
                results = _run(bench(broker.url, args), args.loop)
            finally:
                broker.stop()
    summary = report(results, args)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(summary, indent=2) + "\n")


if __name__ == "__main__":
    main()
