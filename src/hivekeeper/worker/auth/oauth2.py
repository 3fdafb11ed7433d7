"""The token request of the OAuth2 client credentials and password grants (RFC 6749 §4.3, §4.4, §5.1).

Bounded: one request is bounded by ``timeoutMs`` (connect, send, the whole answer), its answer by
``maxTokenBytes``, and a transport error, a 429 or a 5xx is tried again at most ``retries`` times with a short,
growing pause. Any other answer than 200 with an ``access_token`` fails with the server's ``error`` code; the
messages name the token URL and the status, never a credential or the answer's token.
"""

from __future__ import annotations

import asyncio
import base64
from dataclasses import dataclass
from time import perf_counter
from urllib.parse import quote, urlencode

import orjson

from hivekeeper.api.auth import AuthProfile
from hivekeeper.worker.auth.tokens import Token
from hivekeeper.worker.auth_port import AuthFailed
from hivekeeper.worker.http_port import HttpError, HttpPort, Origin, Response, route, serialise_request
from hivekeeper.worker.stats import AuthStats

RETRY_PAUSE = 0.2
"""Seconds before the first retry of a token request; doubled for each further one."""


@dataclass(frozen=True)
class TokenRequest:
    """A profile's token request, with its credentials read (at each fetch: a rotated Secret is picked up)."""

    profile: str
    url: str
    form: dict[str, str]
    basic: tuple[str, str] | None
    timeout: float
    limit: int
    retries: int

    @classmethod
    def of(cls, name: str, profile: AuthProfile, url: str, secrets: dict[str, str]) -> TokenRequest:
        if profile.type == "oauth2-password":
            form = {"grant_type": "password", "username": profile.username or "", "password": secrets["password"]}
        else:
            form = {"grant_type": "client_credentials"}
        if profile.scope:
            form["scope"] = profile.scope
        if profile.audience:
            form["audience"] = profile.audience
        client_secret = secrets.get("clientSecret")
        basic = None
        if profile.clientId is not None and profile.clientAuth == "basic" and client_secret is not None:
            basic = (profile.clientId, client_secret)
        elif profile.clientId is not None:  # a public client (password grant) names itself in the form
            form["client_id"] = profile.clientId
            if client_secret is not None:
                form["client_secret"] = client_secret
        return cls(name, url, form, basic, profile.timeoutMs / 1000, profile.maxTokenBytes, profile.retries)

    def raw(self, origin: Origin, target: str) -> bytes:
        headers = {"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"}
        if self.basic is not None:
            # RFC 6749 §2.3.1: id and secret are form-encoded before they are joined for Basic.
            pair = f"{quote(self.basic[0], safe='')}:{quote(self.basic[1], safe='')}"
            headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()
        return serialise_request("POST", target, origin.host_header, headers, urlencode(self.form).encode())


async def fetch(http: HttpPort, request: TokenRequest, stats: AuthStats) -> Token:
    """One token, counted and timed in ``stats`` (never in the SUT's figures)."""
    origin, target = route(Origin.parse(request.url), request.url)  # an absolute URL: its own origin
    started = perf_counter()
    try:
        token = await _attempts(http, request, origin, target)
    except AuthFailed:
        stats.token_errors += 1
        raise
    stats.token_fetches += 1
    stats.token_latency.record(perf_counter() - started)
    return token


async def _attempts(http: HttpPort, request: TokenRequest, origin: Origin, target: str) -> Token:
    where = f"auth profile {request.profile!r}: token request to {request.url}"
    for attempt in range(request.retries + 1):
        last = attempt == request.retries
        try:
            response = await http.send(origin, request.raw(origin, target), request.timeout, limit=request.limit)
        except HttpError as exc:
            if last:
                raise AuthFailed(f"{where} failed ({exc.kind}: {exc}) after {attempt + 1} attempt(s)") from exc
        else:
            if response.status == 429 or response.status >= 500:
                if last:
                    raise AuthFailed(
                        f"{where} answered {response.status} {_error(response)}after {attempt + 1} attempt(s)"
                    )
            else:
                return _token(response, where, request.limit)
        await asyncio.sleep(RETRY_PAUSE * 2**attempt)
    raise AssertionError("unreachable: the last attempt returns or raises")


def _token(response: Response, where: str, limit: int) -> Token:
    if response.status != 200:
        raise AuthFailed(
            f"{where} answered {response.status} {_error(response)}; check the profile's clientId, its secret and "
            "the token URL"
        )
    if response.truncated:
        raise AuthFailed(f"{where}: the answer is larger than maxTokenBytes ({limit:,} bytes); raise maxTokenBytes")
    try:
        body = orjson.loads(response.body)
    except orjson.JSONDecodeError as exc:
        raise AuthFailed(f"{where}: the answer is not JSON ({exc})") from exc
    value = body.get("access_token") if isinstance(body, dict) else None
    if not isinstance(value, str) or not value:
        raise AuthFailed(f"{where}: the answer has no access_token")
    if "\r" in value or "\n" in value:
        raise AuthFailed(f"{where}: the access_token holds a line break; it cannot go into a header")
    expires = body.get("expires_in")
    lifetime: float | None = None
    if isinstance(expires, int | float | str) and not isinstance(expires, bool):
        try:
            lifetime = max(float(expires), 0.0)
        except ValueError:
            lifetime = None
    return Token(value, lifetime)


def _error(response: Response) -> str:
    """The server's ``error`` code (RFC 6749 §5.2), the part of an error answer safe to repeat."""
    try:
        body = orjson.loads(response.body)
    except orjson.JSONDecodeError:
        return ""
    code = body.get("error") if isinstance(body, dict) else None
    return f"(error {str(code)[:100]!r}) " if code else ""
