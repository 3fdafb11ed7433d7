"""A real HTTP server on loopback whose answers are scripted per request path.

For testing our HTTP client against the awkward things real servers do: chunked bodies, bodies
delimited by closing the connection, resets, silence, keep-alive and ``Connection: close``; and the
hostile ones: huge, endless and trickling bodies, informational (1xx) responses before the answer,
a keep-alive connection dropped after it took the next request, a slow TLS handshake.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field


@dataclass
class ScriptedServer:
    port: int
    connections: int = 0
    hung_up: int = 0
    """Connections the client closed (or aborted) while the server waited for the next request."""
    dropped: int = 0
    """Requests read and then answered by closing the connection (after ``/then-drop``)."""
    requests: list[bytes] = field(default_factory=list)
    tls: bool = False

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"


SLOW_SECONDS = 1.0
"""How long ``/slow`` takes to answer."""

HUGE_BYTES = 50 * 1024 * 1024
"""The body of ``/huge`` (framed by Content-Length), sent in ``SLICE`` pieces as a real server streams it."""
SLICE = 256 * 1024
TRICKLE_BYTES = 1000
"""``/trickle`` announces this many bytes and sends one every ``TRICKLE_SECONDS``."""
TRICKLE_SECONDS = 0.1
DROP_SLOWLY_SECONDS = 0.3
"""After ``/then-drop-slowly``, how long the next request on that connection waits before the drop."""
APART_SECONDS = 0.05
"""``/early-hints-apart``: the pause between the 103 and the 200, so they arrive in separate reads."""


def _ok(body: bytes, extra: bytes = b"") -> bytes:
    return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n%s\r\n%s" % (len(body), extra, body)


async def _huge(writer: asyncio.StreamWriter) -> None:
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % HUGE_BYTES)
    piece = b"h" * SLICE
    for _ in range(HUGE_BYTES // SLICE):
        writer.write(piece)
        await writer.drain()


async def _endless(writer: asyncio.StreamWriter) -> None:
    writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
    piece = b"%x\r\n%s\r\n" % (SLICE, b"e" * SLICE)
    while True:  # until the client gives up and closes (a ConnectionError in the handler)
        writer.write(piece)
        await writer.drain()


async def _trickle(writer: asyncio.StreamWriter) -> None:
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % TRICKLE_BYTES)
    for _ in range(TRICKLE_BYTES):
        writer.write(b"t")
        await writer.drain()
        await asyncio.sleep(TRICKLE_SECONDS)  # the scripted behaviour: one byte per interval


EARLY_HINTS = b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n"


async def _early_hints(writer: asyncio.StreamWriter) -> None:
    writer.write(EARLY_HINTS + _ok(b"final", b"X-Final: yes\r\n"))  # both in one read


async def _early_hints_apart(writer: asyncio.StreamWriter) -> None:
    writer.write(EARLY_HINTS)
    await writer.drain()
    await asyncio.sleep(APART_SECONDS)  # the scripted behaviour: the answer comes in a later read
    writer.write(_ok(b"final", b"X-Final: yes\r\n"))


async def _continue(writer: asyncio.StreamWriter) -> None:
    writer.write(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 102 Processing\r\nX-Progress: 1\r\n\r\n")
    writer.write(b"HTTP/1.1 201 Created\r\nContent-Length: 7\r\n\r\ncreated")


async def _endless_header(writer: asyncio.StreamWriter) -> None:
    writer.write(b"HTTP/1.1 200 OK\r\nX-Endless: ")
    piece = b"a" * SLICE
    while True:  # until the client gives up and closes
        writer.write(piece)
        await writer.drain()


async def _twice(writer: asyncio.StreamWriter) -> None:
    writer.write(_ok(b"first") + _ok(b"unasked"))  # a second answer nobody asked for, in the same read


HOSTILE: dict[bytes, Callable[[asyncio.StreamWriter], Awaitable[None]]] = {
    b"/endless-header": _endless_header,
    b"/twice": _twice,
    b"/huge": _huge,
    b"/endless": _endless,
    b"/trickle": _trickle,
    b"/early-hints": _early_hints,
    b"/early-hints-apart": _early_hints_apart,
    b"/continue": _continue,
}


async def _handle(server: ScriptedServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:  # noqa: PLR0911, PLR0912 - one branch per scripted behaviour
    server.connections += 1
    drop_next: float | None = None  # this connection drops the next request it reads, after that delay
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            body = await reader.readexactly(length) if length else b""
            server.requests.append(head + body)
            method, path, _ = head.split(b" ", 2)
            if drop_next is not None:
                # What a server's idle timeout does when it races the client's next request: the
                # request was read (and may have been acted on), then the connection is gone.
                await asyncio.sleep(drop_next)
                server.dropped += 1
                writer.transport.close()
                return
            if path in (b"/then-drop", b"/then-drop-slowly"):
                drop_next = DROP_SLOWLY_SECONDS if path == b"/then-drop-slowly" else 0.0
                writer.write(_ok(b"ok"))
            elif (hostile := HOSTILE.get(path)) is not None:
                await hostile(writer)
            elif method == b"HEAD":
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n")  # the length a GET would get
            elif path == b"/chunked":
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
            elif path == b"/garbage":  # not HTTP at all: another protocol's banner and binary noise
                writer.write(b"SSH-2.0-OpenSSH_9.2\r\n\x00\xff\xfe garbage \x01\x02")
                await writer.drain()
                writer.close()
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
    except (asyncio.IncompleteReadError, ConnectionError, ssl.SSLError):
        server.hung_up += 1
        return
    except asyncio.CancelledError:
        return  # the test ended while a handler was waiting (e.g. /silence); nothing to report
    finally:
        writer.close()


@asynccontextmanager
async def scripted_server(
    tls: ssl.SSLContext | None = None, handshake_delay: float = 0.0
) -> AsyncIterator[ScriptedServer]:
    """The scripted server; at the end, connections still open (a client through a relay) are closed too.

    With ``tls``, each connection waits ``handshake_delay`` before it answers the TLS handshake: the
    client is still connecting all that time.
    """
    state = ScriptedServer(port=0, tls=tls is not None)
    writers: set[asyncio.StreamWriter] = set()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.add(writer)
        try:
            if tls is not None:
                writer.transport.pause_reading()  # the ClientHello must wait in the socket for the TLS layer
                await asyncio.sleep(handshake_delay)  # the scripted behaviour: a slow handshake
                try:
                    await writer.start_tls(tls)
                except (ssl.SSLError, ConnectionError):
                    state.hung_up += 1
                    return
            await _handle(state, reader, writer)
        except asyncio.CancelledError:
            return  # the test ended during a slow handshake; nothing to report
        finally:
            writers.discard(writer)

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    state.port = server.sockets[0].getsockname()[1]
    async with server:
        yield state
        server.close()
        for writer in list(writers):
            writer.close()
