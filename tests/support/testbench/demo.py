"""The stateful demo cards API (``hivekeeper.local.demo_sut``) on a free loopback port, for a test's length."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from hivekeeper.local import demo_sut


@dataclass
class DemoService:
    url: str
    state: demo_sut.DemoState
    """Customers, accounts and cards it holds, and the calls it counted."""


@asynccontextmanager
async def demo_service(delay_ms: float = 0.0) -> AsyncIterator[DemoService]:
    state = demo_sut.DemoState()
    server = await demo_sut.serve("127.0.0.1", 0, delay_ms=delay_ms, state=state)
    try:
        yield DemoService(f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}", state)
    finally:
        server.close()
        await server.wait_closed()
