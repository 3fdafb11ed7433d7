"""``hivekeeper import`` of auth: authProfiles.yaml and each template's authRef as spec.auth and templates[].auth,
every credential a key of one Secret (never in the manifest), what cannot be translated an error on the call."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import yaml

from hivekeeper.importer.command import main
from hivekeeper.importer.translate import ImportOptions, ImportResult, import_bundle
from hivekeeper.validate.run import validate_text

JOURNEY = {
    "role": "journey",
    "image": "http-sequence:latest",
    "config": {
        "baseUrl": "{{ sut.endpoints['default'].baseUrl }}",
        "templateRoot": "/app/scenario/templates/http",
        "serviceId": "api",
        "steps": [{"callId": "a"}],
    },
}
SCHEDULED = {**JOURNEY, "config": {**JOURNEY["config"], "inputs": {"type": "SCHEDULER"}}}


def _bundle(root: Path, profiles: dict[str, Any], refs: dict[str, dict[str, Any]], bee: dict[str, Any]) -> Path:
    files: dict[str, Any] = {
        "scenario.yaml": {"protocolVersion": "2.0.0", "id": "shop", "template": {"bees": [bee]}},
        "sut/local/sut.yaml": {"id": "local", "endpoints": {"default": {"baseUrl": "http://mock:8080"}}},
        "authProfiles.yaml": {"profiles": profiles},
    }
    for call, ref in refs.items():
        files[f"templates/http/{call}.yaml"] = {
            "serviceId": "api",
            "callId": call,
            "protocol": "HTTP",
            "pathTemplate": f"/{call}",
            **({"authRef": ref} if ref else {}),
        }
    for rel, data in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(data, sort_keys=False))
    return root


def _import(root: Path) -> ImportResult:
    return import_bundle(ImportOptions(bundle=root))


def _spec(result: ImportResult) -> dict[str, Any]:
    assert result.document is not None
    spec: dict[str, Any] = result.document["spec"]
    return spec


def test_an_oauth2_profile_becomes_a_profile_reading_its_secret_from_one_secret_and_the_template_names_it(
    tmp_path: Path,
) -> None:
    profiles = {
        "Shop Client": {
            "type": "OAUTH2_CLIENT_CREDENTIALS",
            "storage": {"mode": "REDIS", "tokenKey": "k"},
            "refresh": {"refreshAheadSeconds": 45, "leaseSeconds": 10},
            "tokenUrl": "http://mock:8080/oauth/token",
            "clientId": "shop",
            "clientSecret": {"env": "SHOP_SECRET"},
            "scope": "orders",
        }
    }
    bee = {**SCHEDULED, "env": {"SHOP_SECRET": "s3cret-value", "LOG_LEVEL": "debug"}}
    ref = {"profileId": "Shop Client", "applyAs": "HTTP_AUTHORIZATION_BEARER"}
    result = _import(_bundle(tmp_path, profiles, {"a": ref}, bee))
    spec = _spec(result)
    assert spec["auth"] == {
        "shop-client": {
            "type": "oauth2-client-credentials",
            "tokenUrl": "{{ sut.endpoints.default.baseUrl }}/oauth/token",
            "clientId": "shop",
            "scope": "orders",
            "clientSecret": {"secretKeyRef": {"name": "hivekeeper-shop-auth", "key": "Shop-Client.clientSecret"}},
            "clientAuth": "body",
            "refreshAheadSeconds": 45,
        }
    }
    assert spec["templates"][0]["auth"] == "shop-client"
    assert spec["roles"][0]["env"] == [{"name": "LOG_LEVEL", "value": "debug"}], "the credential left the env"
    assert "s3cret-value" not in result.text
    assert result.secrets == {"hivekeeper-shop-auth": {"Shop-Client.clientSecret": "s3cret-value"}}
    [finding] = result.findings
    assert (finding.severity, finding.code) == ("warning", "auth-secret")
    assert "kubectl create secret generic hivekeeper-shop-auth --from-literal=Shop-Client.clientSecret=..." in (
        finding.fix
    )


def test_static_tokens_keys_and_basic_map_by_how_each_call_applies_them(tmp_path: Path) -> None:
    profiles = {
        "tok": {"type": "STATIC_TOKEN", "token": "t", "queryParam": "access_token"},
        "key": {"type": "API_KEY", "key": "k"},
        "usr": {"type": "BASIC_AUTH", "username": "ada", "password": "pw"},
    }
    refs = {
        "a": {"profileId": "tok", "applyAs": "HTTP_AUTHORIZATION_BEARER"},
        "b": {"profileId": "tok", "applyAs": "HTTP_QUERY_PARAM"},
        "c": {"profileId": "key", "applyAs": "HTTP_HEADER", "headerName": "X-Api-Key"},
        "d": {"profileId": "usr", "applyAs": "HTTP_HEADER"},
    }
    result = _import(_bundle(tmp_path, profiles, refs, SCHEDULED))
    spec = _spec(result)
    by_call = {t["callId"]: spec["auth"][t["auth"]] for t in spec["templates"]}
    assert by_call["a"]["type"] == "bearer"
    assert {k: by_call["b"][k] for k in ("type", "in", "name")} == {
        "type": "api-key",
        "in": "query",
        "name": "access_token",
    }
    assert {k: by_call["c"][k] for k in ("type", "in", "name")} == {
        "type": "api-key",
        "in": "header",
        "name": "X-Api-Key",
    }
    assert (by_call["d"]["type"], by_call["d"]["username"]) == ("basic", "ada")
    assert sorted(spec["auth"]) == ["key", "tok", "tok-2", "usr"], "one PocketHive profile applied two ways: two"
    assert result.secrets["hivekeeper-shop-auth"] == {"tok.token": "t", "key.key": "k", "usr.password": "pw"}


def test_a_call_needing_an_undefined_profile_or_an_unsupported_one_is_an_error_naming_the_fix(tmp_path: Path) -> None:
    profiles = {"hmac": {"type": "HMAC_SIGNATURE", "secretKey": "x"}, "spare": {"type": "STATIC_TOKEN", "token": "t"}}
    refs = {
        "a": {"profileId": "oauth", "applyAs": "HTTP_AUTHORIZATION_BEARER"},
        "b": {"profileId": "hmac", "applyAs": "HMAC_HEADER"},
    }
    result = _import(_bundle(tmp_path, profiles, refs, SCHEDULED))
    found = {f.code: f for f in result.findings}
    assert set(found) == {"auth-profile-undefined", "auth-unsupported", "auth-unused"}
    undefined = found["auth-profile-undefined"]
    assert (undefined.severity, undefined.path) == ("error", "authRef.profileId")
    assert "call 'a' needs auth profile 'oauth', which authProfiles.yaml does not define (profiles: hmac, spare)" in (
        undefined.message
    )
    assert "define profiles.oauth in authProfiles.yaml" in undefined.fix
    assert found["auth-unsupported"].severity == "error"
    assert "'spare' is not referenced" in found["auth-unused"].message
    assert "auth" not in _spec(result), "nothing usable was declared"
    assert [t.get("auth") for t in _spec(result)["templates"]] == ["oauth", "hmac"], "named, left undeclared"
    validated = [f for f in validate_text(result.text).findings if f.severity == "error"]
    assert sorted(f.path for f in validated) == ["spec.templates[0].auth", "spec.templates[1].auth"]
    assert result.errors == len(validated), "import and validate count the same errors"


def test_secrets_dir_writes_each_credential_as_a_file_the_run_reads(tmp_path: Path) -> None:
    profiles = {"tok": {"type": "BEARER_TOKEN", "token": "t-123"}}
    bundle = _bundle(tmp_path / "b", profiles, {"a": {"profileId": "tok"}}, SCHEDULED)
    err = io.StringIO()
    code = main(ImportOptions(bundle=bundle), tmp_path / "s.yaml", io.StringIO(), err, tmp_path / "secrets")
    assert code == 0, err.getvalue()
    written = tmp_path / "secrets" / "hivekeeper-shop-auth" / "tok.token"
    assert written.read_text() == "t-123"
    assert written.stat().st_mode & 0o077 == 0, "owner-only"
    assert "t-123" not in (tmp_path / "s.yaml").read_text()
