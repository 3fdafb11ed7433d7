"""The HTTP port: what the processor and http-sequence roles need from an HTTP client, and nothing more.

Roles serialise a request (:func:`serialise_request`) for an :class:`Origin` and hand the bytes to an
:class:`HttpPort`; they get a :class:`Response` (any status is a response) or an :class:`HttpError` (the
server never produced a complete response; ``kind`` names what went wrong). The pooled HTTP/1.1 client
(``worker.http.client``) implements it on sockets; ``worker.http.memory`` is its in-memory twin for unit
tests (scripted answers and errors, no sockets). Pure: no I/O library, so a role importing this does not
import the client (nor httptools).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlsplit


class HttpPort(Protocol):
    """Send one serialised request to ``origin`` and return the complete response.

    ``timeout`` is one deadline for all of it (connect, a retry, the body); at most ``limit`` body bytes
    are kept (``Response.truncated`` says when more came). ``head``: the response has no body.
    ``idempotent``: a request on a reused connection the server had closed may be sent again.
    Raises :class:`HttpError` for a transport failure.
    """

    async def send(
        self, origin: Origin, raw: bytes, timeout: float, *, head: bool = ..., idempotent: bool = ..., limit: int = ...
    ) -> Response: ...

    def close(self) -> None:
        """Release idle connections (requests in flight finish on theirs)."""
        ...


@dataclass(frozen=True)
class HttpSettings:
    """How a role wants its HTTP client: the runtime builds one client per distinct settings and keeps it
    across config updates that do not change them."""

    ssl_verify: bool = True
    keep_alive: bool = True
    collect_headers: bool = True
    """Keep response headers; off when nobody reads them (a processor without an output)."""


IDEMPOTENT = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS", "TRACE"})
"""RFC 9110 §9.2.2: a request with one of these methods may be repeated with the same effect."""


def is_idempotent(method: str) -> bool:
    """Whether a request with ``method`` (upper case) may be retried automatically."""
    return method in IDEMPOTENT


class OriginError(ValueError):
    """A base URL or absolute URL the client cannot use."""


@dataclass(frozen=True)
class Origin:
    """Where requests go: scheme, host, port, and the base path that relative paths are joined to."""

    scheme: str
    host: str
    port: int
    base_path: str = ""

    @property
    def host_header(self) -> str:
        default = 443 if self.scheme == "https" else 80
        return self.host if self.port == default else f"{self.host}:{self.port}"

    def target(self, path: str) -> str:
        """The request target for ``path`` under this origin's base path."""
        if not path.startswith("/"):
            path = "/" + path
        return self.base_path + path if self.base_path else path

    @classmethod
    def parse(cls, url: str) -> Origin:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https"):
            raise OriginError(f"URL {url!r} must start with http:// or https://")
        if not parts.hostname:
            raise OriginError(f"URL {url!r} has no host")
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError as exc:
            raise OriginError(f"URL {url!r} has an invalid port") from exc
        return cls(parts.scheme, parts.hostname, port, parts.path.rstrip("/"))


def route(base: Origin, path: str) -> tuple[Origin, str]:
    """Where a rendered path goes: an absolute ``https://h:1/a/b?q`` to its own origin (``/a/b?q``), any
    other path to ``base`` (joined to its base path). Raises :class:`OriginError` for a bad absolute URL."""
    if not path.startswith(("http://", "https://")):
        return base, base.target(path)
    parts = urlsplit(path)
    origin = Origin.parse(f"{parts.scheme}://{parts.netloc}")
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return origin, target


class HttpError(Exception):
    """Base of transport-level failures (the server never produced a complete response)."""

    kind = "transport"
    truncated = False
    """True when body bytes beyond the request's limit had been discarded before it failed."""


class HttpTimeout(HttpError):
    kind = "timeout"


class HttpConnectError(HttpError):
    kind = "connect"


class HttpNameError(HttpConnectError):
    """The SUT's host name does not resolve (kind ``dns``: a typo in baseUrl, or DNS down, not the SUT)."""

    kind = "dns"


class HttpProtocolError(HttpError):
    kind = "protocol"


class ConnectionDropped(HttpError):
    """The server closed the connection before any response byte arrived."""

    kind = "reset"


class Response:
    """A complete HTTP response. Header names are kept as sent (bytes); ``header()`` looks them up.

    ``body`` holds at most the request's limit; ``body_bytes`` is how many body bytes the server
    sent, and ``truncated`` says that some were discarded.
    """

    __slots__ = ("body", "body_bytes", "headers", "keep_alive", "status", "truncated")

    def __init__(
        self, status: int, headers: list[tuple[bytes, bytes]], body: bytes, keep_alive: bool, body_bytes: int
    ) -> None:
        self.status = status
        self.headers = headers
        self.body = body
        self.keep_alive = keep_alive
        self.body_bytes = body_bytes
        self.truncated = body_bytes > len(body)

    def header(self, name: str) -> str | None:
        wanted = name.lower().encode()
        for key, value in self.headers:
            if key.lower() == wanted:
                return value.decode("latin-1")
        return None

    def header_map(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for key, value in self.headers:
            out.setdefault(key.decode("latin-1").lower(), []).append(value.decode("latin-1"))
        return out


def serialise_request(
    method: str, target: str, host_header: str, headers: dict[str, str] | list[Any], body: bytes | None
) -> bytes:
    """The bytes of an HTTP/1.1 request; adds Host, Content-Length and keep-alive if absent."""
    lines = [f"{method} {target} HTTP/1.1\r\n"]
    items = headers.items() if isinstance(headers, dict) else headers
    seen = set()
    for name, value in items:
        lowered = name.lower()
        if lowered in ("content-length", "transfer-encoding"):
            continue  # we frame the body ourselves
        seen.add(lowered)
        if "\r" in value or "\n" in value or "\r" in name or "\n" in name:
            raise ValueError(f"header {name!r} contains a line break; that would split the request")
        lines.append(f"{name}: {value}\r\n")
    if "host" not in seen:
        lines.append(f"Host: {host_header}\r\n")
    if body is not None or method in ("POST", "PUT", "PATCH"):
        lines.append(f"Content-Length: {len(body or b'')}\r\n")
    lines.append("\r\n")
    head = "".join(lines).encode("latin-1")
    return head + body if body else head
