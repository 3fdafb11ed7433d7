"""Credentials on the HTTP port's twin: added as a request is sent, a 401 to an OAuth2 token refreshed once and
the request sent once more (then the answer stands), the token request bounded and its failures named without
the secret, and an http-sequence journey whose captures never hold the credentials."""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import parse_qs

import orjson
import pytest

from hivekeeper.api.auth import AuthProfile
from hivekeeper.protocol.workitem import new_item
from hivekeeper.worker import auth_port
from hivekeeper.worker.auth import oauth2
from hivekeeper.worker.auth_port import AuthFailed, Call, Credentials
from hivekeeper.worker.http.memory import MemoryHttp, Reply
from hivekeeper.worker.http_port import HttpTimeout, Origin
from hivekeeper.worker.roles.http_sequence.role import HttpSequence
from hivekeeper.worker.stats import AuthStats
from hivekeeper.worker.transports.memory import MemoryStore
from testbench.role_bench import RoleBench

ORIGIN = Origin.parse("http://api.test")


class Tokens:
    """An auth port twin: token-1, token-2, ... for profile ``api``; what was rejected."""

    def __init__(self) -> None:
        self.current = 1
        self.refused: list[str | None] = []

    def knows(self, profile: str) -> bool:
        return profile == "api"

    async def credentials(self, profile: str) -> Credentials:
        token = f"token-{self.current}"
        return Credentials(headers=(("Authorization", f"Bearer {token}"),), token=token)

    def rejected(self, profile: str, used: Credentials) -> None:
        self.refused.append(used.token)
        self.current += 1


def _call(**extra: Any) -> Call:
    return Call(ORIGIN, "GET", "/cards/1", {"Accept": "application/json"}, None, 5.0, 1024, False, True, **extra)


async def test_the_credentials_go_into_the_request_as_it_is_sent() -> None:
    http = MemoryHttp()
    await auth_port.send(http, Tokens(), "api", _call())
    [sent] = http.sent
    assert sent.headers["authorization"] == "Bearer token-1"
    assert sent.headers["accept"] == "application/json"


async def test_a_401_refreshes_the_token_once_and_sends_the_request_once_more() -> None:
    http = MemoryHttp().script(Reply(401), Reply(200, b"ok"))
    tokens = Tokens()
    response = await auth_port.send(http, tokens, "api", _call())
    assert response.status == 200
    assert [s.headers["authorization"] for s in http.sent] == ["Bearer token-1", "Bearer token-2"]
    assert tokens.refused == ["token-1"]


async def test_a_second_401_is_the_answer_no_third_request_goes_out() -> None:
    http = MemoryHttp().script(Reply(401), Reply(401), Reply(200))
    response = await auth_port.send(http, Tokens(), "api", _call())
    assert response.status == 401
    assert len(http.sent) == 2


async def test_a_401_to_a_static_credential_is_not_retried() -> None:
    class Static(Tokens):
        async def credentials(self, profile: str) -> Credentials:
            return Credentials(headers=(("X-Api-Key", "k"),))

    http = MemoryHttp().script(Reply(401))
    assert (await auth_port.send(http, Static(), "api", _call())).status == 401
    assert len(http.sent) == 1


async def test_a_query_credential_is_appended_to_the_target() -> None:
    class Query(Tokens):
        async def credentials(self, profile: str) -> Credentials:
            return Credentials(query=(("access_token", "a b&c"),))

    http = MemoryHttp()
    await auth_port.send(http, Query(), "api", Call(ORIGIN, "GET", "/x?y=1", {}, None, 5.0, 10, False, True))
    assert http.sent[0].target == "/x?y=1&access_token=a%20b%26c"


async def test_the_endpoint_whose_base_url_a_request_starts_with_gives_its_profile() -> None:
    routes = auth_port.EndpointAuth.of(
        {
            "default": {"baseUrl": "http://api.test", "auth": "api"},
            "v2": {"baseUrl": "http://api.test/v2", "auth": "v2"},
            "open": {"baseUrl": "http://open.test"},
        }
    )
    assert routes.profile(ORIGIN, "/v2/cards") == "v2"
    assert routes.profile(ORIGIN, "/v20/cards") == "api"
    assert routes.profile(Origin.parse("http://open.test"), "/x") is None
    assert routes.profile(Origin.parse("http://api.test:8080"), "/x") is None


def _profile(**raw: Any) -> AuthProfile:
    return AuthProfile.model_validate(
        {
            "type": "oauth2-client-credentials",
            "tokenUrl": "http://idp.test/oauth/token?realm=a",
            "clientId": "cli ent",
            "clientSecret": {"env": "S"},
            **raw,
        }
    )


def _request(profile: AuthProfile) -> oauth2.TokenRequest:
    return oauth2.TokenRequest.of("api", profile, str(profile.tokenUrl), {"clientSecret": "s3cr:et"})


async def test_the_token_request_posts_the_grant_with_the_client_in_basic_auth() -> None:
    http = MemoryHttp().script(Reply(200, b'{"access_token": "t-1", "expires_in": "30", "token_type": "bearer"}'))
    stats = AuthStats()
    token = await oauth2.fetch(http, _request(_profile(scope="cards read")), stats)
    assert (token.value, token.lifetime) == ("t-1", 30.0)
    [sent] = http.sent
    assert (sent.method, sent.target, sent.origin.host) == ("POST", "/oauth/token?realm=a", "idp.test")
    assert parse_qs(sent.body.decode()) == {"grant_type": ["client_credentials"], "scope": ["cards read"]}
    assert base64.b64decode(sent.headers["authorization"][6:]) == b"cli%20ent:s3cr%3Aet"
    assert (stats.token_fetches, stats.token_errors, stats.token_latency.count) == (1, 0, 1)


