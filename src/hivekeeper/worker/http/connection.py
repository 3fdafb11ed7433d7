"""One HTTP/1.1 keep-alive connection on ``asyncio.Protocol`` with the httptools response parser.

Why not aiohttp or httpx: measured on this hardware (docs/decisions/0001-http-client.md), a lean
protocol with httptools on uvloop spends ~10 µs of CPU per request where aiohttp spends ~110 µs and
httpx's pool degrades with concurrency. The processor's request rate *is* the product's headline
number, so the hot path is ours: one object per connection, one future per request, no per-request
tasks or context managers.

A connection carries one request at a time (no pipelining). Each request has an absolute deadline
(set by the client, so that connecting and a reconnect spend the same budget); reaching it aborts
the transport, so a server that never answers, or never stops answering, cannot hold a slot
forever. A timer per request costs ~3 µs on uvloop (a libuv timer each), so requests with budgets
of ``PRECISE_BELOW`` or more are instead watched by one sweep every ``SWEEP_INTERVAL`` (they may
overrun by at most that much); shorter budgets keep an exact timer.

Memory per request is bounded: at most ``limit`` body bytes are kept, the rest is parsed and
dropped as it arrives (so a framed body still ends cleanly and the connection stays reusable), and
response heads (informational ones included) may not exceed ``MAX_HEAD_BYTES``.
"""

from __future__ import annotations

import asyncio
from typing import cast

import httptools

from hivekeeper.errors import HivekeeperError
from hivekeeper.worker.http_port import ConnectionDropped, HttpError, HttpProtocolError, HttpTimeout, Response

PRECISE_BELOW = 0.2
SWEEP_INTERVAL = 0.01
MAX_HEAD_BYTES = 1024 * 1024
"""Bytes a response may send before its final header block ends (status lines, headers, 1xx
responses): an endless header is as much a memory bomb as an endless body. Go's client allows
10 MB, curl 300 kB; real heads are a few kB."""


class DeadlineWatch:
    """One periodic sweep that times out every watched connection past its deadline."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._watched: set[HttpConnection] = set()
        self._handle: asyncio.TimerHandle | None = None

    def add(self, connection: HttpConnection) -> None:
        self._watched.add(connection)
        if self._handle is None:
            self._handle = self._loop.call_later(SWEEP_INTERVAL, self._sweep)

    def discard(self, connection: HttpConnection) -> None:
        self._watched.discard(connection)

    def _sweep(self) -> None:
        now = self._loop.time()
        expired = [c for c in self._watched if c.deadline <= now]
        for connection in expired:
            self._watched.discard(connection)
            connection.expire()
        self._handle = self._loop.call_later(SWEEP_INTERVAL, self._sweep) if self._watched else None


class TurnWrites:
    """The requests written in one event-loop turn, handed to their sockets together at the end of the turn.

    Why: a request written while the server sleeps costs a wake-up (on a VM, an inter-processor interrupt), paid
    by the writer inside ``write``. Work loops build their requests one after another, each a few µs of CPU apart;
    written as they are built, the server often finishes one and sleeps again before the next, and every write
    wakes it. Written back to back, the first write wakes it and the rest land while it is awake. Measured on this
    2-core machine (issue 19): a processor fed from a queue spent 38.5 µs of CPU per request against nginx, 26.7
    with this; direct mode went from 72k to 78k requests/s. The wait is one loop turn (µs), inside the request's
    measured time."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._pending: list[tuple[asyncio.Transport, bytes]] = []

    def write(self, transport: asyncio.Transport, data: bytes) -> None:
        pending = self._pending
        pending.append((transport, data))
        if len(pending) == 1:
            self._loop.call_soon(self._flush)

    def _flush(self) -> None:
        pending, self._pending = self._pending, []
        for transport, data in pending:
            if not transport.is_closing():  # closed meanwhile: connection_lost fails the request
                transport.write(data)


class _Unsolicited(HivekeeperError):
    """Raised inside the parser to stop it at a response nobody asked for."""


