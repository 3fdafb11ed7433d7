"""validate on whole documents: kinds, multi-document files, lines, WorkerRoles, and the checks that depend
on how roles are wired (no cluster, no broker: everything here is offline)."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml

from hivekeeper.api.manifests import load_swarm_text
from hivekeeper.api.role_config import merged_role_config
from hivekeeper.local.runner import bootstrap_config
from hivekeeper.operator.plan import desired_config
from hivekeeper.validate import cel_rules, locate
from hivekeeper.validate.report import Summary
from hivekeeper.validate.run import validate_text

REPO = Path(__file__).resolve().parents[3]
QUICKSTART = (REPO / "examples" / "quickstart.yaml").read_text()


def run(text: str, *, strict: bool = False) -> Summary:
    return validate_text(textwrap.dedent(text), "m.yaml", strict=strict)


def codes(summary: Summary) -> list[tuple[str, str, str]]:
    return [(f.severity, f.code, f.path) for f in summary.findings]


def quickstart(change: Any) -> str:
    document = yaml.safe_load(QUICKSTART)
    change(document["spec"])
    return yaml.safe_dump(document, sort_keys=False)


def test_the_merged_config_is_the_one_the_runner_and_the_operator_build() -> None:
    manifests = sorted((REPO / "examples").glob("*.yaml")) + sorted((REPO / "tests/validate/broken").glob("*.yaml"))
    compared = 0
    for manifest in manifests:
        try:
            swarm = load_swarm_text(manifest.read_text(), str(manifest))
        except ValueError:
            continue  # broken before the roles (that is what those files test)
        for role in swarm.spec.roles:
            merged = merged_role_config(swarm.spec, role.config)
            assert merged == bootstrap_config(swarm, role.config) == desired_config(swarm, role), manifest.name
            compared += 1
    assert compared > 40


def test_other_kinds_are_skipped_with_a_note_in_a_multi_document_file() -> None:
    summary = run(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndata: {a: b}\n---\n---\n" + QUICKSTART.split("\n", 4)[4]
    )
    assert summary.documents == 2
    assert summary.checked == 1
    assert summary.findings == []
    assert [(n.line, n.message) for n in summary.notes] == [(1, "skipped: ConfigMap (v1) is not a hivekeeper resource")]


def test_lines_are_found_in_the_right_document_of_a_file() -> None:
    broken = quickstart(lambda spec: spec["roles"][2].update(replicas=-1))
    summary = run("apiVersion: v1\nkind: Namespace\nmetadata: {name: perf}\n---\n" + broken)
    (finding,) = summary.findings
    assert (finding.code, finding.path) == ("schema-range", "spec.roles[2].replicas")
    lines = ("apiVersion: v1\nkind: Namespace\nmetadata: {name: perf}\n---\n" + broken).splitlines()
    assert lines[finding.line - 1].strip() == "replicas: -1"  # type: ignore[operator]


def test_yaml_is_read_as_kubectl_sends_it() -> None:
    (document,) = locate.load_documents("a: 2024-01-01\non: [5xx]\n200: ok\n")
    assert document.data == {"a": "2024-01-01", "true": ["5xx"], "200": "ok"}
    assert locate.line_of(document.node, ("true",)) == 2
    assert locate.line_of(document.node, ("200",)) == 3
    assert locate.line_of(document.node, ("missing", "deeper")) == 1


def test_a_document_that_is_not_a_map_is_an_error() -> None:
    summary = run("- a\n- b\n")
    assert codes(summary) == [("error", "not-an-object", "")]
    assert "document 1 is a list" in summary.findings[0].message


def test_a_missing_api_version_on_a_hivekeeper_kind_is_named() -> None:
    summary = run("kind: Swarm\nmetadata: {name: x}\nspec: {roles: []}\n")
    assert codes(summary) == [("error", "unknown-kind", "apiVersion")]


def test_a_custom_image_role_is_noted_not_checked() -> None:
    def change(spec: dict[str, Any]) -> None:
        del spec["roles"][3]["role"]
        spec["roles"][3].update(image="example.org/stats:1", config={"anything": 1})

    summary = run(quickstart(change))
    assert summary.findings == []
    assert any("custom image example.org/stats:1" in n.message for n in summary.notes)


def test_a_builder_passing_missing_templates_through_gives_a_warning() -> None:
    def change(spec: dict[str, Any]) -> None:
        spec["roles"][1]["config"]["passThroughOnMissingTemplate"] = True
        spec["templates"] = spec["templates"][:1]

    summary = run(quickstart(change))
    assert codes(summary) == [("warning", "template-missing", "spec.roles[0].config.message.headers.x-ph-call-id")]
    assert "passes those items on unchanged" in summary.findings[0].message
    assert summary.exit_code == 0
    assert run(quickstart(change), strict=True).exit_code == 1


def test_a_literal_service_id_header_selects_the_templates() -> None:
    def change(spec: dict[str, Any]) -> None:
        spec["roles"][0]["config"]["message"]["headers"]["x-ph-service-id"] = "ledger"

    summary = run(quickstart(change))
    assert [f.message.split(" has no template ")[1].split(" ")[0] for f in summary.findings] == [
        "'ledger::balance'",
        "'ledger::topup'",
    ]


def test_templates_under_template_root_are_noted_not_guessed() -> None:
    def change(spec: dict[str, Any]) -> None:
        spec["roles"][1]["config"]["templateRoot"] = "/templates"
        spec["templates"] = []

    summary = run(quickstart(change))
    assert codes(summary) == []
    assert any("templateRoot /templates" in n.message for n in summary.notes)


def test_a_template_error_in_a_role_config_points_into_its_block() -> None:
    text = QUICKSTART.replace(
        """body: '{"cardId": "card-{{ randInt(1, 1000) }}"}'""",
        """body: |\n            {\n              "cardId": "{{ randInt(1, }}"\n            }""",
    )
    summary = validate_text(text, "m.yaml")
    assert codes(summary) == [("error", "template-syntax", "spec.roles[0].config.message.body")]
    lines = text.splitlines()
    assert lines[summary.findings[0].line - 1].strip() == '"cardId": "{{ randInt(1, }}"'  # type: ignore[operator]


def test_a_postprocessor_with_work_out_but_no_forwarding_is_warned() -> None:
    summary = run(quickstart(lambda spec: spec["roles"][3].update(work={"in": "results", "out": "archive"})))
    assert codes(summary) == [("warning", "io-combination", "spec.roles[3].work.out")]


def test_a_request_builder_on_a_scheduler_input_is_an_error() -> None:
    def change(spec: dict[str, Any]) -> None:
        spec["roles"][1]["config"]["inputs"] = {"type": "SCHEDULER"}
        spec["roles"][1]["work"] = {"out": "call"}
        spec["roles"][0]["config"]["outputs"] = {"type": "NONE"}
        del spec["roles"][0]["work"]

    summary = run(quickstart(change))
    assert ("error", "io-combination", "spec.roles[1].config.inputs.type") in codes(summary)


def test_a_hand_written_workerrole_has_its_config_checked_as_written() -> None:
    summary = run(
        """
        apiVersion: hivekeeper.io/v1alpha1
        kind: WorkerRole
        metadata: {name: extra}
        spec:
          swarmRef: elsewhere
          role: processor
          work: {in: call}
          config:
            baseUrl: "{{ sut.endpoints.default.baseUrl }}"
            threadCount: 0
        """
    )
    assert codes(summary) == [
        ("error", "sut-endpoint-undefined", "spec.config.baseUrl"),  # as written: its config has no sut
        ("error", "role-config", "spec.config.threadCount"),
    ]
    assert "swarm 'elsewhere' is not among the checked manifests" in summary.notes[0].message


def test_a_workerrole_joining_a_swarm_of_the_run_consumes_what_it_produces() -> None:
    extra = """
        ---
        apiVersion: hivekeeper.io/v1alpha1
        kind: WorkerRole
        metadata: {name: extra}
        spec:
          swarmRef: quickstart
          role: processor
          work: {in: call}
          config: {baseUrl: "http://cards.test"}
        """
    summary = validate_text(QUICKSTART + textwrap.dedent(extra), "m.yaml")
    assert summary.checked == 2
    assert summary.findings == []


def test_without_a_cel_implementation_the_wiring_is_still_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cel_rules, "available", lambda: False)
    text = (REPO / "tests/validate/broken/cel-work-in-produced.yaml").read_text()
    summary = validate_text(text + "---\n" + text.replace("cel-work-in-produced", "second"), "m.yaml")
    assert [(f.code, f.path) for f in summary.findings if f.severity == "error"] == [
        ("alias-unproduced", "spec.roles[1].work.in"),
        ("alias-unproduced", "spec.roles[1].work.in"),
    ]
    assert [f.code for f in summary.findings if f.severity == "warning"] == ["cel-unavailable"]


def test_secret_default_is_a_warning_only_with_strict() -> None:
    assert run(QUICKSTART).findings == []
    assert codes(run(QUICKSTART, strict=True)) == [("warning", "secret-default", "spec")]
    named = quickstart(lambda spec: spec.update(secretRef={"name": "perf-broker"}))
    assert run(named, strict=True).findings == []


def test_undefined_vars_are_checked_for_every_role_rendering_a_swarm_template() -> None:
    def change(spec: dict[str, Any]) -> None:
        spec["vars"] = {}
        spec["roles"][1]["config"]["vars"] = {"currency": "EUR"}
        spec["roles"].append(
            {
                "name": "second",
                "role": "request-builder",
                "work": {"in": "build", "out": "call"},
                "config": {"serviceId": "cards"},
            }
        )

    summary = run(quickstart(change))
    (finding,) = summary.findings
    assert (finding.code, finding.path) == ("var-undefined", "spec.templates[1].bodyTemplate")
    assert "request-builder 'second'" in finding.message