async def test_body_client_auth_and_the_password_grant_put_everything_in_the_form() -> None:
    http = MemoryHttp().script(Reply(200, b'{"access_token": "t"}'))
    profile = AuthProfile.model_validate(
        {
            "type": "oauth2-password",
            "tokenUrl": "http://idp.test/token",
            "clientId": "c",
            "clientAuth": "body",
            "username": "ada",
            "password": {"env": "P"},
        }
    )
    request = oauth2.TokenRequest.of("api", profile, "http://idp.test/token", {"password": "pw"})
    token = await oauth2.fetch(http, request, AuthStats())
    assert token.lifetime is None
    form = parse_qs(http.sent[0].body.decode())
    assert form == {"grant_type": ["password"], "username": ["ada"], "password": ["pw"], "client_id": ["c"]}
    assert "authorization" not in http.sent[0].headers


async def test_a_refused_token_request_names_the_url_and_the_error_code_never_the_secret() -> None:
    http = MemoryHttp().script(Reply(401, b'{"error": "invalid_client", "secret": "s3cr:et"}'))
    stats = AuthStats()
    with pytest.raises(AuthFailed) as failed:
        await oauth2.fetch(http, _request(_profile(retries=2)), stats)
    message = str(failed.value)
    assert "http://idp.test/oauth/token?realm=a answered 401 (error 'invalid_client')" in message
    assert "s3cr" not in message
    assert len(http.sent) == 1, "a 4xx is not retried"
    assert (stats.token_fetches, stats.token_errors) == (0, 1)


async def test_transport_errors_and_5xx_are_retried_a_bounded_number_of_times(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(oauth2, "RETRY_PAUSE", 0.0)
    http = MemoryHttp().script(HttpTimeout("slow"), Reply(503), Reply(200, b'{"access_token": "t"}'))
    assert (await oauth2.fetch(http, _request(_profile(retries=2)), AuthStats())).value == "t"
    failing = MemoryHttp().script(Reply(503), Reply(503), Reply(503), Reply(200, b'{"access_token": "t"}'))
    with pytest.raises(AuthFailed, match="answered 503 after 2 attempt"):
        await oauth2.fetch(failing, _request(_profile(retries=1)), AuthStats())
    assert len(failing.sent) == 2


async def test_an_oversized_or_tokenless_answer_is_an_error() -> None:
    big = MemoryHttp().script(Reply(200, b'{"access_token": "' + b"x" * 2000 + b'"}'))
    with pytest.raises(AuthFailed, match="larger than maxTokenBytes"):
        await oauth2.fetch(big, _request(_profile(maxTokenBytes=1024)), AuthStats())
    empty = MemoryHttp().script(Reply(200, b'{"token": "t"}'))
    with pytest.raises(AuthFailed, match="no access_token"):
        await oauth2.fetch(empty, _request(_profile()), AuthStats())


async def test_a_journey_sends_each_step_with_its_profile_and_its_captures_hold_no_credential() -> None:
    bench = RoleBench()
    tokens = Tokens()
    bench.http.script(Reply(201, b'{"id": "c-1"}'), Reply(401), Reply(200, b"{}"))
    raw = {
        "baseUrl": "http://api.test",
        "sut": {"endpoints": {"default": {"baseUrl": "http://api.test", "auth": "api"}}},
        "auth": {"api": {"type": "bearer", "token": {"env": "T"}}},
        "templates": [
            {"callId": "create", "method": "POST", "pathTemplate": "/customers", "headersTemplate": {"X-A": "1"}},
            {"callId": "read", "pathTemplate": "/customers/{{ ctx.id }}"},
        ],
        "steps": [
            {"callId": "create", "extracts": [{"fromJsonPointer": "/id", "to": "id"}]},
            {"callId": "read"},
        ],
        "debugCapture": {"mode": "ALWAYS", "includeRequest": True},
    }
    store = MemoryStore()
    role = bench.build("http-sequence", raw, store=store, auth=tokens)
    assert isinstance(role, HttpSequence)
    item = new_item("{}", swarm="unit", service="feed", instance="feed-0", headers={"correlationId": "j-1"})
    result = await role.handle(item, 1)
    assert result is not None
    assert [s.headers.get("authorization") for s in bench.http.sent] == [
        "Bearer token-1",
        "Bearer token-1",
        "Bearer token-2",
    ], "the endpoint's profile on every step; the 401 refreshed once"
    refs = [step.headers["x-ph-http-seq-debug-ref"] for step in result.steps[1:]]
    captured = [orjson.loads(await store.get(ref) or b"null") for ref in refs]
    assert len(captured) == 2
    for capture in captured:
        assert "token-" not in orjson.dumps(capture).decode()
        assert "authorization" not in {k.lower() for k in capture["request"]["headers"]}
    assert "x-a" in {k.lower() for k in captured[0]["request"]["headers"]}, "the request's own headers are there"
