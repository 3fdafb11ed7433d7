"""A real HTTP server on loopback whose answers are scripted per request path.

For testing our HTTP client against the awkward things real servers do: chunked bodies, bodies
delimited by closing the connection, resets, silence, keep-alive and ``Connection: close``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field


@dataclass
class ScriptedServer:
    port: int
    connections: int = 0
    hung_up: int = 0
    """Connections the client closed (or aborted) while the server waited for the next request."""
    requests: list[bytes] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


SLOW_SECONDS = 1.0
"""How long ``/slow`` takes to answer."""


def _ok(body: bytes, extra: bytes = b"") -> bytes:
    return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n%s\r\n%s" % (len(body), extra, body)


async def _handle(server: ScriptedServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:  # noqa: PLR0912 - one branch per scripted behaviour
    server.connections += 1
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            body = await reader.readexactly(length) if length else b""
            server.requests.append(head + body)
            path = head.split(b" ", 2)[1]
            if path == b"/chunked":
                writer.write(
                    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
                )
            elif path == b"/until-close":
                writer.write(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nstreamed until close")
                await writer.drain()
                writer.close()
                return
            elif path == b"/close":
                writer.write(_ok(b"bye", b"Connection: close\r\n"))
                await writer.drain()
                writer.close()
                return
            elif path == b"/reset":
                transport = writer.transport
                transport.abort()
                return
            elif path == b"/silence":
                await asyncio.Event().wait()  # never answers
            elif path == b"/half":
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly part")
                await writer.drain()
                writer.close()
                return
            elif path == b"/slow":
                await asyncio.sleep(SLOW_SECONDS)  # the scripted behaviour: an answer that takes a while
                writer.write(_ok(b"slow"))
            elif path == b"/status/503":
                writer.write(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 4\r\n\r\nbusy")
            elif path == b"/no-content":
                writer.write(b"HTTP/1.1 204 No Content\r\n\r\n")
            elif path.endswith(b"/echo"):
                writer.write(_ok(head + body))
            elif path == b"/big":
                writer.write(_ok(b"x" * 1_000_000))
            else:
                writer.write(_ok(b"ok", b"X-Server: scripted\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\n"))
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        server.hung_up += 1
        return
    except asyncio.CancelledError:
        return  # the test ended while a handler was waiting (e.g. /silence); nothing to report
    finally:
        writer.close()


@asynccontextmanager
async def scripted_server() -> AsyncIterator[ScriptedServer]:
    """The scripted server; at the end, connections still open (a client through a relay) are closed too."""
    state = ScriptedServer(port=0)
    writers: set[asyncio.StreamWriter] = set()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.add(writer)
        try:
            await _handle(state, reader, writer)
        finally:
            writers.discard(writer)

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    state.port = server.sockets[0].getsockname()[1]
    async with server:
        yield state
        server.close()
        for writer in list(writers):
            writer.close()
