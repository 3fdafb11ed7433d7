"""A TCP relay between the host's loopback and the node's network namespace, in one asyncio process.

``python -m testbench.relay --ports-file F --forward LISTEN=TARGET ...`` where each side is
``NAMESPACE/HOST:PORT`` (``-`` for the relay's own namespace), e.g.

    -/127.0.0.1:0=hivekeeper-ab12/127.0.0.1:6443        # tests and kubectl reach the API server
    hivekeeper-ab12/10.244.0.1:5672=-/127.0.0.1:40123    # pods reach the bench's RabbitMQ

A listen port of 0 lets the kernel choose; the relay binds every listener itself and only then writes
the ports it got to ``--ports-file`` (JSON, one entry per forward, written atomically), so nobody picks
a port that another process takes before it is bound. Each accepted connection gets its own connection
to the target and bytes are copied both ways until either side closes.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import socket
from dataclasses import dataclass
from pathlib import Path

from testbench import netns

CHUNK = 256 * 1024
CONNECT_TIMEOUT = 10.0


@dataclass(frozen=True)
class Endpoint:
    namespace: str | None
    host: str
    port: int

    @classmethod
    def parse(cls, text: str) -> Endpoint:
        space, _, address = text.partition("/")
        host, _, port = address.rpartition(":")
        if not space or not host or not port.isdigit():
            raise ValueError(f"{text!r} is not NAMESPACE/HOST:PORT (use - for this process's namespace)")
        return cls(None if space == "-" else space, host, int(port))


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(CHUNK):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        with contextlib.suppress(OSError, RuntimeError):
            if writer.can_write_eof():
                writer.write_eof()


async def _connect(target: Endpoint) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    sock = netns.socket_in(target.namespace)
    sock.setblocking(False)
    try:
        await asyncio.wait_for(
            asyncio.get_running_loop().sock_connect(sock, (target.host, target.port)), CONNECT_TIMEOUT
        )
    except BaseException:
        sock.close()
        raise
    return await asyncio.open_connection(sock=sock)


def _handler(target: Endpoint):  # type: ignore[no-untyped-def]
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            upstream_reader, upstream_writer = await _connect(target)
        except (OSError, TimeoutError):
            writer.close()
            return
        try:
            await asyncio.gather(_pipe(reader, upstream_writer), _pipe(upstream_reader, writer))
        finally:
            for w in (writer, upstream_writer):
                w.close()

    return handle


async def serve(forwards: list[tuple[Endpoint, Endpoint]], ports_file: Path) -> None:
    servers = []
    ports = []
    for listen, target in forwards:
        sock = netns.socket_in(listen.namespace)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((listen.host, listen.port))
        sock.listen(128)
        sock.setblocking(False)
        servers.append(await asyncio.start_server(_handler(target), sock=sock))
        ports.append(sock.getsockname()[1])
    partial = ports_file.with_suffix(".partial")
    partial.write_text(json.dumps(ports))
    os.replace(partial, ports_file)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    for server in servers:
        server.close()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m testbench.relay", description=__doc__.splitlines()[0])
    parser.add_argument("--ports-file", type=Path, required=True)
    parser.add_argument("--forward", action="append", required=True, metavar="LISTEN=TARGET")
    args = parser.parse_args()
    forwards = []
    for text in args.forward:
        listen, _, target = text.partition("=")
        forwards.append((Endpoint.parse(listen), Endpoint.parse(target)))
    asyncio.run(serve(forwards, args.ports_file))


if __name__ == "__main__":
    main()
