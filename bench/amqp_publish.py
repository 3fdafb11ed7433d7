"""Publish throughput of the lean work-plane client (decision 0003): confirmed publishes per second and
client CPU per publish, through the raw channel and through a worker's ``RabbitSink``.

    .venv/bin/python bench/amqp_publish.py [--url AMQP_URL] [--count 20000] [--in-flight 256] [--size 600]
    .venv/bin/python bench/amqp_publish.py --client-only

Without ``--url`` it starts a private RabbitMQ from the test bench. ``--client-only`` measures the client's
own CPU per confirmed publish with no broker at all (a scripted transport: 256 publishes, then one
``multiple`` ack), which is steadier than anything that shares the cores with RabbitMQ. Not a test:
nothing asserts; the numbers are for people (issue 13, item 4: the hot path before and after
blocked/confirm-timeout/return tracking).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "support"))
sys.path.insert(0, str(REPO / "src"))

from pamqp import commands, frame  # noqa: E402

from hivekeeper.protocol import naming  # noqa: E402
from hivekeeper.worker.outputs.rabbit import RabbitSink  # noqa: E402
from hivekeeper.worker.transports.rabbit.amqp.connection import AmqpConnection  # noqa: E402
from hivekeeper.worker.transports.rabbit.amqp.url import parse  # noqa: E402
from hivekeeper.worker.transports.rabbit.link import WorkLink  # noqa: E402


async def _pump(publish: Callable[[bytes], Awaitable[None]], body: bytes, count: int, in_flight: int) -> None:
    """``count`` publishes, ``in_flight`` at a time (as a worker's work loops do)."""
    left = count

    async def loop() -> None:
        nonlocal left
        while left > 0:
            left -= 1
            await publish(body)

    await asyncio.gather(*(loop() for _ in range(in_flight)))


async def _measure(name: str, publish: Callable[[bytes], Awaitable[None]], args: argparse.Namespace) -> None:
    body = b"x" * args.size
    await _pump(publish, body, min(2000, args.count), args.in_flight)  # warm-up
    wall, cpu = time.perf_counter(), time.process_time()
    await _pump(publish, body, args.count, args.in_flight)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    print(f"{name:12s} {args.count / wall:9.0f} publishes/s   {cpu / args.count * 1e6:6.1f} µs client CPU/publish")


async def bench(url: str, args: argparse.Namespace) -> None:
    swarm = f"bench-{uuid.uuid4().hex[:6]}"
    queue = naming.work_queue(swarm, "out")
    link = WorkLink(url, swarm)
    admin = await AmqpConnection.open(url)
    try:
        channel = await (await link.connection()).channel(confirms=True)
        await link.declare(channel, queue)
        exchange = naming.work_exchange(swarm)

        async def raw(body: bytes) -> None:
            await channel.publish(exchange, queue, body)

        sink = RabbitSink(link, queue)
        for _ in range(args.rounds):
            await _measure("channel", raw, args)
            await _measure("RabbitSink", sink.publish, args)
    finally:
        purge = await admin.channel()
        from pamqp import commands

        await purge.rpc(commands.Queue.Delete(queue=queue), commands.Queue.DeleteOk)
        await admin.close()
        await link.close()


class _Discard(asyncio.Transport):
    """Swallows what the client writes; answers channel.open and confirm.select at once."""

    _REPLIES = ((b"\x00\x14\x00\x0a", commands.Channel.OpenOk()), (b"\x00\x55\x00\x0a", commands.Confirm.SelectOk()))

    def __init__(self, connection: AmqpConnection) -> None:
        super().__init__()
        self.connection = connection

    def write(self, data: bytes | bytearray | memoryview) -> None:
        raw = bytes(data)
        for method, reply in self._REPLIES:
            if len(raw) > 11 and raw[7:11] == method:
                channel = int.from_bytes(raw[1:3], "big")
                self.connection.loop.call_soon(self.connection.data_received, frame.marshal(reply, channel))

    def is_closing(self) -> bool:
        return False

    def abort(self) -> None:
        return None


async def client_only(args: argparse.Namespace) -> None:
    loop = asyncio.get_running_loop()
    connection = AmqpConnection(loop, parse("amqp://guest:guest@127.0.0.1/?heartbeat=0"))
    connection.connection_made(_Discard(connection))
    start = commands.Connection.Start(server_properties={}, mechanisms="PLAIN", locales="en_US")
    for method in (start, commands.Connection.Tune(frame_max=131072), commands.Connection.OpenOk()):
        connection.data_received(frame.marshal(method, 0))
    channel = await connection.channel(confirms=True)
    body, rounds, tag = b"x" * args.size, max(args.count // args.in_flight, 1), 0
    for _ in range(args.rounds):
        cpu = time.process_time()
        for _ in range(rounds):
            futures = [channel.publish("hivekeeper.s.work", "hivekeeper.s.out", body) for _ in range(args.in_flight)]
            connection._flush()
            tag += args.in_flight
            connection.data_received(frame.marshal(commands.Basic.Ack(delivery_tag=tag, multiple=True), channel.number))
            await asyncio.gather(*futures)
        per = (time.process_time() - cpu) / (rounds * args.in_flight) * 1e6
        print(f"client only  {per:6.2f} µs client CPU per confirmed publish (no broker)")
    with contextlib.suppress(Exception):
        connection._lose("done")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", help="a RabbitMQ URL (default: start a private broker)")
    parser.add_argument("--count", type=int, default=20000)
    parser.add_argument("--in-flight", type=int, default=256)
    parser.add_argument("--size", type=int, default=600, help="body bytes")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--client-only", action="store_true", help="no broker: the client's own CPU per publish")
    args = parser.parse_args()
    import uvloop  # the worker's event loop (hivekeeper.worker.main)

    if args.client_only:
        uvloop.run(client_only(args))
        return

    if args.url:
        uvloop.run(bench(args.url, args))
        return
    from testbench.rabbitmq import start_rabbitmq

    with tempfile.TemporaryDirectory(prefix="amqp-bench-") as directory:
        broker = start_rabbitmq(Path(directory))
        try:
            uvloop.run(bench(broker.url, args))
        finally:
            broker.stop()


if __name__ == "__main__":
    main()
