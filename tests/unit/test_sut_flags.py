"""``hivekeeper run --sut URL``, ``--sut NAME=URL`` (repeatable) and ``--demo-sut`` aim every SUT endpoint a
manifest uses; flags that contradict each other are refused, naming the flag and the fix."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from hivekeeper.api.swarm import Swarm
from hivekeeper.cli import main
from hivekeeper.local import endpoints
from hivekeeper.local.endpoints import SutFlagError, SutFlags

ROLES = [{"name": "gen", "role": "generator", "config": {"message": {"body": "x"}}}]


def swarm(name: str = "s", **endpoint_urls: str) -> Swarm:
    spec: dict[str, Any] = {"roles": ROLES}
    if endpoint_urls:
        spec["sut"] = {"endpoints": {k: {"baseUrl": v} for k, v in endpoint_urls.items()}}
    return Swarm.model_validate({"metadata": {"name": name}, "spec": spec})


def urls(aimed: Swarm | list[Swarm]) -> dict[str, str]:
    assert isinstance(aimed, Swarm)
    return {name: e.baseUrl for name, e in aimed.spec.sut.endpoints.items()}


CLUSTER = {"default": "http://cards:8080", "auth": "http://auth:8080", "payments": "http://pay:8080"}


def test_a_bare_url_aims_the_default_endpoint_and_named_ones_their_endpoint() -> None:
    flags = endpoints.parse(["http://127.0.0.1:1", "auth=http://127.0.0.1:2"], demo=False)
    assert flags.urls == {"default": "http://127.0.0.1:1", "auth": "http://127.0.0.1:2"}
    assert urls(endpoints.aim(swarm(**CLUSTER), flags, None)) == {
        "default": "http://127.0.0.1:1",
        "auth": "http://127.0.0.1:2",
        "payments": "http://pay:8080",
    }


def test_a_url_with_an_equals_sign_in_its_query_is_still_the_default_endpoints() -> None:
    assert endpoints.parse(["http://h:1/?a=b"], demo=False).urls == {"default": "http://h:1/?a=b"}


def test_the_demo_serves_every_endpoint_no_sut_names() -> None:
    flags = endpoints.parse(["auth=http://127.0.0.1:2"], demo=True)
    assert urls(endpoints.aim(swarm(**CLUSTER), flags, "http://demo:9")) == {
        "default": "http://demo:9",
        "auth": "http://127.0.0.1:2",
        "payments": "http://demo:9",
    }


def test_the_demo_serves_default_in_a_manifest_that_names_no_endpoint() -> None:
    assert urls(endpoints.aim(swarm(), SutFlags(demo=True), "http://demo:9")) == {"default": "http://demo:9"}


def test_a_named_endpoint_is_set_only_in_the_manifests_that_have_it() -> None:
    flags = endpoints.parse(["auth=http://127.0.0.1:2"], demo=False)
    aimed = endpoints.aim([swarm("a", **CLUSTER), swarm("b", default="http://x:1")], flags, None)
    assert isinstance(aimed, list)
    assert [set(s.spec.sut.endpoints) for s in aimed] == [set(CLUSTER), {"default"}]
    assert aimed[0].spec.sut.endpoints["auth"].baseUrl == "http://127.0.0.1:2"


@pytest.mark.parametrize(
    ("values", "said"),
    [
        (["http://a:1", "http://b:1"], "--sut URL is given twice for the endpoint 'default'"),
        (["auth=http://a:1", "auth=http://b:1"], "--sut auth=URL is given twice for the endpoint 'auth'"),
        (["http://a:1", "default=http://b:1"], "given twice for the endpoint 'default'"),
        (["auth=cards:8080"], "--sut auth=cards:8080: 'cards:8080' is not an http(s) or tcp(s) URL"),
    ],
)
def test_one_endpoint_given_twice_or_a_value_that_is_no_url_is_refused(values: list[str], said: str) -> None:
    with pytest.raises(SutFlagError) as caught:
        endpoints.parse(values, demo=False)
    assert said in str(caught.value)


def test_a_name_no_manifest_has_is_refused_with_the_names_it_has() -> None:
    flags = endpoints.parse(["auht=http://a:1"], demo=False)
    with pytest.raises(SutFlagError) as caught:
        endpoints.check(flags, [swarm(**CLUSTER)])
    assert "--sut auht=http://a:1: no manifest has an endpoint 'auht' (endpoints: auth, default, payments)" in str(
        caught.value
    )
    assert "add spec.sut.endpoints.auht" in str(caught.value)


def test_the_demo_with_every_endpoint_aimed_elsewhere_is_refused() -> None:
    flags = endpoints.parse(["http://a:1", "auth=http://a:2"], demo=True)
    with pytest.raises(SutFlagError) as caught:
        endpoints.check(flags, [swarm(default="http://x", auth="http://y")])
    assert "--demo-sut has no endpoint to serve: --sut aims every one (auth, default)" in str(caught.value)
    endpoints.check(endpoints.parse(["auth=http://a:2"], demo=True), [swarm(default="http://x", auth="http://y")])


def test_the_cli_refuses_contradicting_flags_with_exit_code_2_before_running(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    manifest = tmp_path / "s.yaml"
    manifest.write_text(swarm(**CLUSTER).model_dump_json(by_alias=True))
    code = main(["run", str(manifest), "--sut", "nope=http://127.0.0.1:1", "--duration", "1"])
    assert code == 2
    assert "error: --sut nope=http://127.0.0.1:1: no manifest has an endpoint 'nope'" in capsys.readouterr().err


def test_demo_sut_aims_tcp_endpoints_at_the_tcp_demo_in_the_mode_their_templates_need() -> None:
    data = {
        "metadata": {"name": "iso"},
        "spec": {
            "sut": {"endpoints": {"switch": {"baseUrl": "tcps://switch:9443"}, "web": {"baseUrl": "http://web"}}},
            "templates": [{"callId": "a", "protocol": "TCP", "behavior": "REQUEST_RESPONSE", "endTag": "\r\n"}],
            "roles": ROLES,
        },
    }
    iso = Swarm.model_validate(data)
    flags = SutFlags(demo=True)
    assert endpoints.tcp_demo_names(iso, flags) == {"switch"}
    assert endpoints.tcp_mode([iso]) == ("end-tag", "\r\n")
    aimed = urls(endpoints.aim(iso, flags, "http://127.0.0.1:1", "tcp://127.0.0.1:2"))
    assert aimed == {"switch": "tcp://127.0.0.1:2", "web": "http://127.0.0.1:1", "default": "http://127.0.0.1:1"}


def test_demo_sut_refuses_tcp_templates_that_need_different_demo_modes() -> None:
    templates = [
        {"callId": "a", "protocol": "TCP", "behavior": "LENGTH_PREFIX_2B"},
        {"callId": "b", "protocol": "TCP", "behavior": "ECHO"},
    ]
    data = {"metadata": {"name": "iso"}, "spec": {"templates": templates, "roles": ROLES}}
    with pytest.raises(SutFlagError, match=r"default::a needs length-prefix; default::b needs echo"):
        endpoints.tcp_mode([Swarm.model_validate(data)])
