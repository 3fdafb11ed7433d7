"""A TCP service to aim a swarm's ``tcp://`` endpoints at when you have no system under test at hand.

One mode per server (``--mode``):

    echo            writes back every byte it reads (ECHO and STREAMING calls)
    sink            reads and never answers (FIRE_FORGET calls)
    end-tag         reads up to the end tag (``--end-tag``, default a newline) and answers ``ACK <request>``,
                    ending with the tag (REQUEST_RESPONSE calls)
    length-prefix   reads one frame behind a two-byte big-endian length and answers one frame (LENGTH_PREFIX_2B
                    calls): an ISO 8583 request (four digits, e.g. ``0200...``) gets the response type (``0210...``)
                    with the rest as sent, anything else its own bytes

``--delay-ms`` delays every answer; ``--error-pct`` closes the connection instead of answering that share of
requests (the caller counts ``tcp-closed``). A request containing one of these words misbehaves on purpose, so
that a test or a demo can see each bad case on one server (and that the next request on the endpoint works):

    NO-END      end-tag: an answer without the end tag; length-prefix: a prefix promising more than follows
    TOO-BIG     an answer of ``BIG_ANSWER`` bytes (over the caller's usual maxBytes)
    CLOSE-MID   half an answer, then the connection closed
    BIG-FRAME   length-prefix: a prefix announcing 65535 bytes (over a small maxBytes), then ten of them

    python -m hivekeeper.local.demo_tcp --mode end-tag --port 9000
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import sys
from dataclasses import dataclass

MODES = ("echo", "sink", "end-tag", "length-prefix")
BIG_ANSWER = 1024 * 1024
MAX_REQUEST = 1024 * 1024
"""Bytes an end-tag request may have before the server gives up on it (and closes)."""


@dataclass
class TcpDemo:
    """What one server does: its mode, end tag, delay and share of requests answered by a close; ``answered``
    counts the answers it wrote (tests read it)."""

    mode: str = "end-tag"
    end_tag: bytes = b"\n"
    delay: float = 0.0
    error_pct: float = 0.0
    answered: int = 0

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Answer one connection's requests until the client closes it."""
        handler = {
            "echo": self._echo,
            "sink": self._sink,
            "end-tag": self._end_tag,
            "length-prefix": self._length_prefix,
        }[self.mode]
        try:
            while await handler(reader, writer):
                pass
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    async def _answer(self, writer: asyncio.StreamWriter, data: bytes) -> bool:
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.error_pct and random.random() * 100 < self.error_pct:
            return False  # the caller sees the connection close: tcp-closed
        writer.write(data)
        await writer.drain()
        self.answered += 1
        return True

    async def _echo(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        data = await reader.read(64 * 1024)
        return bool(data) and await self._answer(writer, data)

    async def _sink(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        return bool(await reader.read(64 * 1024))

    async def _end_tag(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        request = await reader.readuntil(self.end_tag)
        if b"NO-END" in request:
            return await self._answer(writer, b"ACK without its end tag")
        if b"TOO-BIG" in request:
            return await self._answer(writer, b"x" * BIG_ANSWER + self.end_tag)
        answer = b"ACK " + request
        if b"CLOSE-MID" in request:
            await self._answer(writer, answer[: len(answer) // 2])
            return False
        return await self._answer(writer, answer)

    async def _length_prefix(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        size = int.from_bytes(await reader.readexactly(2), "big")
        request = await reader.readexactly(size)
        if b"NO-END" in request:
            return await self._answer(writer, (100).to_bytes(2, "big") + b"only ten.")
        if b"BIG-FRAME" in request:
            return await self._answer(writer, (0xFFFF).to_bytes(2, "big") + b"0123456789")
        if b"TOO-BIG" in request:
            return await self._answer(writer, (0xFFFF).to_bytes(2, "big") + b"x" * 0xFFFF)
        answer = iso_response(request)
        framed = len(answer).to_bytes(2, "big") + answer
        if b"CLOSE-MID" in request:
            await self._answer(writer, framed[: len(framed) // 2])
            return False
        return await self._answer(writer, framed)


def iso_response(request: bytes) -> bytes:
    """The answer to an ISO 8583 request: its message type's response (``0200`` → ``0210``), the rest as sent."""
    mti = request[:4]
    if len(mti) == 4 and mti.isdigit() and int(chr(mti[2])) % 2 == 0:
        return mti[:2] + str(int(chr(mti[2])) + 1).encode() + mti[3:] + request[4:]
    return request


async def serve(host: str, port: int, demo: TcpDemo, *, ssl: object | None = None) -> asyncio.Server:
    """Serve ``demo`` on ``host:port`` (0: a free port); ``ssl`` an ``ssl.SSLContext`` for a tcps:// server."""
    return await asyncio.start_server(
        demo.serve,
        host,
        port,
        limit=MAX_REQUEST,
        ssl=ssl,
        reuse_address=True,
        backlog=1024,
    )


async def _main(args: argparse.Namespace) -> None:
    demo = TcpDemo(
        args.mode, args.end_tag.encode().decode("unicode_escape").encode(), args.delay_ms / 1000.0, args.error_pct
    )
    server = await serve(args.host, args.port, demo)
    port = server.sockets[0].getsockname()[1]
    print(f"demo TCP SUT ({args.mode}) listening on tcp://{args.host}:{port}", flush=True)
    async with server:
        await server.serve_forever()


def parser() -> argparse.ArgumentParser:
    parse = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parse.add_argument("--host", default="127.0.0.1")
    parse.add_argument("--port", type=int, default=9000, help="0 picks a free port (printed on start)")
    parse.add_argument("--mode", choices=MODES, default="end-tag")
    parse.add_argument("--end-tag", default="\\n", help="end-tag mode's terminator, backslash escapes allowed")
    parse.add_argument("--delay-ms", type=float, default=0.0)
    parse.add_argument("--error-pct", type=float, default=0.0, help="share of requests answered by a close")
    return parse


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if not args.end_tag:
        parser().error("--end-tag must not be empty")
    try:
        import uvloop

        uvloop.run(_main(args))
    except KeyboardInterrupt:
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
