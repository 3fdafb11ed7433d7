"""CEL rules run as the API server runs them: defaults first, escaped names, each item, fieldPath, messages."""

from __future__ import annotations

from typing import Any

import pytest

from hivekeeper.api.crd import all_crds
from hivekeeper.validate import cel_rules

ROLES = {
    "type": "object",
    "properties": {
        "roles": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "name": {"type": "string"},
                    "weight": {"type": "number"},
                    "mode": {"type": "string", "default": "fast"},
                    "work": {"type": "object", "properties": {"in": {"type": "string"}, "x-y": {"type": "string"}}},
                },
                "x-kubernetes-validations": [
                    {"rule": "self.mode == 'fast' || self.name != 'a'", "message": "a is fast"}
                ],
            },
        }
    },
}


def _check(schema: dict[str, Any], value: Any) -> tuple[list[cel_rules.RuleFailure], list[cel_rules.SkippedRule]]:
    return cel_rules.check(schema, cel_rules.apply_defaults(schema, value))


def test_every_rule_of_the_generated_crds_compiles() -> None:
    found = 0
    for crd in all_crds().values():
        for path, rule in cel_rules.rules(crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]):
            assert cel_rules.compiled(rule["rule"]), f"{path}: {rule['rule']}"
            found += 1
    assert found == 14  # 7, TCP templates 2, resultRules 5 (2 on businessCode, 2 on each dimension, 1 on dimensions)


def test_property_names_are_escaped_like_kubernetes_does() -> None:
    assert cel_rules.escape("in") == "__in__"
    assert cel_rules.escape("x-y") == "x__dash__y"
    assert cel_rules.escape("a.b/c") == "a__dot__b__slash__c"
    assert cel_rules.escape("a__b") == "a__underscores__b"
    assert cel_rules.escape("plain") == "plain"
    assert cel_rules.escape("9lives") is None


def test_rules_see_escaped_names_and_pruned_unknown_fields() -> None:
    schema = {**ROLES, "x-kubernetes-validations": [{"rule": "self.roles.all(r, has(r.work.__in__))", "message": "m"}]}
    value = {"roles": [{"name": "b", "work": {"in": "q", "x-y": "z"}, "typo": 1}]}
    assert cel_rules.cel_value(ROLES, value)["roles"][0] == {"name": "b", "work": {"__in__": "q", "x__dash__y": "z"}}
    assert _check(schema, value) == ([], [])
    failures, _ = _check(schema, {"roles": [{"name": "b", "work": {}}]})
    assert [(f.path, f.message) for f in failures] == [((), "m")]


def test_defaults_are_applied_before_the_rules_run() -> None:
    defaulted = cel_rules.apply_defaults(ROLES, {"roles": [{"name": "a"}]})
    assert defaulted == {"roles": [{"name": "a", "mode": "fast"}]}
    assert _check(ROLES, {"roles": [{"name": "a"}]}) == ([], [])


def test_a_rule_under_items_runs_on_each_item_at_its_index() -> None:
    failures, _ = _check(ROLES, {"roles": [{"name": "b", "mode": "slow"}, {"name": "a", "mode": "slow"}]})
    assert [(f.path, f.message, f.error) for f in failures] == [(("roles", 1), "a is fast", None)]


def test_number_fields_are_doubles_to_cel() -> None:
    schema = {**ROLES, "x-kubernetes-validations": [{"rule": "self.roles.all(r, r.weight == 2.0)", "message": "m"}]}
    assert _check(schema, {"roles": [{"name": "b", "weight": 2}]}) == ([], [])


def test_field_path_and_message_expression_shape_the_failure() -> None:
    rule = {"rule": "self.roles.size() < 2", "messageExpression": "'too many: ' + string(self.roles.size())"}
    schema = {**ROLES, "x-kubernetes-validations": [{**rule, "fieldPath": ".roles"}]}
    failures, _ = _check(schema, {"roles": [{"name": "b"}, {"name": "c"}]})
    assert [(f.path, f.message) for f in failures] == [(("roles",), "too many: 2")]
    assert cel_rules.field_path(".spec.roles[2]['x-y']") == ("spec", "roles", 2, "x-y")


def test_transition_rules_are_skipped_with_the_reason() -> None:
    schema = {**ROLES, "x-kubernetes-validations": [{"rule": "self.roles == oldSelf.roles", "message": "frozen"}]}
    failures, skipped = _check(schema, {"roles": []})
    assert failures == []
    assert [(s.rule, "oldSelf" in s.reason) for s in skipped] == [("self.roles == oldSelf.roles", True)]


def test_an_evaluation_error_fails_the_rule_with_the_cause() -> None:
    schema = {**ROLES, "x-kubernetes-validations": [{"rule": "self.roles[0].work.x__dash__y == 'z'", "message": "m"}]}
    failures, _ = _check(schema, {"roles": [{"name": "b"}]})
    assert len(failures) == 1
    assert failures[0].error is not None
    assert "work" in failures[0].error


def test_a_rule_that_does_not_compile_is_skipped_not_failed() -> None:
    schema = {**ROLES, "x-kubernetes-validations": [{"rule": "self.roles.size( <", "message": "m"}]}
    failures, skipped = _check(schema, {"roles": []})
    assert failures == []
    assert "does not compile" in skipped[0].reason


@pytest.mark.parametrize(
    "rule",
    [
        "self.names.isSorted() && !['b', 'a'].isSorted()",
        "self.sizes.sum() == 6 && self.sizes.min() == 1 && self.sizes.max() == 3",
        "self.names[0].find('[0-9]+') == '12' && 'a1b22'.findAll('[0-9]+') == ['1', '22']",
        "self.names[0].lowerAscii().startsWith('a') && self.names.join('-') == 'a12-b'",
        "self.names[1].split('') == ['b'] && 'x'.indexOf('x') == 0",
        "math.greatest(self.sizes) == 3",
        "size('héllo') == 5",
    ],
)
def test_the_kubernetes_extension_functions_evaluate(rule: str) -> None:
    schema = {
        "type": "object",
        "properties": {"names": {"type": "array", "items": {"type": "string"}}, "sizes": {"type": "array"}},
        "x-kubernetes-validations": [{"rule": rule, "message": "m"}],
    }
    assert _check(schema, {"names": ["a12", "b"], "sizes": [1, 2, 3]}) == ([], [])


def test_the_pockethive_protocol_rule_refuses_it_on_a_built_in_role_and_passes_it_on_an_image() -> None:
    crd = all_crds()["workerroles.hivekeeper.io.yaml"]
    schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    base = {"swarmRef": "s", "replicas": 1}
    failures, _ = _check(schema, {**base, "role": "processor", "protocol": "pockethive"})
    assert [f.message for f in failures] == [
        "protocol: pockethive needs image (a PocketHive worker image); built-in roles speak hivekeeper"
    ]
    assert _check(schema, {**base, "image": "ph/processor:1", "protocol": "pockethive"})[0] == []
    assert _check(schema, {**base, "role": "processor"})[0] == [], "the default protocol fits a built-in role"
