"""The worker's auth profiles (``worker.auth.profiles``) built from a config: static credentials read from the
environment or files, a config refused naming the credential it cannot read, token caches kept across a
config-update that leaves their profile alone, and the demo SUT's authorization server on a fake clock."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from hivekeeper.api.auth import AuthProfile
from hivekeeper.api.roles import ConfigError
from hivekeeper.local.demo_auth import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, DemoAuth
from hivekeeper.templating.engine import TemplateEngine
from hivekeeper.worker.auth.profiles import Authenticator
from hivekeeper.worker.auth.secrets import SecretReader
from hivekeeper.worker.auth_port import AuthFailed
from hivekeeper.worker.stats import AuthStats

CONTEXT = {"sut": {"endpoints": {"default": {"baseUrl": "http://idp.test"}}}, "vars": {}}


def _profiles(raw: dict[str, Any]) -> dict[str, AuthProfile]:
    return {name: AuthProfile.model_validate(p) for name, p in raw.items()}


def _auth(reader: SecretReader) -> Authenticator:
    return Authenticator(reader, AuthStats(), TemplateEngine(), "caller")


async def test_static_profiles_give_their_headers_and_query_from_env_files_and_mounted_secrets(tmp_path: Path) -> None:
    (tmp_path / "key.txt").write_text("k-1\n")
    (tmp_path / "hivekeeper-api" / "token").parent.mkdir()
    (tmp_path / "hivekeeper-api" / "token").write_text("t-1")
    reader = SecretReader((tmp_path,), {"PW": "p:w"})
    profiles = _profiles(
        {
            "bearer": {"type": "bearer", "token": {"secretKeyRef": {"name": "hivekeeper-api", "key": "token"}}},
            "basic": {"type": "basic", "username": "ada", "password": {"env": "PW"}},
            "header": {"type": "api-key", "name": "X-Api-Key", "value": {"file": str(tmp_path / "key.txt")}},
            "query": {"type": "api-key", "in": "query", "name": "key", "value": {"env": "PW"}},
        }
    )
    auth = _auth(reader).prepare(profiles, CONTEXT, ssl_verify=True)
    assert (await auth.credentials("bearer")).headers == (("Authorization", "Bearer t-1"),)
    assert (await auth.credentials("basic")).headers == (
        ("Authorization", "Basic " + base64.b64encode(b"ada:p:w").decode()),
    )
    assert (await auth.credentials("header")).headers == (("X-Api-Key", "k-1"),), "a file's trailing newline cut"
    assert (await auth.credentials("query")).query == (("key", "p:w"),)
    assert not (await auth.credentials("bearer")).refreshable
    with pytest.raises(AuthFailed, match="no auth profile 'other'"):
        await auth.credentials("other")
    auth.close()


def test_a_credential_that_cannot_be_read_refuses_the_config_naming_the_field_and_the_fix(tmp_path: Path) -> None:
    profiles = _profiles(
        {
            "idp": {
                "type": "oauth2-client-credentials",
                "tokenUrl": "{{ sut.endpoints.default.baseUrl }}/token",
                "clientId": "c",
                "clientSecret": {"secretKeyRef": {"name": "hivekeeper-idp", "key": "clientSecret"}},
            },
            "env": {"type": "bearer", "token": {"env": "NOT_SET"}},
        }
    )
    with pytest.raises(ConfigError) as refused:
        _auth(SecretReader((tmp_path,), {})).prepare(profiles, CONTEXT, ssl_verify=True)
    paths = dict(refused.value.problems)
    assert set(paths) == {"auth.idp", "auth.env"}
    assert f"looked for <dir>/hivekeeper-idp/clientSecret in {tmp_path}" in paths["auth.idp"]
    assert "kubectl create secret generic hivekeeper-idp" in paths["auth.idp"]
    assert "environment variable NOT_SET is not set" in paths["auth.env"]


def test_validation_reads_no_credential_and_refuses_only_what_the_manifest_gets_wrong() -> None:
    profiles = _profiles(
        {
            "idp": {
                "type": "oauth2-client-credentials",
                "tokenUrl": "ftp://idp.test/token",
                "clientId": "c",
                "clientSecret": {"secretKeyRef": {"name": "hivekeeper-idp", "key": "s"}},
            },
            "tls": {"type": "mtls", "cert": {"file": "/nowhere/c.pem"}, "key": {"file": "/nowhere/k.pem"}},
        }
    )
    with pytest.raises(ConfigError) as refused:
        _auth(SecretReader.for_validation()).prepare(profiles, CONTEXT, ssl_verify=True)
    [(path, message)] = refused.value.problems
    assert path == "auth.idp"
    assert "must start with http:// or https://" in message


async def test_a_config_update_keeps_the_token_cache_of_an_unchanged_profile_and_rebuilds_a_changed_one() -> None:
    reader = SecretReader((), {"S": "s"})
    base = {"type": "oauth2-client-credentials", "tokenUrl": "http://idp.test/t", "clientId": "c"}
    raw = {"a": {**base, "clientSecret": {"env": "S"}}, "b": {**base, "clientSecret": {"env": "S"}}}
    first = _auth(reader).prepare(_profiles(raw), CONTEXT, ssl_verify=True)
    changed = {**raw, "b": {**raw["b"], "scope": "more"}}
    second = first.prepare(_profiles(changed), CONTEXT, ssl_verify=True)
    assert second._providers["a"] is first._providers["a"]
    assert second._providers["b"] is not first._providers["b"]
    assert second.http is first.http, "one client for token requests across configs"
    first.close(keep=second)
    second.close()


def test_the_demo_token_endpoint_issues_short_lived_tokens_to_its_clients_only() -> None:
    now = [100.0]
    demo = DemoAuth(token_ttl=2.0, clock=lambda: now[0])
    basic = b"Basic " + base64.b64encode(f"{DEMO_CLIENT_ID}:{DEMO_CLIENT_SECRET}".encode())
    status, body, _ = demo.token(b"grant_type=client_credentials", basic)
    assert status == 200
    token = json.loads(body)
    assert (token["token_type"], token["expires_in"]) == ("Bearer", 2)
    bearer = f"Bearer {token['access_token']}".encode()
    assert demo.allows(bearer)
    now[0] += 2.0
    assert not demo.allows(bearer), "expired"
    assert demo.token(b"grant_type=client_credentials&client_id=x&client_secret=y", None)[0] == 401
    form = f"grant_type=password&username=demo-user&password=nope&client_id={DEMO_CLIENT_ID}"
    form += f"&client_secret={DEMO_CLIENT_SECRET}"
    assert demo.token(form.encode(), None)[:2] == (400, b'{"error":"invalid_grant"}')
    assert demo.token(form.replace("nope", "demo-password").encode(), None)[0] == 200
    assert not demo.allows(None)
    assert (demo.issued, demo.refused, demo.unauthorized) == (2, 2, 2)
