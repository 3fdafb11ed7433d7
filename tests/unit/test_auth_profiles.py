"""Auth profiles in the Swarm: declared once, named by endpoints and templates, each type with its own keys,
credentials only as references; and what a role's workers get of them."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from hivekeeper.api.auth import AuthProfile, secret_names
from hivekeeper.api.role_config import merged_role_config
from hivekeeper.api.swarm import Swarm
from hivekeeper.validate.run import validate_text

SECRET = {"secretKeyRef": {"name": "hivekeeper-idp", "key": "clientSecret"}}


def _swarm(auth: dict[str, Any], **spec: Any) -> Swarm:
    return Swarm.model_validate(
        {
            "metadata": {"name": "s"},
            "spec": {
                "auth": auth,
                "roles": [{"name": "caller", "role": "processor", "config": {}}],
                **spec,
            },
        }
    )


def test_each_type_takes_its_own_keys_and_names_what_is_missing_or_foreign() -> None:
    AuthProfile.model_validate(
        {"type": "oauth2-client-credentials", "tokenUrl": "u", "clientId": "c", "clientSecret": SECRET}
    )
    with pytest.raises(ValidationError, match="type oauth2-client-credentials needs clientId, clientSecret"):
        AuthProfile.model_validate({"type": "oauth2-client-credentials", "tokenUrl": "u"})
    with pytest.raises(ValidationError, match="type bearer does not use username"):
        AuthProfile.model_validate({"type": "bearer", "token": SECRET, "username": "ada"})
    with pytest.raises(ValidationError, match="type api-key needs name, value"):
        AuthProfile.model_validate({"type": "api-key"})
    key = AuthProfile.model_validate({"type": "api-key", "in": "query", "name": "k", "value": {"env": "K"}})
    assert key.in_ == "query"
    AuthProfile.model_validate({"type": "oauth2-password", "tokenUrl": "u", "username": "u", "password": SECRET})


def test_a_credential_is_never_a_value_in_the_manifest() -> None:
    with pytest.raises(ValidationError, match="a credential is never written in the manifest"):
        AuthProfile.model_validate({"type": "bearer", "token": "abc"})
    with pytest.raises(ValidationError, match="exactly one of secretKeyRef, env or file"):
        AuthProfile.model_validate({"type": "bearer", "token": {"env": "T", "file": "/t"}})


def test_an_endpoint_template_or_step_naming_an_undeclared_profile_is_a_finding_at_its_path() -> None:
    manifest = {
        "apiVersion": "hivekeeper.io/v1alpha1",
        "kind": "Swarm",
        "metadata": {"name": "s"},
        "spec": {
            "sut": {"endpoints": {"default": {"baseUrl": "http://x", "auth": "ipd"}}},
            "auth": {"idp": {"type": "bearer", "token": SECRET}},
            "templates": [{"callId": "a", "auth": "x"}, {"callId": "b"}],
            "roles": [
                {
                    "name": "feed",
                    "role": "generator",
                    "work": {"out": "j"},
                    "config": {"inputs": {"type": "SCHEDULER"}, "message": {"body": "{}"}},
                },
                {
                    "name": "journey",
                    "role": "http-sequence",
                    "work": {"in": "j"},
                    "config": {
                        "baseUrl": "http://x",
                        "steps": [{"callId": "a"}, {"callId": "b", "auth": "idq"}],
                    },
                },
            ],
        },
    }
    findings = validate_text(yaml.safe_dump(manifest), "s").findings
    errors = {f.path: f.message for f in findings if f.severity == "error"}
    assert set(errors) == {
        "spec.sut.endpoints.default.auth",
        "spec.templates[0].auth",
        "spec.roles[1].config.steps[1].auth",
    }, errors
    assert (
        "auth profile 'ipd' (of sut.endpoints.default) is not declared (declared: idp)"
        in errors["spec.sut.endpoints.default.auth"]
    )
    assert "declare it under the Swarm's spec.auth.x" in errors["spec.templates[0].auth"]


def test_a_profile_name_must_be_a_dns_label() -> None:
    with pytest.raises(ValidationError, match="auth profile name 'Bad_Name' is not valid"):
        _swarm({"Bad_Name": {"type": "bearer", "token": SECRET}})


def test_the_workers_get_the_profiles_with_their_references_and_templates_without_a_profile_stay_as_they_were() -> None:
    swarm = _swarm(
        {"idp": {"type": "bearer", "token": SECRET}},
        templates=[{"callId": "a"}, {"callId": "b", "auth": "idp"}],
    )
    config = merged_role_config(swarm.spec, {})
    assert config["auth"] == {"idp": {"type": "bearer", "token": SECRET}}
    assert "auth" not in config["templates"][0]
    assert config["templates"][1]["auth"] == "idp"
    assert config["sut"] == {"endpoints": {}}
    assert "auth" not in merged_role_config(_swarm({}).spec, {})
    assert secret_names(config["auth"]) == ["hivekeeper-idp"]
