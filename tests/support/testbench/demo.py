"""The stateful demo cards API (``hivekeeper.local.demo_sut``) on a free loopback port, for a test's length."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from hivekeeper.local import demo_auth, demo_sut


@dataclass
class DemoService:
    url: str
    state: demo_sut.DemoState
    """Customers, accounts and cards it holds, and the calls it counted."""


@asynccontextmanager
async def demo_service(delay_ms: float = 0.0, token_ttl: float = 2.0) -> AsyncIterator[DemoService]:
    """The demo API; at the end its open connections are closed too (clients such as worker pods, through a
    relay, may still hold some, and Python 3.11's ``Server.close`` leaves them open)."""
    state = demo_sut.DemoState(auth=demo_auth.DemoAuth(token_ttl))
    open_transports: set[asyncio.BaseTransport] = set()

    class Tracked(demo_sut.DemoHandler):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            open_transports.add(transport)
            super().connection_made(transport)

        def connection_lost(self, exc: Exception | None) -> None:
            open_transports.discard(self._transport) if self._transport else None

    server = await asyncio.get_running_loop().create_server(
        lambda: Tracked(delay_ms / 1000.0, 0.0, state), "127.0.0.1", 0
    )
    try:
        yield DemoService(f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}", state)
    finally:
        server.close()
        for transport in list(open_transports):
            transport.close()
        await server.wait_closed()
