"""The TCP port: what the processor needs from a TCP client, and nothing more.

The processor builds a :class:`TcpCall` (the bytes to write, how to read the reply, the cap on what is read) for
a :class:`TcpEndpoint` (``tcp://host:port`` or ``tcps://host:port``) and hands it to a :class:`TcpPort`; it gets
a :class:`TcpReply` or a :class:`TcpError` whose ``kind`` names what went wrong (every kind is counted apart).
The pooled client (``worker.tcp.client``) implements it on asyncio streams; ``worker.tcp.memory`` is its twin
for unit tests. Pure: no I/O library.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlsplit

from hivekeeper.api.tcp import FRAME_LIMIT, TcpBehavior
from hivekeeper.errors import InvalidInput, LimitExceeded, Unavailable

SCHEMES = ("tcp", "tcps")


def is_tcp_url(url: str) -> bool:
    """Whether ``url`` names a TCP endpoint (``tcp://`` or ``tcps://``)."""
    return url.startswith(("tcp://", "tcps://"))


class TcpEndpointError(InvalidInput, ValueError):
    """A ``tcp://`` or ``tcps://`` URL the client cannot use."""


@dataclass(frozen=True)
class TcpEndpoint:
    """Where TCP calls go: host and port, and whether the connection is TLS (``tcps://``)."""

    host: str
    port: int
    tls: bool = False

    @property
    def url(self) -> str:
        return f"{'tcps' if self.tls else 'tcp'}://{self.host}:{self.port}"

    @classmethod
    def parse(cls, url: str) -> TcpEndpoint:
        parts = urlsplit(url)
        if parts.scheme not in SCHEMES:
            raise TcpEndpointError(f"URL {url!r} must start with tcp:// or tcps://")
        if not parts.hostname:
            raise TcpEndpointError(f"URL {url!r} has no host; write tcp://host:port")
        try:
            port = parts.port
        except ValueError as exc:
            raise TcpEndpointError(f"URL {url!r} has an invalid port; write tcp://host:port") from exc
        if port is None:
            raise TcpEndpointError(f"URL {url!r} has no port (TCP has no default one); write tcp://host:port")
        if parts.path not in ("", "/") or parts.query:
            raise TcpEndpointError(f"URL {url!r}: a TCP endpoint has no path or query; write tcp://host:port")
        return cls(parts.hostname, port, parts.scheme == "tcps")


@dataclass(frozen=True)
class TcpCall:
    """One request: ``payload`` written as it is (LENGTH_PREFIX_2B: behind its two-byte length), then the reply
    read as ``behavior`` says, at most ``max_bytes`` of it (``end_tag``: REQUEST_RESPONSE's terminator)."""

    behavior: TcpBehavior
    payload: bytes
    max_bytes: int
    end_tag: bytes = b""

    def wire(self) -> bytes:
        """The bytes written: the payload, behind its length for LENGTH_PREFIX_2B."""
        if self.behavior == "LENGTH_PREFIX_2B":
            return frame(self.payload)
        return self.payload


def frame(payload: bytes) -> bytes:
    """``payload`` behind a two-byte big-endian length (ISO 8583 links); raises :class:`TcpFrameError` above
    65535 bytes."""
    if len(payload) > FRAME_LIMIT:
        raise TcpFrameError(
            f"a LENGTH_PREFIX_2B request body of {len(payload):,} bytes does not fit a two-byte length prefix "
            f"(at most {FRAME_LIMIT:,}); send a smaller body or use another behavior"
        )
    return len(payload).to_bytes(2, "big") + payload


class TcpFrameError(InvalidInput, ValueError):
    """A request body that cannot be framed (longer than a two-byte length prefix can announce)."""


@dataclass(frozen=True)
class TcpReply:
    """What a call read (``data``: the reply, end tag or nothing for FIRE_FORGET; a length-prefixed frame's body
    without its prefix), how long connecting took (0 on a reused connection) and whether it was reused."""

    data: bytes
    connect_seconds: float
    reused: bool


@dataclass(frozen=True)
class TcpSettings:
    """How the client connects and reads (the processor's ``tcpTransport``, in seconds)."""

    connect_timeout: float = 5.0
    read_timeout: float = 30.0
    max_retries: int = 2
    keep_alive: bool = True
    ssl_verify: bool = True
    ca_file: str | None = None


class TcpPort(Protocol):
    """Send one call to ``endpoint`` within ``timeout`` seconds (connect, connect retries, write and read), as
    ``settings`` say. Raises :class:`TcpError` for a failure; the connection it happened on is never reused."""

    async def send(self, endpoint: TcpEndpoint, call: TcpCall, timeout: float, settings: TcpSettings) -> TcpReply: ...

    def close(self) -> None:
        """Close the idle connections (calls in flight finish on theirs)."""
        ...


class TcpError(Unavailable):
    """Base of failed TCP calls; ``kind`` is the error kind counted in status (``errorKinds``) and metrics."""

    kind = "tcp"
    received = 0
    """Bytes read before the call failed (kept bounded: at most the call's ``max_bytes``)."""


class TcpConnectError(TcpError):
    """No connection: refused, unreachable, a failed TLS handshake, or no address for the host (after retries)."""

    kind = "tcp-connect"


class TcpTimeout(TcpError):
    """The connect, the read or the whole call took longer than its bound (e.g. an end tag that never came)."""

    kind = "tcp-timeout"


class TcpTooLarge(TcpError, LimitExceeded):
    """The reply grew past ``maxBytes`` before it ended (no end tag within the cap, a longer echo)."""

    kind = "tcp-too-large"
    limit = "maxBytes"


class TcpFrameTooLarge(TcpError, LimitExceeded):
    """A length prefix announced a frame larger than ``maxBytes``; it was not read."""

    kind = "tcp-frame-too-large"
    limit = "maxBytes"


class TcpClosed(TcpError):
    """The server closed the connection before the reply was complete (mid-frame, before the end tag)."""

    kind = "tcp-closed"


class TcpEchoMismatch(TcpError):
    """An ECHO call read back bytes that differ from what it wrote."""

    kind = "tcp-echo-mismatch"
