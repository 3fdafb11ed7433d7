"""A keep-alive connection pool per origin, and the request call the roles use.

Concurrency is bounded by the caller (the runtime's in-flight slots), so the pool only has to reuse
idle connections and open new ones on demand; ``max_idle`` bounds what it keeps around.

A request's timeout is one deadline for all of it: connecting, the one automatic retry on a fresh
connection, and the response to its last body byte. The retry (a reused connection the server had
closed before answering) is only automatic for idempotent methods (RFC 9110 §9.2.2): the server
may have acted on a POST before it dropped the connection, and a load test must not silently send
it twice.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from hivekeeper.api.http_limits import DEFAULT_MAX_RESPONSE_BYTES
from hivekeeper.worker.http.connection import DeadlineWatch, HeaderlessConnection, HttpConnection, TurnWrites
from hivekeeper.worker.http_port import (
    ConnectionDropped,
    HttpConnectError,
    HttpError,
    HttpNameError,
    HttpSettings,
    HttpTimeout,
    Origin,
    Response,
    is_idempotent,
    serialise_request,
)


class DroppedNotRetried(ConnectionDropped):
    """A reused connection was closed before a non-idempotent request got an answer; not retried."""


async def _lookup(loop: asyncio.AbstractEventLoop, host: str, port: int) -> list[str]:
    """The addresses of ``host`` (an IP literal as it is), resolved in a future a timeout cannot cancel.

    uvloop's ``create_connection`` leaves its own lookup's failure unretrieved when it is cancelled
    mid-lookup, and asyncio then logs "Future exception was never retrieved" once per connection
    attempt (a flood when the SUT's name does not resolve). Resolving here, shielded, with the
    outcome always retrieved, keeps the timeout and drops the noise.
    """
    try:
        ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        return [host]
    lookup = asyncio.ensure_future(RESOLVER["getaddrinfo"](loop, host, port))
    lookup.add_done_callback(_retrieve)
    infos = await asyncio.shield(lookup)
    addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    if not addresses:
        raise OSError(f"{host} has no address")
    return addresses


def _system_getaddrinfo(loop: asyncio.AbstractEventLoop, host: str, port: int) -> Awaitable[list[Any]]:
    return loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)


RESOLVER: dict[str, Callable[[asyncio.AbstractEventLoop, str, int], Awaitable[list[Any]]]] = {
    "getaddrinfo": _system_getaddrinfo
}
"""The name lookup (the loop's resolver); tests replace it so that no DNS query leaves the machine."""


def _retrieve(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()


@dataclass
class HttpClient:
    """Pooled HTTP/1.1 client. One per worker; ``close()`` it when the worker stops."""

    ssl_verify: bool = True
    keep_alive: bool = True
    connect_timeout: float = 5.0
    max_idle: int = 1024
    collect_headers: bool = True
    """Keep response headers; off when nobody reads them (processor without an output)."""
    tls: ssl.SSLContext | None = field(default=None, repr=False)
    """The TLS context of https connections, when given (a client certificate: ``worker.http.tls``)."""
    _idle: dict[Origin, deque[HttpConnection]] = field(default_factory=dict, repr=False)
    _ssl: ssl.SSLContext | None = field(default=None, repr=False)
    _watch: DeadlineWatch | None = field(default=None, repr=False)
    _writes: TurnWrites | None = field(default=None, repr=False)
    opened: int = 0
    _closed: bool = field(default=False, repr=False)

    @classmethod
    def of(cls, settings: HttpSettings) -> HttpClient:
        """A client with ``settings`` (the runtime builds one per distinct settings of a role's config)."""
        return cls(
            ssl_verify=settings.ssl_verify, keep_alive=settings.keep_alive, collect_headers=settings.collect_headers
        )

    @property
    def settings(self) -> HttpSettings:
        return HttpSettings(self.ssl_verify, self.keep_alive, self.collect_headers)

    def _ssl_context(self) -> ssl.SSLContext:
        if self.tls is not None:
            return self.tls
        if self._ssl is None:
            context = ssl.create_default_context()
            if not self.ssl_verify:
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
            self._ssl = context
        return self._ssl

    async def _connect(self, origin: Origin, deadline: float, budget: float) -> HttpConnection:
        loop = asyncio.get_running_loop()
        tls = self._ssl_context() if origin.scheme == "https" else None
        left = deadline - loop.time()
        allowed = min(self.connect_timeout, left)
        try:
            async with asyncio.timeout(allowed):
                factory = HttpConnection if self.collect_headers else HeaderlessConnection
                watch = self._watch_for(loop)
                writes = self._writes_for(loop)
                addresses = await _lookup(loop, origin.host, origin.port)
                for index, address in enumerate(addresses):  # in the resolver's order, as create_connection
                    try:
                        _, protocol = await loop.create_connection(
                            lambda: factory(loop, watch, writes),
                            address,
                            origin.port,
                            ssl=tls,
                            server_hostname=origin.host if tls else None,
                        )
                        break
                    except OSError:
                        if index == len(addresses) - 1:
                            raise
        except TimeoutError as exc:
            if allowed < self.connect_timeout:
                raise HttpTimeout(
                    f"no complete response within {budget * 1000:.0f} ms (the whole-request deadline, timeoutMs): "
                    f"connecting to {origin.host}:{origin.port} had not finished"
                ) from exc
            raise HttpTimeout(
                f"connecting to {origin.host}:{origin.port} took longer than "
                f"{self.connect_timeout * 1000:.0f} ms (the client's connect timeout)"
            ) from exc
        except socket.gaierror as exc:
            raise HttpNameError(f"cannot resolve {origin.host!r}: {exc.strerror or exc}") from exc
        except (OSError, ssl.SSLError) as exc:
            raise HttpConnectError(f"cannot connect to {origin.host}:{origin.port}: {exc}") from exc
        self.opened += 1
        return protocol

    def _watch_for(self, loop: asyncio.AbstractEventLoop) -> DeadlineWatch:
        if self._watch is None:
            self._watch = DeadlineWatch(loop)
        return self._watch

    def _writes_for(self, loop: asyncio.AbstractEventLoop) -> TurnWrites:
        if self._writes is None:
            self._writes = TurnWrites(loop)
        return self._writes

    def _take_idle(self, origin: Origin) -> HttpConnection | None:
        idle = self._idle.get(origin)
        while idle:
            connection = idle.pop()
            if not connection.closed:
                return connection
        return None

    def _give_back(self, origin: Origin, connection: HttpConnection, response: Response) -> None:
        if not (self.keep_alive and response.keep_alive) or connection.closed or self._closed:
            connection.close()
            return
        idle = self._idle.get(origin)
        if idle is None:
            idle = self._idle[origin] = deque()
        if len(idle) >= self.max_idle:
            connection.close()
        else:
            idle.append(connection)

    async def request(
        self,
        origin: Origin,
        method: str,
        target: str,
        headers: dict[str, str],
        body: bytes | None,
        timeout: float,
        limit: int = DEFAULT_MAX_RESPONSE_BYTES,
    ) -> Response:
        """Send one request and return the complete response (any status is a response)."""
        if not self.keep_alive:
            headers = {**headers, "Connection": "close"}
        raw = serialise_request(method, target, origin.host_header, headers, body)
        return await self.send(
            origin, raw, timeout, head=method == "HEAD", idempotent=is_idempotent(method), limit=limit
        )

    async def send(
        self,
        origin: Origin,
        raw: bytes,
        timeout: float,
        *,
        head: bool = False,
        idempotent: bool = False,
        limit: int = DEFAULT_MAX_RESPONSE_BYTES,
    ) -> Response:
        """Send an already serialised request (the processor caches literal requests as bytes).

        ``timeout`` covers the whole request; at most ``limit`` body bytes are kept. A reused
        keep-alive connection that the server had already closed is retried once on a fresh
        connection, with what is left of the deadline, when ``idempotent``; otherwise that is a
        :class:`DroppedNotRetried` error (the default: a caller must say a retry is safe).
        """
        # A caller cancelled mid-request (a stopping worker) aborts the connection: it is half-way through
        # an exchange and can never be reused, nor left open. (Inline: try blocks cost nothing here.)
        deadline = asyncio.get_running_loop().time() + timeout
        connection = self._take_idle(origin)
        if connection is not None:
            try:
                response = await connection.send(raw, deadline, timeout, limit, head)
            except ConnectionDropped as exc:
                if not idempotent:
                    raise _not_retried(raw) from exc
                connection = None
            except asyncio.CancelledError:
                connection.abort()
                raise
            else:
                self._give_back(origin, connection, response)
                return response
        connection = await self._connect(origin, deadline, timeout)
        try:
            response = await connection.send(raw, deadline, timeout, limit, head)
        except asyncio.CancelledError:
            connection.abort()
            raise
        self._give_back(origin, connection, response)
        return response

    def idle_connections(self) -> int:
        return sum(len(idle) for idle in self._idle.values())

    def close(self) -> None:
        """Close the idle connections now; those with a request in flight close when it ends (a config
        change that replaces the client lets running requests finish on their connections)."""
        self._closed = True
        for idle in self._idle.values():
            while idle:
                idle.pop().close()
        self._idle.clear()


def _not_retried(raw: bytes) -> HttpError:
    method = raw[: raw.find(b" ")].decode("latin-1")
    return DroppedNotRetried(
        f"the server closed a reused keep-alive connection before answering; {method} is not idempotent "
        "(RFC 9110 §9.2.2), so it was not retried: the server may have acted on it. Use keepAlive: false "
        "or a server keep-alive timeout longer than the gaps between requests to avoid this"
    )
