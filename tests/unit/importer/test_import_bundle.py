"""``hivekeeper import``: PocketHive bundles (files on disk, no services) to Swarm manifests, with findings."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from hivekeeper.api import roles as role_configs
from hivekeeper.api.manifests import load_swarm_text
from hivekeeper.api.swarm import MAX_TEMPLATES
from hivekeeper.importer.bundle import BundleError
from hivekeeper.importer.translate import ImportOptions, ImportResult, import_bundle
from hivekeeper.local.runner import bootstrap_config
from hivekeeper.validate.run import validate_text

BUNDLES = Path(__file__).resolve().parents[2] / "bundles"
GENERATOR = {"role": "gen", "image": "generator:latest", "work": {"out": {"out": "q"}}, "config": {}}
PROCESSOR = {
    "role": "proc",
    "image": "processor:latest",
    "work": {"in": {"in": "q"}},
    "config": {"baseUrl": "http://sut:8080"},
}


def _bundle(root: Path, bees: list[dict[str, Any]], files: dict[str, Any] | None = None, **top: Any) -> Path:
    """Write a bundle: scenario.yaml with ``bees`` (and ``top`` keys), plus ``files`` (path -> YAML data)."""
    scenario = {"protocolVersion": "2.0.0", "id": "demo", "name": "Demo", "template": {"bees": bees}, **top}
    for rel, data in {"scenario.yaml": scenario, **(files or {})}.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(data if isinstance(data, str) else yaml.safe_dump(data, sort_keys=False))
    return root


def _import(root: Path, **options: Any) -> ImportResult:
    return import_bundle(ImportOptions(bundle=root, **options))


def _codes(result: ImportResult) -> list[tuple[str, str]]:
    return [(f.severity, f.code) for f in result.findings]


def _role(result: ImportResult, name: str) -> dict[str, Any]:
    assert result.document is not None
    return next(r for r in result.document["spec"]["roles"] if r["name"] == name)


@pytest.mark.parametrize(
    ("bundle", "options", "expected"),
    [
        ("cards-pipeline", {}, [("warning", "role-renamed")]),
        ("onboarding-journey", {}, [("warning", "redis-connection-moved")]),
        (
            "cards-usage-redis",
            {},
            [("warning", "redis-connection-moved"), ("warning", "key-dropped"), ("warning", "redis-connection-moved")],
        ),
        (
            "customers-variables",
            {"sut": "local", "profile": "smoke"},
            [("warning", "var-inlined"), ("error", "spel-unsupported")],
        ),
        ("payments-oauth", {}, [("warning", "auth-secret")]),
        ("claims-oauth-short-ttl", {}, [("warning", "auth-secret")]),
        ("iso-switch", {}, [("warning", "key-dropped")]),
    ],
)
def test_each_test_bundle_imports_with_exactly_its_expected_findings_and_passes_validate(
    bundle: str, options: dict[str, str], expected: list[tuple[str, str]]
) -> None:
    result = _import(BUNDLES / bundle, **options)
    assert _codes(result) == expected
    swarm = load_swarm_text(result.text, bundle)
    assert swarm.metadata.name == bundle
    for role in swarm.spec.roles:
        assert role.role is not None
        role_configs.validate(role.role, bootstrap_config(swarm, role.config))
    checked = validate_text(result.text, bundle)
    errors = [f.code for f in checked.findings if f.severity == "error"]
    # the one thing an import may leave is an untranslated SpEL call it reported: validate flags it too
    expected_errors = ["template-unknown-function"] if ("error", "spel-unsupported") in expected else []
    assert errors == expected_errors
    assert checked.checked == 1


def test_importing_twice_gives_the_same_text_with_no_date_in_it() -> None:
    first = _import(BUNDLES / "customers-variables", sut="local", profile="smoke").text
    assert first == _import(BUNDLES / "customers-variables", sut="local", profile="smoke").text
    assert first.startswith(
        "# Imported by `hivekeeper import` from the PocketHive scenario bundle 'customers-variables'.\n"
    )
    assert "# SUT: local; variables profile: smoke; import findings: 1 errors, 1 warnings.\n" in first
    assert "202" not in first.split("apiVersion")[0], "the header carries no date"


def test_redis_connection_keys_are_dropped_and_a_password_reaches_neither_manifest_nor_findings(tmp_path: Path) -> None:
    bee = {
        **PROCESSOR,
        "config": {
            "baseUrl": "http://sut:8080",
            "redis": {"enabled": True, "host": "redis", "password": "s3cret-one"},
            "outputs": {
                "type": "REDIS",
                "redis": {"host": "redis", "port": 6379, "password": "s3cret-two", "defaultList": "done"},
            },
        },
    }
    result = _import(_bundle(tmp_path, [GENERATOR, bee]))
    assert _codes(result) == [("warning", "redis-connection-moved")] * 2
    assert _role(result, "proc")["config"]["outputs"] == {"type": "REDIS", "redis": {"defaultList": "done"}}
    shown = result.text + "".join(f"{f.message} {f.fix}" for f in result.findings)
    assert "s3cret" not in shown
    assert "host='redis', port=6379, password=<not shown>" in result.findings[1].message
    assert result.findings[1].path == "template.bees[1].config.outputs.redis"


def test_another_protocol_major_is_refused_with_a_finding_and_no_manifest(tmp_path: Path) -> None:
    result = _import(_bundle(tmp_path, [GENERATOR], protocolVersion="3.0.0"))
    assert (result.document, result.text) == (None, "")
    [finding] = result.findings
    assert (finding.severity, finding.code, finding.path, finding.line) == (
        "error",
        "protocol-version",
        "protocolVersion",
        1,
    )
    assert "'3.0.0'" in finding.message


def test_a_missing_protocol_version_is_read_as_2x_with_a_warning(tmp_path: Path) -> None:
    root = _bundle(tmp_path, [GENERATOR])
    scenario = yaml.safe_load((root / "scenario.yaml").read_text())
    del scenario["protocolVersion"]
    (root / "scenario.yaml").write_text(yaml.safe_dump(scenario))
    result = _import(root)
    assert _codes(result) == [("warning", "protocol-version")]
    assert result.document is not None


def test_repeated_and_invalid_bee_roles_become_unique_valid_stage_names(tmp_path: Path) -> None:
    bees = [GENERATOR, {**PROCESSOR, "role": "Http_Caller"}, {**PROCESSOR, "role": "Http_Caller"}]
    result = _import(_bundle(tmp_path, bees))
    assert [r["name"] for r in result.document["spec"]["roles"]] == ["gen", "http-caller", "http-caller-2"]
    assert _codes(result) == [("warning", "role-renamed")] * 2
    assert "'Http_Caller' is not a valid stage name" in result.findings[0].message
    assert "'Http_Caller' is not a valid stage name" in result.findings[1].message
    assert "and becomes 'http-caller', taken by an earlier bee; its stage is named 'http-caller-2'" in (
        result.findings[1].message
    )


def test_queue_suffixes_become_valid_aliases_and_the_same_suffix_the_same_alias(tmp_path: Path) -> None:
    bees = [
        {**GENERATOR, "work": {"out": {"out": "Work_Queue.1"}}},
        {**PROCESSOR, "work": {"in": {"in": "Work_Queue.1"}, "out": {"out": "dead-letters"}}},
        {"role": "post", "image": "postprocessor:latest", "work": {"in": {"in": "dead-letters"}}},
    ]
    result = _import(_bundle(tmp_path, bees))
    assert [r.get("work") for r in result.document["spec"]["roles"]] == [
        {"out": "work-queue-1"},
        {"in": "work-queue-1", "out": "dead-letters-work"},
        {"in": "dead-letters-work"},
    ]
    assert {f.code for f in result.findings} == {"alias-renamed"}
    load_swarm_text(result.text)


@pytest.mark.parametrize(
    ("image", "role"),
    [
        ("generator:latest", "generator"),
        ("ghcr.io/acme/pockethive-request-builder:0.14.2", "request-builder"),
        ("registry.local:5000/http-sequence-service@sha256:abc", "http-sequence"),
        ("postprocessor", "postprocessor"),
    ],
)
def test_images_of_known_pockethive_roles_become_built_in_roles(tmp_path: Path, image: str, role: str) -> None:
    bee = {"role": "stage", "image": image, "work": {"in": {"in": "q"}}, "config": {}}
    if role == "http-sequence":
        bee["config"] = {"baseUrl": "http://sut", "steps": [{"callId": "c"}]}
    result = _import(_bundle(tmp_path, [GENERATOR, bee]))
    assert _role(result, "stage")["role"] == role


def test_an_unknown_image_is_kept_as_a_pockethive_worker_image_with_a_warning(tmp_path: Path) -> None:
    bee = {"role": "trigger", "image": "trigger:latest", "work": {}, "config": {"intervalMs": 500}}
    result = _import(_bundle(tmp_path, [GENERATOR, PROCESSOR, bee]))
    assert _role(result, "trigger") == {
        "name": "trigger",
        "image": "trigger:latest",
        "protocol": "pockethive",
        "config": {"intervalMs": 500},
    }, "a bee image is a PocketHive worker: its pods get their environment"
    [finding] = result.findings
    assert (finding.severity, finding.code, finding.path) == ("warning", "custom-image", "template.bees[2].image")
    assert "'trigger:latest'" in finding.message


def test_a_pass_through_moderator_is_folded_away_and_a_shaping_one_becomes_a_moderator_role(tmp_path: Path) -> None:
    moderator = {"role": "mod", "image": "moderator:latest", "work": {"in": {"in": "q"}, "out": {"out": "shaped"}}}
    caller = {**PROCESSOR, "work": {"in": {"in": "shaped"}}}
    passing = _import(
        _bundle(tmp_path / "a", [GENERATOR, {**moderator, "config": {"mode": {"type": "pass-through"}}}, caller])
    )
    assert [(r["name"], r["work"]) for r in passing.document["spec"]["roles"]] == [
        ("gen", {"out": "q"}),
        ("proc", {"in": "q"}),
    ], "the generator publishes straight to the queue the processor reads"
    assert _codes(passing) == [("warning", "moderator-folded")]
    load_swarm_text(passing.text)

    wave = {"type": "SINE", "sine": {"minRatePerSec": 5, "maxRatePerSec": 50, "periodSeconds": 30}}
    shaping = _import(_bundle(tmp_path / "b", [GENERATOR, {**moderator, "config": {"mode": wave}}, caller]))
    assert _codes(shaping) == []
    [_, gate, _] = shaping.document["spec"]["roles"]
    assert (gate["name"], gate["role"], gate["work"]) == ("mod", "moderator", {"in": "q", "out": "shaped"})
    assert gate["config"]["mode"] == {**wave, "type": "sine"}, "PocketHive's spelling of the type, ours"
    load_swarm_text(shaping.text)

    paced = {"type": "rate_per_sec", "ratePerSec": 0}
    refused = _import(_bundle(tmp_path / "c", [GENERATOR, {**moderator, "config": {"mode": paced}}, caller]))
    [finding] = refused.findings
    assert (finding.severity, finding.path) == ("error", "template.bees[1].config.mode")
    assert "mode.type rate-per-sec needs mode.ratePerSec > 0" in finding.message


def test_templates_without_service_id_take_the_request_builders_and_non_http_auth_and_duplicates_are_findings(
    tmp_path: Path,
) -> None:
    builder = {
        "role": "builder",
        "image": "request-builder:latest",
        "work": {"in": {"in": "q"}, "out": {"out": "c"}},
        "config": {"serviceId": "cards", "templateRoot": "/app/scenario/templates/http"},
    }
    caller = {**PROCESSOR, "work": {"in": {"in": "c"}}}
    files = {
        "templates/http/a.yaml": {"callId": "balance", "protocol": "HTTP", "method": "GET", "pathTemplate": "/b"},
        "templates/http/b.yaml": {"callId": "balance", "protocol": "HTTP", "pathTemplate": "/again"},
        "templates/iso/c.yaml": {"callId": "ping", "protocol": "ISO8583", "bodyTemplate": "PING"},
        "templates/http/d.yaml": {
            "serviceId": "auth",
            "callId": "me",
            "protocol": "HTTP",
            "pathTemplate": "/me",
            "authRef": {"profileId": "signer", "applyAs": "HMAC_HEADER", "headerName": "X-Signature"},
            "resultRules": {"successRegex": "ok"},
            "schemaRef": "schemas/me.json",
        },
    }
    files["authProfiles.yaml"] = {"profiles": {"signer": {"type": "HMAC_SIGNATURE", "secretKey": "x"}}}
    generator = {**GENERATOR, "config": {"message": {"headers": {"x-ph-call-id": "balance"}}}}
    result = _import(_bundle(tmp_path, [generator, builder, caller], files))
    assert result.document["spec"]["templates"] == [
        {"serviceId": "cards", "callId": "balance", "method": "GET", "pathTemplate": "/b"},
        {
            "serviceId": "auth",
            "callId": "me",
            "pathTemplate": "/me",
            "auth": "signer",
            "resultRules": {"successRegex": "ok"},
        },
    ], "the profile is named but not declared: validate refuses the call until one is"
    assert [(f.code, f.file.rsplit("/", 1)[-1], f.path) for f in result.findings] == [
        ("template-duplicate", "b.yaml", "callId"),
        ("auth-unsupported", "d.yaml", "authRef"),
        ("protocol-unsupported", "c.yaml", "protocol"),
    ]
    assert (
        "auth profile 'signer' (type HMAC_SIGNATURE, applyAs HMAC_HEADER) has no hivekeeper equivalent"
        in result.findings[1].message
    )


def test_more_templates_than_a_swarm_holds_are_cut_at_the_limit_with_the_count_and_the_limit(tmp_path: Path) -> None:
    count = MAX_TEMPLATES + 3
    files = {f"templates/http/t{i:03d}.yaml": {"callId": f"c{i:03d}", "protocol": "HTTP"} for i in range(count)}
    result = _import(_bundle(tmp_path, [GENERATOR, PROCESSOR], files))
    assert len(result.document["spec"]["templates"]) == MAX_TEMPLATES
    [finding] = [f for f in result.findings if f.code == "too-many-templates"]
    assert finding.severity == "warning", "a call left out is an error only where it is called (template-missing)"
    assert f"{count} call templates; a Swarm holds at most {MAX_TEMPLATES}: 3 were left out" in finding.message


def _sut(url: str, **extra: Any) -> dict[str, Any]:
    return {"endpoints": {"default": {"kind": "http", "baseUrl": url, **extra}}}


def test_the_sut_is_the_only_one_or_the_one_asked_for_and_fills_spec_sut(tmp_path: Path) -> None:
    files = {"sut/a/sut.yaml": _sut("http://a:1"), "sut/b/sut.yaml": _sut("http://b:2")}
    root = _bundle(
        tmp_path, [GENERATOR, {**PROCESSOR, "config": {"baseUrl": "{{ sut.endpoints['default'].baseUrl }}"}}], files
    )
    chosen = _import(root, sut="b")
    assert chosen.document["spec"]["sut"] == {"endpoints": {"default": {"baseUrl": "http://b:2"}}}
    assert _role(chosen, "proc")["config"]["baseUrl"] == "{{ sut.endpoints.default.baseUrl }}"
    assert chosen.findings == []
    unchosen = _import(root)
    assert _codes(unchosen) == [("error", "sut-required")]
    assert "several suts (a, b) and --sut was not given; this output used 'a'" in unchosen.findings[0].message
    unknown = _import(root, sut="c")
    assert [f.code for f in unknown.findings] == ["sut-unknown", "sut-endpoint-undefined"]


def test_an_upstream_base_url_is_inlined_and_a_missing_endpoint_is_an_error(tmp_path: Path) -> None:
    config = {"baseUrl": "{{ sut.endpoints['default'].upstreamBaseUrl }}", "request": {"path": "/x"}}
    files = {"sut/a/sut.yaml": _sut("http://a:1", upstreamBaseUrl="http://up:9")}
    result = _import(_bundle(tmp_path, [GENERATOR, {**PROCESSOR, "config": config}], files))
    assert _role(result, "proc")["config"]["baseUrl"] == "{{ 'http://up:9' }}"
    missing = {**PROCESSOR, "config": {"baseUrl": "{{ sut.endpoints['payments'].baseUrl }}"}}
    result = _import(_bundle(tmp_path / "b", [GENERATOR, missing], files))
    [finding] = result.findings
    assert (finding.code, finding.path) == ("sut-endpoint-undefined", "template.bees[1].config.baseUrl")
    assert "sut.endpoints.payments" in finding.message


def test_variables_come_from_the_profile_and_the_sut_and_their_problems_are_findings(tmp_path: Path) -> None:
    variables = {
        "version": 1,
        "definitions": [
            {"name": "who", "scope": "global", "type": "string", "required": True},
            {"name": "count", "scope": "global", "type": "int", "required": True},
            {"name": "tenant", "scope": "sut", "type": "string", "required": True},
        ],
        "profiles": [{"id": "p1"}, {"id": "p2"}],
        "values": {
            "global": {"p1": {"who": "ann", "count": 2}, "p2": {"who": "bob", "count": "many"}},
            "sut": {"p1": {"a": {"tenant": "t-a"}}},
        },
    }
    generator = {**GENERATOR, "config": {"message": {"body": "{{ vars.who }} {{ vars.tenant }} {{ vars.nope }}"}}}
    root = _bundle(tmp_path, [generator, PROCESSOR], {"variables.yaml": variables, "sut/a/sut.yaml": _sut("http://a")})
    good = _import(root, profile="p1")
    assert good.document["spec"]["vars"] == {"who": "ann", "count": 2, "tenant": "t-a"}
    assert [(f.code, f.path) for f in good.findings] == [("var-undefined", "template.bees[0].config.message.body")]
    assert "vars.nope is read here but has no value (variables: count, tenant, who)" in good.findings[0].message
    bad = _import(root, profile="p2")
    assert [f.code for f in bad.findings] == ["var-undefined", "var-undefined", "var-type", "var-missing"]
    assert "variable 'count' is declared int but is 'many'" in bad.findings[2].message
    assert "required variable 'tenant' has no value in values.sut.p2.a" in bad.findings[3].message
    assert next(f.code for f in _import(root).findings) == "profile-required"
    assert next(f.code for f in _import(root, profile="p9").findings) == "profile-unknown"


def test_unknown_pockethive_keys_are_dropped_with_a_warning_and_behaviour_changing_ones_with_an_error(
    tmp_path: Path,
) -> None:
    generator = {
        **GENERATOR,
        "config": {"historyPolicy": "LATEST_ONLY", "inputs": {"scheduler": {"tickIntervalMs": 100}}},
    }
    journey = {
        "role": "journey",
        "image": "http-sequence:latest",
        "work": {"in": {"in": "q"}},
        "config": {
            "baseUrl": "http://sut",
            "steps": [{"callId": "poll", "retry": {"maxAttempts": 3, "whileJson": [{"fromJsonPointer": "/s"}]}}],
        },
    }
    poll = {"templates/http/poll.yaml": {"callId": "poll", "protocol": "HTTP"}}
    result = _import(_bundle(tmp_path, [generator, journey], poll))
    assert [(f.severity, f.code, f.path) for f in result.findings] == [
        ("warning", "key-dropped", "template.bees[0].config.historyPolicy"),
        ("warning", "key-dropped", "template.bees[0].config.inputs.scheduler.tickIntervalMs"),
        ("error", "key-unsupported", "template.bees[1].config.steps[0].retry.whileJson"),
    ]
    assert "historyPolicy: 'LATEST_ONLY'" in result.findings[0].message
    kept = {"callId": "poll", "retry": {"maxAttempts": 3, "whileJson": [{"fromJsonPointer": "/s"}]}}
    assert _role(result, "journey")["config"]["steps"] == [kept], "left in place: the role refuses it until adapted"
    assert validate_text(result.text).errors == 1, "validate refuses the manifest for the same key"


def test_transports_are_mapped_and_a_csv_input_keeps_its_keys_with_a_note_on_its_file(tmp_path: Path) -> None:
    generator = {
        **GENERATOR,
        "config": {
            "inputs": {"type": "CSV_DATASET", "csv": {"filePath": "/data/x.csv", "rotate": True, "ratePerSec": 5}},
            "outputs": {"type": "ARTEMIS", "artemis": {"persistent": True}},
        },
    }
    processor = {
        **PROCESSOR,
        "config": {"baseUrl": "http://s", "inputs": {"type": "RABBITMQ", "rabbit": {"prefetch": 5}}},
    }
    result = _import(_bundle(tmp_path, [generator, processor]))
    assert _role(result, "gen")["config"] == {
        "inputs": {"type": "CSV_DATASET", "csv": {"filePath": "/data/x.csv", "ratePerSec": 5, "rotate": True}},
        "outputs": {"type": "RABBITMQ"},
    }
    assert _role(result, "proc")["config"]["inputs"] == {"type": "RABBITMQ", "rabbitmq": {"prefetch": 5}}
    assert _codes(result) == [("warning", "csv-file"), ("warning", "transport-mapped")]
    assert "/data/x.csv" in result.findings[0].message


def test_a_csv_file_in_the_bundle_becomes_a_relative_path_and_unread_keys_are_named(tmp_path: Path) -> None:
    csv = {
        "filePath": "/app/scenario/datasets/cards.csv",
        "charset": "ISO-8859-2",
        "skipHeader": False,
        "startupDelaySeconds": 3,
        "tickIntervalMs": 1000,
    }
    generator = {**GENERATOR, "config": {"inputs": {"type": "CSV_DATASET", "csv": csv}}}
    result = _import(_bundle(tmp_path, [generator, PROCESSOR]))
    assert _role(result, "gen")["config"]["inputs"]["csv"] == {
        "filePath": "datasets/cards.csv",
        "charset": "ISO-8859-2",  # left in place: the role refuses it until the file is UTF-8 and the key removed
    }
    assert _codes(result) == [  # in file order: the csv block, then filePath, charset, skipHeader
        ("warning", "csv-keys-dropped"),
        ("warning", "csv-file"),
        ("error", "csv-charset"),
        ("warning", "csv-header"),
    ]
    assert "startupDelaySeconds, tickIntervalMs" in result.findings[0].message


def test_a_buffer_guard_traffic_policy_becomes_the_producers_buffer_guard(tmp_path: Path) -> None:
    guard = {
        "enabled": True,
        "queueAlias": "q",
        "targetDepth": 200,
        "minDepth": 50,
        "maxDepth": 1000,
        "samplePeriod": "PT5S",
        "adjust": {"minRatePerSec": 2, "maxRatePerSec": 100, "maxIncreasePct": 10, "maxDecreasePct": 50},
    }
    result = _import(_bundle(tmp_path, [GENERATOR, PROCESSOR], trafficPolicy={"bufferGuard": guard}))
    assert _role(result, "gen")["config"]["bufferGuard"] == {"queue": "q", "high": 1000, "low": 200, "minRatePerSec": 2}
    assert "bufferGuard" not in _role(result, "proc")["config"]
    assert _codes(result) == [("warning", "buffer-guard-translated")]
    assert "samplePeriod" in result.findings[0].message
    assert not [f for f in validate_text(result.text, "guard").findings if f.severity == "error"]


def test_a_number_written_as_a_variable_is_inlined_and_a_template_key_is_not(tmp_path: Path) -> None:
    generator = {
        **GENERATOR,
        "config": {"inputs": {"scheduler": {"ratePerSec": "{{ vars.rate }}"}}, "message": {"body": "{{ vars.rate }}"}},
    }
    variables = {"values": {"global": {"only": {"rate": 12}}}}
    result = _import(_bundle(tmp_path, [generator, PROCESSOR], {"variables.yaml": variables}))
    config = _role(result, "gen")["config"]
    assert (config["inputs"]["scheduler"]["ratePerSec"], config["message"]["body"]) == (12, "{{ vars.rate }}")
    assert _codes(result) == [("warning", "var-inlined")]


def test_a_redis_sink_postprocessor_after_an_http_sequence_becomes_its_redis_uploader(tmp_path: Path) -> None:
    journey = {
        "id": "onboardJourney",
        "role": "http-sequence",
        "image": "http-sequence:latest",
        "work": {"in": {"in": "q"}, "out": {"out": "done"}},
        "config": {"worker": {"baseUrl": "http://sut", "steps": [{"callId": "c"}]}},
    }
    redis = {"host": "redis", "sourceStep": "LAST", "targetListTemplate": "{{ vars.list }}"}
    sink = {
        "id": "sink",
        "role": "postprocessor",
        "image": "postprocessor:latest",
        "work": {"in": {"in": "done"}},
        "config": {"outputs": {"type": "REDIS", "redis": redis}, "worker": {"forwardToOutput": True}},
    }
    variables = {"values": {"global": {"only": {"list": "customers"}}}}
    files = {"variables.yaml": variables, "templates/http/c.yaml": {"callId": "c", "protocol": "HTTP"}}
    result = _import(_bundle(tmp_path, [GENERATOR, journey, sink], files))
    assert [r["name"] for r in result.document["spec"]["roles"]] == ["gen", "onboard-journey"]
    journey_role = _role(result, "onboard-journey")
    assert journey_role["work"] == {"in": "q"}
    assert journey_role["config"]["interceptors"] == {
        "redisUploader": {"sourceStep": "LAST", "targetListTemplate": "{{ vars.list }}", "phase": "AFTER"}
    }
    assert [f.code for f in result.findings] == ["role-renamed", "journey-sink-folded", "redis-connection-moved"]
    assert result.findings[0].path == "template.bees[1].id"
    assert load_swarm_text(result.text).spec.roles[1].config["interceptors"]["redisUploader"]["phase"] == "AFTER"


def test_a_boolean_variable_printed_alone_is_rendered_as_json_true_or_false(tmp_path: Path) -> None:
    generator = {**GENERATOR, "config": {"message": {"body": '{"on": {{ vars.flag }}, "n": {{ vars.n }}}'}}}
    variables = {"values": {"global": {"only": {"flag": False, "n": 3}}}}
    result = _import(_bundle(tmp_path, [generator, PROCESSOR], {"variables.yaml": variables}))
    assert _role(result, "gen")["config"]["message"]["body"] == '{"on": {{ vars.flag | tojson }}, "n": {{ vars.n }}}'


def test_a_postprocessor_after_an_http_sequence_is_an_error(tmp_path: Path) -> None:
    journey = {
        "role": "journey",
        "image": "http-sequence:latest",
        "work": {"in": {"in": "q"}, "out": {"out": "done"}},
        "config": {"baseUrl": "http://sut", "steps": [{"callId": "c"}]},
    }
    post = {"role": "sink", "image": "postprocessor:latest", "work": {"in": {"in": "done"}}}
    call = {"templates/http/c.yaml": {"callId": "c", "protocol": "HTTP"}}
    result = _import(_bundle(tmp_path, [GENERATOR, journey, post], call))
    [finding] = result.findings
    assert (finding.code, finding.path) == ("postprocessor-after-journey", "template.bees[2].work.in")
    assert "interceptors.redisUploader" in finding.fix
    [again] = validate_text(result.text).findings
    assert (again.code, again.path) == ("postprocessor-after-journey", "spec.roles[2].work.in"), "validate says it too"


def test_several_work_ports_keep_the_first_with_a_warning_and_an_unread_redis_output_queue_is_dropped(
    tmp_path: Path,
) -> None:
    generator = {**GENERATOR, "work": {"out": {"out": "q", "copy": "q2"}}}
    processor = {**PROCESSOR, "work": {"in": {"in": "q"}, "out": {"out": "never-read"}}}
    processor["config"] = {"baseUrl": "http://s", "outputs": {"type": "REDIS", "redis": {"defaultList": "l"}}}
    result = _import(_bundle(tmp_path, [generator, processor]))
    assert _role(result, "gen")["work"] == {"out": "q"}
    assert _role(result, "proc")["work"] == {"in": "q"}
    assert _codes(result) == [("warning", "work-multiple-ports"), ("warning", "work-out-unused")]


def test_topology_edges_that_disagree_with_the_work_ports_are_a_warning(tmp_path: Path) -> None:
    edges = [{"id": "e1", "from": {"role": "gen", "port": "out"}, "to": {"role": "proc", "port": "other"}}]
    result = _import(_bundle(tmp_path, [GENERATOR, PROCESSOR], topology={"version": 1, "edges": edges}))
    assert _codes(result) == [("warning", "topology-mismatch")]
    assert "edge 'e1' (gen.out -> proc.other)" in result.findings[0].message


def test_findings_name_the_bundle_file_and_the_line_of_the_key(tmp_path: Path) -> None:
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "scenario.yaml").write_text(
        'protocolVersion: "2.0.0"\nid: x\ntemplate:\n  bees:\n    - role: gen\n      image: generator:latest\n'
        "      work: {out: {out: q}}\n      config:\n        historyPolicy: DISABLED\n"
    )
    result = _import(tmp_path / "b")
    [finding] = result.findings
    assert (finding.file, finding.line) == (f"{tmp_path / 'b'}/scenario.yaml", 9)


@pytest.mark.parametrize(
    ("setup", "problem"),
    [
        (lambda root: None, "not a folder"),
        (lambda root: root.mkdir(), "no scenario.yaml in this folder"),
        (lambda root: (root.mkdir(), (root / "scenario.yaml").write_text("id: [unclosed\n")), "not valid YAML"),
        (lambda root: (root.mkdir(), (root / "scenario.yaml").write_text("- a list\n")), "expected a mapping"),
    ],
)
def test_an_unreadable_bundle_raises_bundle_error_naming_the_problem(tmp_path: Path, setup: Any, problem: str) -> None:
    root = tmp_path / "bundle"
    setup(root)
    with pytest.raises(BundleError, match=problem):
        _import(root)


def test_tcp_templates_transport_settings_and_tcp_base_urls_are_imported(tmp_path: Path) -> None:
    builder = {
        "role": "builder",
        "image": "request-builder:latest",
        "work": {"in": {"in": "q"}, "out": {"out": "c"}},
        "config": {"serviceId": "iso", "templateRoot": "/app/scenario/templates"},
    }
    transport = {"type": "socket", "connectTimeoutMs": 2000, "maxBytes": 4096, "maxRetries": 1, "tcpNoDelay": True}
    caller = {
        **PROCESSOR,
        "work": {"in": {"in": "c"}},
        "config": {"baseUrl": "tcps://switch:9443", "tcpTransport": transport},
    }
    files = {
        "templates/auth.yaml": {
            "callId": "auth",
            "protocol": "TCP",
            "behavior": "LENGTH_PREFIX_2B",
            "transport": "socket",
            "maxBytes": 2048,
            "bodyTemplate": "0200{{ payload.pan }}",
            "method": "POST",
        },
        "templates/ping.yaml": {"callId": "ping", "protocol": "TCP", "behavior": "REQUEST_RESPONSE", "endTag": "\n"},
    }
    generator = {**GENERATOR, "config": {"message": {"headers": {"x-ph-call-id": "auth"}}}}
    result = _import(_bundle(tmp_path, [generator, builder, caller], files))
    assert result.document["spec"]["templates"] == [
        {
            "serviceId": "iso",
            "callId": "auth",
            "protocol": "TCP",
            "behavior": "LENGTH_PREFIX_2B",
            "maxBytes": 2048,
            "bodyTemplate": "0200{{ payload.pan }}",
        },
        {"serviceId": "iso", "callId": "ping", "protocol": "TCP", "behavior": "REQUEST_RESPONSE", "endTag": "\n"},
    ]
    [processor] = [r for r in result.document["spec"]["roles"] if r["role"] == "processor"]
    assert processor["config"]["baseUrl"] == "tcps://switch:9443"
    assert processor["config"]["tcpTransport"] == {"connectTimeoutMs": 2000, "maxBytes": 4096, "maxRetries": 1}
    found = [(f.code, f.path) for f in result.findings]
    assert ("key-dropped", "method") in found, "an HTTP key on a TCP call has no meaning there"
    assert ("key-dropped", "template.bees[2].config.tcpTransport.type") in found
    assert ("key-dropped", "template.bees[2].config.tcpTransport.tcpNoDelay") in found
    assert ("ssl-verify-default", "template.bees[2].config.baseUrl") in found
    assert not [f for f in result.findings if f.code in ("protocol-unsupported", "key-unsupported")]
