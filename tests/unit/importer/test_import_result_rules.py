"""``hivekeeper import`` carries a call template's ``resultRules`` onto ``spec.templates[].resultRules``; what
cannot be carried as it is has a finding, placed in the bundle file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from hivekeeper.importer.translate import ImportOptions, ImportResult, import_bundle

GENERATOR = {
    "role": "gen",
    "image": "generator:latest",
    "work": {"out": {"out": "b"}},
    "config": {"message": {"body": "{}", "headers": {"x-ph-call-id": "pay"}}},
}
BUILDER = {
    "role": "builder",
    "image": "request-builder:latest",
    "work": {"in": {"in": "b"}, "out": {"out": "c"}},
    "config": {"serviceId": "payments", "templateRoot": "/app/scenario/templates/http"},
}
PROCESSOR = {
    "role": "proc",
    "image": "processor:latest",
    "work": {"in": {"in": "c"}},
    "config": {"baseUrl": "http://sut"},
}


def _import(root: Path, rules: Any) -> ImportResult:
    template = {"serviceId": "payments", "callId": "pay", "protocol": "HTTP", "method": "POST", "pathTemplate": "/pay"}
    files = {
        "scenario.yaml": {
            "protocolVersion": "2.0.0",
            "id": "demo",
            "template": {"bees": [GENERATOR, BUILDER, PROCESSOR]},
        },
        "templates/http/pay.yaml": {**template, "resultRules": rules},
    }
    for rel, data in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(yaml.safe_dump(data, sort_keys=False))
    return import_bundle(ImportOptions(bundle=root))


def test_pockethives_result_rules_are_carried_key_for_key(tmp_path: Path) -> None:
    rules = {
        "businessCode": {"source": "RESPONSE_BODY", "pattern": '"code":"([^"]*)"'},
        "successRegex": "^00$",
        "dimensions": [{"name": "channel", "source": "REQUEST_HEADER", "header": "X-Channel", "pattern": "(.+)"}],
    }
    result = _import(tmp_path, rules)
    assert result.document is not None
    assert result.document["spec"]["templates"][0]["resultRules"] == rules
    assert result.findings == []


def test_a_camel_case_dimension_is_renamed_and_an_unknown_key_is_dropped_each_with_a_warning(tmp_path: Path) -> None:
    rules = {
        "successRegex": "APPROVED",
        "dimensions": [{"name": "channelType", "source": "RESPONSE_BODY", "pattern": '"ch":"(\\w+)"', "trim": True}],
    }
    result = _import(tmp_path, rules)
    assert result.document is not None
    assert result.document["spec"]["templates"][0]["resultRules"] == {
        "successRegex": "APPROVED",
        "dimensions": [{"name": "channeltype", "source": "RESPONSE_BODY", "pattern": '"ch":"(\\w+)"'}],
    }
    found = {(f.severity, f.code, f.path): f.message for f in result.findings}
    assert set(found) == {
        ("warning", "key-dropped", "resultRules.dimensions[0].trim"),
        ("warning", "result-rule-renamed", "resultRules.dimensions[0].name"),
    }
    renamed = found["warning", "result-rule-renamed", "resultRules.dimensions[0].name"]
    assert "counted as 'channeltype' (header x-ph-dim-channeltype)" in renamed


def test_a_java_lookahead_is_a_result_rule_regex_error_placed_in_the_template_file(tmp_path: Path) -> None:
    rules = {"businessCode": {"pattern": '"code":"(?=\\d)(\\d+)"'}}
    result = _import(tmp_path, rules)
    [finding] = [f for f in result.findings if f.severity == "error"]
    assert (finding.code, finding.path) == ("result-rule-regex", "resultRules.businessCode.pattern")
    assert finding.file is not None
    assert finding.file.endswith("templates/http/pay.yaml")
    assert "RE2" in finding.message


def test_rules_that_are_not_a_mapping_are_dropped_with_a_warning(tmp_path: Path) -> None:
    result = _import(tmp_path, ["^00$"])
    assert result.document is not None
    assert "resultRules" not in result.document["spec"]["templates"][0]
    assert [(f.code, f.path) for f in result.findings] == [("result-rule-invalid", "resultRules")]
