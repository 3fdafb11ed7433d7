"""Auth profiles in the Swarm: declared once, named by endpoints and templates, each type with its own keys,
credentials only as references; and what a role's workers get of them."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from hivekeeper.api.auth import AuthProfile, secret_names
from hivekeeper.api.swarm import Swarm, merged_role_config

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


def test_an_endpoint_or_template_naming_an_undeclared_profile_is_refused_with_the_declared_ones() -> None:
    with pytest.raises(ValidationError) as refused:
        _swarm(
            {"idp": {"type": "bearer", "token": SECRET}},
            sut={"endpoints": {"default": {"baseUrl": "http://x", "auth": "ipd"}}},
        )
    assert "sut.endpoints.default.auth names auth profile 'ipd'" in str(refused.value)
    assert "declared profiles: idp" in str(refused.value)
    with pytest.raises(ValidationError, match=r"templates\[0\].auth \(default::a\) names auth profile 'x'"):
        _swarm({}, templates=[{"callId": "a", "auth": "x"}])


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