class HttpConnection(asyncio.Protocol):
    """Client side of one TCP (or TLS) connection; ``send`` one request and await its response."""

    _keeps_headers = True

    def __init__(
        self, loop: asyncio.AbstractEventLoop, watch: DeadlineWatch | None = None, writes: TurnWrites | None = None
    ) -> None:
        self._loop = loop
        self._watch = watch
        self._writes = writes
        self.deadline = 0.0
        self._budget = 0.0
        self._transport: asyncio.Transport | None = None
        self._parser = httptools.HttpResponseParser(self)
        self._waiter: asyncio.Future[Response] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._headers: list[tuple[bytes, bytes]] = []
        self._body: list[bytes] = []
        self._limit = 0
        self._received = 0
        self._head_bytes = 0
        self._got_bytes = False
        self._head = False
        self._headers_done = False
        self._status = 0
        self.closed = False
        self.used = 0

    # -- asyncio.Protocol ---------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement the interface without subclassing asyncio.Transport.
        self._transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        if self._waiter is None:
            # Bytes nobody asked for (a second response, a body after a HEAD's head): the stream
            # is out of step, and the next request on it would read them as its answer.
            self.abort()
            return
        self._got_bytes = True
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._fail(HttpProtocolError("the server switched protocols; only HTTP/1.1 is supported"))
        except httptools.HttpParserError as exc:
            if isinstance(exc.__context__, _Unsolicited):
                self.abort()  # the request it followed was answered; only the connection is lost
            else:
                self._fail(HttpProtocolError(f"malformed HTTP response: {exc}"))
        # Counted after parsing: a complete answer (the usual read) skips this. The parser keeps a
        # header it has not finished in memory, so only this count bounds an endless one.
        if self._waiter is not None and not self._headers_done:
            self._head_bytes += len(data)
            if self._head_bytes > MAX_HEAD_BYTES:
                self._fail(
                    HttpProtocolError(
                        f"the response head exceeded {MAX_HEAD_BYTES:,} bytes before its headers ended "
                        "(the client's fixed head limit); the server sends an endless or huge header"
                    )
                )

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        waiter = self._waiter
        if waiter is None or waiter.done():
            return
        if self._headers_done and not self._parser.should_keep_alive():
            # A body delimited by the end of the connection (no length, not chunked).
            self._finish(keep_alive=False)
        elif not self._got_bytes:
            self._fail(ConnectionDropped("the connection was closed before the response started"))
        else:
            self._fail(HttpProtocolError(f"the connection was closed mid-response ({exc or 'EOF'})"))

    # -- httptools callbacks ------------------------------------------------------------------
    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name, value))

    def on_headers_complete(self) -> None:
        if self._waiter is None:
            raise _Unsolicited  # a further response in the same read: stop parsing it
        status = int(self._parser.get_status_code())
        if status < 200:
            self._informational(status)
            return
        self._headers_done = True
        self._status = status
        if self._head:
            # The head is the whole answer, but this parser expects the body its Content-Length
            # announces; later reads go to a new one (this one only finishes the current read).
            keep_alive = bool(self._parser.should_keep_alive())
            self._parser = httptools.HttpResponseParser(self)
            self._finish(keep_alive=keep_alive)

    def on_body(self, body: bytes) -> None:
        # Keep up to the limit, count the rest and let it go: the parser still frames the body,
        # so a long answer ends cleanly and the connection can be reused.
        received = self._received = self._received + len(body)
        if received <= self._limit:
            self._body.append(body)
        else:
            room = self._limit - (received - len(body))
            if room > 0:
                self._body.append(body[:room])

    def on_message_complete(self) -> None:
        if self._headers_done and not self._head:
            self._finish(keep_alive=bool(self._parser.should_keep_alive()))
        # Not done: an informational (1xx) response ended; the final one follows on this parser.

    def _informational(self, status: int) -> None:
        """A 1xx response (100 Continue, 103 Early Hints): not the answer. RFC 9110 §15.2: a client
        must accept any number of them before the final response; their headers are dropped."""
        if status == 101:
            self._fail(HttpProtocolError("the server switched protocols (101); only HTTP/1.1 is supported"))
            raise _Unsolicited  # stop parsing: what follows is another protocol
        self._headers.clear()

    # -- requests -----------------------------------------------------------------------------
    def send(
        self, raw_request: bytes, deadline: float, budget: float, limit: int, head: bool = False
    ) -> asyncio.Future[Response]:
        """Write a serialised request; the future resolves with the response or an :class:`HttpError`.

        ``deadline`` is absolute (loop time) and ``budget`` the whole request's timeout (it picks the
        clock and names the bound in errors); at most ``limit`` body bytes are kept.
        """
        assert self._transport is not None, "send() before the connection was made"
        assert self._waiter is None, "one request at a time per connection"
        self._waiter = waiter = self._loop.create_future()
        self._body = []
        self._limit = limit
        self._received = 0
        self._head_bytes = 0
        self._got_bytes = False
        self._headers_done = False
        self._head = head
        self.used += 1
        self._budget = budget
        self.deadline = deadline
        if self._watch is not None and budget >= PRECISE_BELOW:
            self._watch.add(self)
        else:
            self._timer = self._loop.call_at(deadline, self.expire)
        if self._writes is not None:
            self._writes.write(self._transport, raw_request)
        else:
            self._transport.write(raw_request)
        return waiter

    def close(self) -> None:
        self.closed = True
        if self._transport is not None:
            self._transport.close()

    def abort(self) -> None:
        self.closed = True
        if self._transport is not None:
            self._transport.abort()

    def expire(self) -> None:
        """The request's deadline passed (its timer, or the deadline watch)."""
        self._timer = None
        self._fail(self._timeout_error())

    def _timeout_error(self) -> HttpTimeout:
        if not self._got_bytes:
            where = "no response byte arrived"
        elif not self._headers_done:
            where = "the response headers had not ended"
        else:
            where = f"status {self._status} arrived, but its body had not ended after {self._received:,} bytes"
            if self._received > self._limit:
                where += f" (only the first {self._limit:,} were kept, maxResponseBytes)"
        error = HttpTimeout(
            f"no complete response within {self._budget * 1000:.0f} ms (the whole-request deadline, timeoutMs): {where}"
        )
        error.truncated = self._received > self._limit
        return error

    def _finish(self, *, keep_alive: bool) -> None:
        waiter = self._waiter
        self._waiter = None
        self._stop_clock()
        if waiter is not None and not waiter.done():
            parts = self._body
            body = parts[0] if len(parts) == 1 else b"".join(parts)
            waiter.set_result(Response(self._status, self._headers, body, keep_alive, self._received))
            if self._keeps_headers:
                self._headers = []  # the response owns that list now
        if not keep_alive:
            self.close()

    def _stop_clock(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        elif self._watch is not None:
            self._watch.discard(self)

    def _fail(self, error: HttpError) -> None:
        waiter = self._waiter
        self._waiter = None
        self._stop_clock()
        if waiter is not None and not waiter.done():
            waiter.set_exception(error)
        self.abort()


class HeaderlessConnection(HttpConnection):
    """A connection that does not keep response headers (the processor's direct mode needs none).

    httptools only calls callbacks that exist, so removing ``on_header`` saves a Python call per
    header line on the hottest path.
    """

    on_header = None  # type: ignore[assignment]
    _keeps_headers = False
