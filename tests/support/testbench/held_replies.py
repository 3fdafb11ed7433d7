"""A loopback TCP proxy that can hold a server's replies back: commands reach the real server at once,
its answers wait until released. It makes "the server did it, the client has not heard yet" happen on
purpose, the moment a cancelled client call loses data."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator


class HeldReplies:
    """Forward ``127.0.0.1:<port>`` to ``upstream``; while :meth:`hold` is on, replies queue up."""

    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.port = 0
        self._open = asyncio.Event()
        self._open.set()
        self._server: asyncio.Server | None = None
        self._pipes: set[asyncio.Task[None]] = set()
        self.held_bytes = 0
        """Reply bytes that arrived from the server while replies were held (not yet forwarded)."""

    def hold(self) -> None:
        self._open.clear()

    def release(self) -> None:
        self._open.set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        self.release()
        if self._server is not None:
            self._server.close()
        for pipe in list(self._pipes):
            pipe.cancel()
        await asyncio.gather(*self._pipes, return_exceptions=True)

    async def _accept(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        server_r, server_w = await asyncio.open_connection(*self.upstream)
        up = asyncio.create_task(self._pipe(client_r, server_w, held=False))
        down = asyncio.create_task(self._pipe(server_r, client_w, held=True))
        self._pipes |= {up, down}
        up.add_done_callback(self._pipes.discard)
        down.add_done_callback(self._pipes.discard)

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, held: bool) -> None:
        try:
            while chunk := await reader.read(65536):
                if held and not self._open.is_set():
                    self.held_bytes += len(chunk)
                    await self._open.wait()
                    self.held_bytes -= len(chunk)
                writer.write(chunk)
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass  # either side hung up: so does the other
        finally:
            with contextlib.suppress(Exception):
                writer.close()


@contextlib.asynccontextmanager
async def held_replies(upstream_host: str, upstream_port: int) -> AsyncIterator[HeldReplies]:
    proxy = HeldReplies(upstream_host, upstream_port)
    await proxy.start()
    try:
        yield proxy
    finally:
        await proxy.close()
