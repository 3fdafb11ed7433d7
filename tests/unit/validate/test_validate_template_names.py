"""validate names what an undefined template name will do, by the swarm's spec.templating.undefined: strict (an
error: every render fails) or empty (a warning: it renders as ""); the names every render has pass."""

from __future__ import annotations

from typing import Any

import yaml

from hivekeeper.validate.run import validate_text


def manifest(body: str, templating: dict[str, Any] | None = None, vars_: dict[str, Any] | None = None) -> str:
    spec: dict[str, Any] = {
        "sut": {"endpoints": {"default": {"baseUrl": "http://127.0.0.1:9"}}},
        "vars": vars_ or {},
        "roles": [
            {
                "name": "gen",
                "role": "generator",
                "work": {"out": "calls"},
                "config": {"inputs": {"scheduler": {"ratePerSec": 1}}, "message": {"body": body}},
            },
            {"name": "sink", "role": "postprocessor", "work": {"in": "calls"}},
        ],
    }
    if templating is not None:
        spec["templating"] = templating
    document = {"apiVersion": "hivekeeper.io/v1alpha1", "kind": "Swarm", "metadata": {"name": "n"}, "spec": spec}
    return yaml.safe_dump(document, sort_keys=False)


def findings(text: str) -> list[tuple[str, str, str, str, str]]:
    summary = validate_text(text, "m.yaml")
    return [(f.severity, f.code, f.path, f.message, f.fix) for f in summary.findings]


def test_the_names_every_render_has_pass() -> None:
    body = "{{ swarmId }} {{ runId }} {{ role }} {{ instanceId }} {{ correlationId }} {{ payload }} {{ uuid() }}"
    assert findings(manifest(body)) == []


def test_strict_makes_an_undefined_name_an_error_naming_it_the_template_and_the_fix() -> None:
    [(severity, code, path, message, fix)] = findings(manifest('{"t": "{{ tenantId }}"}'))
    assert (severity, code, path) == ("error", "template-name-undefined", "spec.roles[0].config.message.body")
    assert "tenantId" in message
    assert "every item" in message
    assert "vars.tenantId" in fix
    assert "spec.templating.undefined: empty" in fix


def test_empty_makes_it_a_warning_that_says_it_renders_empty() -> None:
    [(severity, code, _, message, _)] = findings(manifest("{{ tenantId }}", {"undefined": "empty"}))
    assert (severity, code) == ("warning", "template-name-undefined")
    assert 'renders as ""' in message


def test_guarded_and_template_defined_names_are_not_reported() -> None:
    body = "{% set t = 'x' %}{{ t }}{{ tenantId | default('a') }}{% if other is defined %}{{ other }}{% endif %}"
    assert findings(manifest(body)) == []


def test_an_undefined_var_is_an_error_under_strict_and_a_warning_under_empty() -> None:
    [strict] = findings(manifest("{{ vars.region }}", vars_={"tenant": "t"}))
    [empty] = findings(manifest("{{ vars.region }}", {"undefined": "empty"}, {"tenant": "t"}))
    assert strict[:2] == ("error", "var-undefined")
    assert empty[:2] == ("warning", "var-undefined")
    assert 'renders as ""' in empty[3]


def test_trim_is_checked_as_the_worker_compiles_it() -> None:
    body = "{% set a = 1 %}\n{{ a }}"
    assert findings(manifest(body, {"tagNewline": "trim"})) == []
