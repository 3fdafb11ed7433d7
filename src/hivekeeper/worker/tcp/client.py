"""A TCP client on asyncio streams: connections pooled per endpoint and reused, one deadline per call.

A call's ``timeout`` bounds all of it: each connect attempt is also bounded by ``connect_timeout`` and the read
after the write by ``read_timeout``, both cut to what is left of the call's deadline. Only a connect that failed
is tried again (``max_retries``, 100 ms times the attempt apart, within the deadline): once a request was written it may
have been acted on (a payment), so it is never sent twice.

A connection goes back to the pool only when its reply ended exactly where the stream is (``reading``): a
failed call, a reply the cap cut short, bytes after a reply, a STREAMING read or a server that closed leave no
half-read connection behind. Idle connections the server closed (or wrote to) are dropped when taken.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections import deque
from dataclasses import dataclass, field
from time import perf_counter

from hivekeeper.worker.tcp import reading
from hivekeeper.worker.tcp_port import (
    TcpCall,
    TcpClosed,
    TcpConnectError,
    TcpEndpoint,
    TcpReply,
    TcpSettings,
    TcpTimeout,
)

RETRY_PAUSE = 0.1
"""Seconds before the first connect retry; the n-th waits n times as long (PocketHive's pacing)."""


_READERS = {"REQUEST_RESPONSE": reading.until_tag, "ECHO": reading.echo, "LENGTH_PREFIX_2B": reading.length_prefixed}
"""The framed behaviours' readers (FIRE_FORGET reads nothing, STREAMING has its own end)."""


@dataclass
class _Connection:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter

    def usable(self) -> bool:
        return not (self.writer.is_closing() or self.reader.at_eof() or reading.pending(self.reader))

    def abort(self) -> None:
        self.writer.transport.abort()


_PoolKey = tuple[TcpEndpoint, bool, str | None]
"""An endpoint and the TLS settings its connections were made with (verify, CA file)."""


@dataclass
class TcpClient:
    """Pooled TCP (and TLS) client. One per worker; ``close()`` it when the worker stops."""

    max_idle: int = 1024
    """Idle connections kept per endpoint (the role's in-flight calls bound how many are open)."""
    opened: int = 0
    """Connections opened so far (tests read it to see reuse)."""
    _idle: dict[_PoolKey, deque[_Connection]] = field(default_factory=dict, repr=False)
    _contexts: dict[tuple[bool, str | None], ssl.SSLContext] = field(default_factory=dict, repr=False)
    _closed: bool = field(default=False, repr=False)

    async def send(self, endpoint: TcpEndpoint, call: TcpCall, timeout: float, settings: TcpSettings) -> TcpReply:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        reading.check_echo_fits(call)
        wire = call.wire()
        key = (endpoint, settings.ssl_verify, settings.ca_file)
        connection = self._take(key)
        reused = connection is not None
        connect_seconds = 0.0
        if connection is None:
            started = perf_counter()
            connection = await self._connect(endpoint, settings, deadline, timeout)
            connect_seconds = perf_counter() - started
        try:
            data, clean = await self._exchange(connection, call, wire, settings, deadline, timeout)
        except BaseException:
            connection.abort()  # a failed or cancelled call leaves the stream mid-exchange: never reused
            raise
        if clean and settings.keep_alive and not self._closed:
            self._give_back(key, connection)
        else:
            connection.writer.close()
        return TcpReply(data, connect_seconds, reused)

    async def _exchange(
        self, connection: _Connection, call: TcpCall, wire: bytes, settings: TcpSettings, deadline: float, budget: float
    ) -> tuple[bytes, bool]:
        loop = asyncio.get_running_loop()
        writer = connection.writer
        try:
            writer.write(wire)
            if writer.transport.get_write_buffer_size():  # not all sent at once: wait, bounded, until it is
                async with asyncio.timeout_at(deadline):
                    await writer.drain()
        except TimeoutError as exc:
            raise TcpTimeout(
                f"writing the {len(wire):,}-byte request did not finish within {budget * 1000:.0f} ms (the "
                "whole-call deadline, timeoutMs): the server does not read"
            ) from exc
        except OSError as exc:
            raise TcpClosed(f"the connection broke while the request was written: {exc}") from exc
        if call.behavior == "FIRE_FORGET":
            return b"", connection.usable()
        read_deadline = min(deadline, loop.time() + settings.read_timeout)
        if call.behavior == "STREAMING":
            try:
                return await reading.stream_until(connection.reader, call, read_deadline)
            except TimeoutError as exc:
                raise self._read_timeout(call, settings, deadline, read_deadline, budget, "no byte arrived") from exc
        reader = _READERS[call.behavior]
        try:
            async with asyncio.timeout_at(read_deadline):
                return await reader(connection.reader, call)
        except TimeoutError as exc:
            what = f"the reply had not ended ({call.behavior})"
            raise self._read_timeout(call, settings, deadline, read_deadline, budget, what) from exc
        except OSError as exc:
            raise TcpClosed(f"the connection broke while the reply was read: {exc}") from exc

    @staticmethod
    def _read_timeout(
        call: TcpCall, settings: TcpSettings, deadline: float, read_deadline: float, budget: float, what: str
    ) -> TcpTimeout:
        if read_deadline < deadline:
            bound = f"{settings.read_timeout * 1000:.0f} ms (tcpTransport.readTimeoutMs)"
        else:
            bound = f"{budget * 1000:.0f} ms (the whole-call deadline, timeoutMs)"
        tag = f"; no end tag {call.end_tag!r} arrived" if call.behavior == "REQUEST_RESPONSE" else ""
        return TcpTimeout(f"no complete reply within {bound}: {what}{tag}")

    async def _connect(
        self, endpoint: TcpEndpoint, settings: TcpSettings, deadline: float, budget: float
    ) -> _Connection:
        loop = asyncio.get_running_loop()
        tls = self._context(settings) if endpoint.tls else None
        attempt = 0
        while True:
            left = deadline - loop.time()
            allowed = min(settings.connect_timeout, left)
            try:
                async with asyncio.timeout(allowed):
                    reader, writer = await asyncio.open_connection(
                        endpoint.host, endpoint.port, ssl=tls, server_hostname=endpoint.host if tls else None
                    )
                self.opened += 1
                return _Connection(reader, writer)
            except socket.gaierror as exc:
                raise TcpConnectError(f"cannot resolve {endpoint.host!r}: {exc.strerror or exc}") from exc
            except ssl.SSLError as exc:  # a certificate the settings refuse: trying again would not help
                raise TcpConnectError(f"TLS handshake with {endpoint.url} failed: {exc}") from exc
            except (OSError, TimeoutError) as exc:
                attempt += 1
                pause = RETRY_PAUSE * attempt
                if attempt > settings.max_retries or loop.time() + pause >= deadline:
                    raise self._connect_error(endpoint, settings, exc, attempt, allowed, budget) from exc
                await asyncio.sleep(pause)

    @staticmethod
    def _connect_error(
        endpoint: TcpEndpoint, settings: TcpSettings, exc: BaseException, attempts: int, allowed: float, budget: float
    ) -> TcpConnectError | TcpTimeout:
        tried = f"{attempts} attempt{'s' if attempts > 1 else ''}"
        if not isinstance(exc, TimeoutError):
            return TcpConnectError(f"cannot connect to {endpoint.url} ({tried}, tcpTransport.maxRetries): {exc}")
        if allowed < settings.connect_timeout:
            return TcpTimeout(
                f"connecting to {endpoint.url} had not finished within {budget * 1000:.0f} ms (the whole-call "
                f"deadline, timeoutMs; {tried})"
            )
        return TcpConnectError(
            f"connecting to {endpoint.url} took longer than {settings.connect_timeout * 1000:.0f} ms "
            f"(tcpTransport.connectTimeoutMs; {tried})"
        )

    def _context(self, settings: TcpSettings) -> ssl.SSLContext:
        key = (settings.ssl_verify, settings.ca_file)
        context = self._contexts.get(key)
        if context is None:
            try:
                context = ssl.create_default_context(cafile=settings.ca_file)
            except (OSError, ssl.SSLError) as exc:
                raise TcpConnectError(
                    f"cannot load tcpTransport.caFile {settings.ca_file!r}: {exc}; give a readable PEM file of the "
                    "CA that signed the server's certificate"
                ) from exc
            if not settings.ssl_verify:
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
            self._contexts[key] = context
        return context

    def _take(self, key: _PoolKey) -> _Connection | None:
        idle = self._idle.get(key)
        while idle:
            connection = idle.pop()
            if connection.usable():
                return connection
            connection.abort()
        return None

    def _give_back(self, key: _PoolKey, connection: _Connection) -> None:
        idle = self._idle.setdefault(key, deque())
        if len(idle) >= self.max_idle:
            connection.writer.close()
        else:
            idle.append(connection)

    def idle_connections(self) -> int:
        return sum(len(idle) for idle in self._idle.values())

    def close(self) -> None:
        """Close the idle connections now; calls in flight close theirs when they end."""
        self._closed = True
        for idle in self._idle.values():
            while idle:
                idle.pop().writer.close()
        self._idle.clear()
