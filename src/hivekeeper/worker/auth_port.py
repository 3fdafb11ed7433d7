"""The auth port: what the roles that call the system under test need to authenticate, and nothing more.

A role knows which auth profile a request uses (its step's, its template's, or its endpoint's:
:class:`EndpointAuth`) and asks the worker's :class:`AuthPort` for that profile's :class:`Credentials` (headers,
query parameters, and for mTLS the client that presents the certificate). :func:`send` sends a request with
them and, when the SUT answers 401 to an OAuth2 token, refreshes the token once and sends the request once more.
The worker implements the port (``worker.auth``); unit tests use a twin. Pure: no I/O library.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol
from urllib.parse import quote

from hivekeeper.worker.http_port import HttpError, HttpPort, Origin, Response, serialise_request

UNAUTHORIZED = 401


class AuthFailed(HttpError):
    """No credentials could be had for a request (the token endpoint failed, refused, or sent no token); the
    request was not sent. Counted and alerted like a transport error, with kind ``auth``."""

    kind = "auth"


@dataclass(frozen=True)
class Credentials:
    """What a request carries for one profile. ``token`` is the OAuth2 token in it (what a 401 invalidates);
    ``http`` the client presenting a TLS client certificate (mtls), None: the role's own client."""

    headers: tuple[tuple[str, str], ...] = ()
    query: tuple[tuple[str, str], ...] = ()
    http: HttpPort | None = None
    token: str | None = None

    @property
    def refreshable(self) -> bool:
        return self.token is not None


class AuthPort(Protocol):
    def knows(self, profile: str) -> bool:
        """Whether ``profile`` is one of the worker's profiles."""
        ...

    async def credentials(self, profile: str) -> Credentials:
        """The credentials of ``profile`` now (an OAuth2 token from the cache, fetched once for all waiters when
        missing or expired). Raises :class:`AuthFailed`."""
        ...

    def rejected(self, profile: str, used: Credentials) -> None:
        """The SUT answered 401 to ``used``: forget its token (if it is still the cached one)."""
        ...


@dataclass(frozen=True)
class EndpointAuth:
    """The profiles of the SUT's endpoints: a request whose URL starts with an endpoint's base URL uses its
    profile unless its step or template names one."""

    routes: tuple[tuple[Origin, str], ...] = ()

    @classmethod
    def of(cls, endpoints: dict[str, dict[str, object]]) -> EndpointAuth:
        routes = []
        for endpoint in endpoints.values():
            base, profile = endpoint.get("baseUrl"), endpoint.get("auth")
            if isinstance(base, str) and isinstance(profile, str):
                try:
                    routes.append((Origin.parse(base), profile))
                except ValueError:
                    continue  # a base URL that is not http(s): its role's own check names it
        # The longest base path first: /api/v2 wins over /api for a request to /api/v2/x.
        routes.sort(key=lambda route: -len(route[0].base_path))
        return cls(tuple(routes))

    def profile(self, origin: Origin, target: str) -> str | None:
        for base, profile in self.routes:
            same = (base.scheme, base.host, base.port) == (origin.scheme, origin.host, origin.port)
            if same and (not base.base_path or target == base.base_path or target.startswith(base.base_path + "/")):
                return profile
        return None


def with_query(target: str, query: tuple[tuple[str, str], ...]) -> str:
    if not query:
        return target
    extra = "&".join(f"{quote(name, safe='')}={quote(value, safe='')}" for name, value in query)
    return f"{target}{'&' if '?' in target else '?'}{extra}"


@dataclass(frozen=True)
class Call:
    """A request before credentials are added."""

    origin: Origin
    method: str
    target: str
    headers: dict[str, str]
    body: bytes | None
    timeout: float
    limit: int
    head: bool
    idempotent: bool

    def serialise(self, credentials: Credentials | None = None) -> bytes:
        headers, target = self.headers, self.target
        if credentials is not None:
            given = {name.lower() for name, _ in credentials.headers}
            headers = {**{k: v for k, v in headers.items() if k.lower() not in given}, **dict(credentials.headers)}
            target = with_query(target, credentials.query)
        return serialise_request(self.method, target, self.origin.host_header, headers, self.body)


async def send(http: HttpPort, auth: AuthPort | None, profile: str | None, call: Call) -> Response:
    """Send ``call`` with ``profile``'s credentials (none when ``profile`` is None); a 401 to an OAuth2 token
    refreshes it and sends the call once more (the second answer stands, whatever it is)."""
    if profile is None or auth is None:
        return await _send(http, call, call.serialise())
    credentials = await auth.credentials(profile)
    response = await _send(credentials.http or http, call, call.serialise(credentials))
    if response.status != UNAUTHORIZED or not credentials.refreshable:
        return response
    auth.rejected(profile, credentials)
    fresh = await auth.credentials(profile)
    return await _send(fresh.http or http, call, call.serialise(fresh))


async def _send(http: HttpPort, call: Call, raw: bytes) -> Response:
    return await http.send(call.origin, raw, call.timeout, head=call.head, idempotent=call.idempotent, limit=call.limit)
