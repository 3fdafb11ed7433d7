"""A small, fast HTTP service to aim a swarm at when you have no system under test at hand.

It pretends to be a cards API (the quickstart scenario): ``GET /cards/{id}/balance``,
``POST /cards/{id}/topup``, ``POST /customers`` and ``GET /health``; anything else is a 404. It speaks
HTTP/1.1 with keep-alive on ``asyncio.Protocol`` + httptools, so that on a laptop the swarm, not the
demo service, is the bottleneck. ``--delay-ms`` adds server-side latency, ``--error-pct`` answers a
share of requests with 503, to see errors in the progress view.

    python -m hivekeeper.local.demo_sut --port 8080
"""

from __future__ import annotations

import argparse
import asyncio
import random
import re
import sys
from typing import cast

import httptools
import orjson

_BALANCE = re.compile(rb"^/cards/([^/]+)/balance$")
_TOPUP = re.compile(rb"^/cards/([^/]+)/topup$")


class DemoHandler(asyncio.Protocol):
    def __init__(self, delay: float, error_pct: float) -> None:
        self._delay = delay
        self._error_pct = error_pct
        self._parser = httptools.HttpRequestParser(self)
        self._transport: asyncio.Transport | None = None
        self._url = b""
        self._body: list[bytes] = []
        self._ids = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError:
            self._write(400, b'{"error":"malformed request"}', keep_alive=False)

    def on_url(self, url: bytes) -> None:
        self._url += url

    def on_body(self, body: bytes) -> None:
        self._body.append(body)

    def on_message_complete(self) -> None:
        method = self._parser.get_method()
        path = self._url.split(b"?", 1)[0]
        keep_alive = bool(self._parser.should_keep_alive())
        body = b"".join(self._body)
        self._url, self._body = b"", []
        status, payload = self._route(method, path, body)
        if self._error_pct and random.random() * 100 < self._error_pct:
            status, payload = 503, b'{"error":"injected failure"}'
        if self._delay:
            asyncio.get_running_loop().call_later(self._delay, self._write, status, payload, keep_alive)
        else:
            self._write(status, payload, keep_alive)

    def _route(self, method: bytes, path: bytes, body: bytes) -> tuple[int, bytes]:
        if path == b"/health":
            return 200, b'{"status":"ok"}'
        if method == b"GET" and (m := _BALANCE.match(path)):
            card = m.group(1).decode()
            return 200, orjson.dumps({"cardId": card, "balance": 1000 + len(card) * 7, "currency": "EUR"})
        if method == b"POST" and (m := _TOPUP.match(path)):
            try:
                amount = orjson.loads(body or b"{}").get("amount", 0)
            except (orjson.JSONDecodeError, AttributeError):
                return 400, b'{"error":"body must be JSON like {\\"amount\\": 10}"}'
            return 200, orjson.dumps({"cardId": m.group(1).decode(), "toppedUp": amount})
        if method == b"POST" and path == b"/customers":
            self._ids += 1
            return 201, orjson.dumps({"id": f"cust-{self._ids}"})
        return 404, b'{"error":"no such endpoint"}'

    def _write(self, status: int, payload: bytes, keep_alive: bool) -> None:
        transport = self._transport
        if transport is None or transport.is_closing():
            return
        reason = {200: b"OK", 201: b"Created", 400: b"Bad Request", 404: b"Not Found", 503: b"Service Unavailable"}.get(
            status, b"OK"
        )
        head = b"HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n%s\r\n" % (
            status,
            reason,
            len(payload),
            b"" if keep_alive else b"Connection: close\r\n",
        )
        transport.write(head + payload)
        if not keep_alive:
            transport.close()


async def serve(host: str, port: int, delay_ms: float = 0.0, error_pct: float = 0.0) -> asyncio.Server:
    loop = asyncio.get_running_loop()
    return await loop.create_server(
        lambda: DemoHandler(delay_ms / 1000.0, error_pct), host, port, reuse_address=True, backlog=1024
    )


async def _main(args: argparse.Namespace) -> None:
    server = await serve(args.host, args.port, args.delay_ms, args.error_pct)
    port = server.sockets[0].getsockname()[1]
    print(f"demo SUT listening on http://{args.host}:{port}", flush=True)
    async with server:
        await server.serve_forever()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080, help="0 picks a free port (printed on start)")
    parser.add_argument("--delay-ms", type=float, default=0.0)
    parser.add_argument("--error-pct", type=float, default=0.0)
    args = parser.parse_args(argv)
    try:
        import uvloop

        uvloop.run(_main(args))
    except KeyboardInterrupt:
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
