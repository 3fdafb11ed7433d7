"""The result-rule engine on protocol-neutral exchanges: where each value is read, how success is judged, and
the bounds (bytes read, value length, the template budget's wall time, rule sets kept)."""

from __future__ import annotations

from typing import Any

import pytest

from hivekeeper.api.result_rules import ResultRules, rule_problems
from hivekeeper.worker.result_rules import (
    MAX_VALUE,
    CompiledRules,
    Exchange,
    ResultRulesError,
    RulesCache,
    RuleValues,
    values_from_headers,
)

CODE = {"source": "RESPONSE_BODY", "pattern": '"code":"([^"]*)"'}
DECLINED = Exchange(response_body=b'{"code":"51","status":"DECLINED"}')
APPROVED = Exchange(response_body=b'{"code":"00","status":"APPROVED"}')


def _rules(**rules: Any) -> CompiledRules:
    return CompiledRules(ResultRules.model_validate(rules))


def test_the_business_code_is_group_1_and_success_is_judged_on_it() -> None:
    rules = _rules(businessCode=CODE, successRegex="^00$")
    assert rules.apply(APPROVED) == RuleValues(code="00", success=True)
    assert rules.apply(DECLINED) == RuleValues(code="51", success=False)
    assert rules.apply(DECLINED).business_failure


def test_with_a_business_code_rule_an_answer_without_a_code_is_not_a_success() -> None:
    rules = _rules(businessCode=CODE, successRegex=".*")
    assert rules.apply(Exchange(response_body=b"<html>maintenance</html>")) == RuleValues(code=None, success=False)


def test_without_a_business_code_rule_the_success_regex_is_searched_in_the_response_body() -> None:
    rules = _rules(successRegex='"status":"APPROVED"')
    assert rules.apply(APPROVED).success is True
    assert rules.apply(DECLINED).success is False
    assert rules.apply(APPROVED).code is None


def test_without_a_success_regex_nothing_is_judged() -> None:
    values = _rules(businessCode=CODE).apply(DECLINED)
    assert (values.code, values.success, values.business_failure) == ("51", None, False)


def test_each_source_is_read_and_header_names_match_in_any_case() -> None:
    rules = _rules(
        businessCode={"source": "RESPONSE_HEADER", "header": "X-Result-Code", "pattern": "(.+)"},
        dimensions=[
            {"name": "channel", "source": "REQUEST_HEADER", "header": "X-Channel", "pattern": "^(\\w+)"},
            {"name": "currency", "source": "REQUEST_BODY", "pattern": '"currency":"([A-Z]{3})"'},
            {"name": "status", "source": "RESPONSE_BODY", "pattern": '"status":"([A-Z]+)"'},
            {"name": "absent", "source": "RESPONSE_BODY", "pattern": '"nothing":"(.*)"'},
        ],
    )
    exchange = Exchange(
        response_body=DECLINED.response_body,
        response_headers={"x-result-code": "51"},
        request_body=b'{"amount":10,"currency":"EUR"}',
        request_headers={"x-channel": "web app"},
    )
    values = rules.apply(exchange)
    assert values.code == "51"
    assert values.dimensions == (("channel", "web"), ("currency", "EUR"), ("status", "DECLINED"))
    assert values.headers() == {
        "x-ph-business-code": "51",
        "x-ph-dim-channel": "web",
        "x-ph-dim-currency": "EUR",
        "x-ph-dim-status": "DECLINED",
    }, "PocketHive's step header names; a dimension not found has no header"


def test_a_missing_header_reads_nothing() -> None:
    rules = _rules(businessCode={"source": "RESPONSE_HEADER", "header": "X-Code", "pattern": "(.+)"})
    assert rules.apply(Exchange(response_headers={"x-other": "1"})).code is None


def test_a_value_past_max_scan_bytes_is_not_found() -> None:
    body = b"x" * 100 + b'"code":"51"'
    assert _rules(businessCode=CODE, maxScanBytes=100).apply(Exchange(response_body=body)).code is None
    assert _rules(businessCode=CODE, maxScanBytes=200).apply(Exchange(response_body=body)).code == "51"


def test_a_long_value_is_cut_at_max_value_characters() -> None:
    rules = _rules(businessCode={"pattern": "code=(.*)"})
    assert rules.apply(Exchange(response_body=b"code=" + b"9" * 1000)).code == "9" * MAX_VALUE
    assert rules.apply(Exchange(response_body=("code=" + "\u00e9" * 1000).encode())).code == "\u00e9" * MAX_VALUE


def test_patterns_stop_once_the_wall_time_is_spent_and_say_so() -> None:
    rules = CompiledRules(
        ResultRules.model_validate(
            {"businessCode": CODE, "successRegex": "^00$", "dimensions": [{"name": "s", "pattern": "(.)"}]}
        ),
        wall_seconds=0.0,
    )
    values = rules.apply(DECLINED)
    assert values == RuleValues(code="51", over_budget=True), "the first pattern ran; the rest were skipped"


def test_the_worst_pattern_over_the_default_scan_stays_within_the_template_budget() -> None:
    body = b"a" * (64 * 1024 - 20) + b'"code":"51"'
    rules = _rules(businessCode={"pattern": '^(.*?)"code'}, dimensions=[{"name": "x", "pattern": "(.*)code(.*)"}])
    values = rules.apply(Exchange(response_body=body))
    assert not values.over_budget, "RE2 is linear: 64 KiB take milliseconds, far below 100 ms"
    assert values.code is not None
    assert len(values.code) == MAX_VALUE


def test_patterns_re2_refuses_or_without_a_group_are_each_a_problem() -> None:
    rules = ResultRules.model_validate(
        {
            "businessCode": {"pattern": "code(?=1)"},
            "successRegex": "^00$",
            "dimensions": [{"name": "a", "pattern": "[A-Z]+"}, {"name": "b", "pattern": "(x)\\1"}],
        }
    )
    assert [(p.path, p.kind) for p in rule_problems(rules)] == [
        ("businessCode.pattern", "regex"),
        ("dimensions[0].pattern", "group"),
        ("dimensions[1].pattern", "regex"),
    ], "successRegex needs no group: it is only searched"
    with pytest.raises(ResultRulesError, match=r"dimensions\[0\]\.pattern: pattern '\[A-Z\]\+' has no group"):
        CompiledRules(rules)


def test_a_header_source_needs_its_header_and_a_body_source_takes_none() -> None:
    with pytest.raises(ValueError, match="source RESPONSE_HEADER needs header"):
        ResultRules.model_validate({"businessCode": {"source": "RESPONSE_HEADER", "pattern": "(.*)"}})
    with pytest.raises(ValueError, match="header 'X-A' is read only with source RESPONSE_HEADER or REQUEST_HEADER"):
        ResultRules.model_validate({"dimensions": [{"name": "a", "header": "X-A", "pattern": "(.*)"}]})
    with pytest.raises(ValueError, match=r"dimension name\(s\) a given more than once"):
        ResultRules.model_validate({"dimensions": [{"name": "a", "pattern": "(.)"}, {"name": "a", "pattern": "(.)"}]})


def test_the_cache_compiles_each_rule_set_once_and_refuses_bad_ones_with_the_field() -> None:
    cache = RulesCache(size=2)
    first = cache.get({"businessCode": CODE, "successRegex": "^00$"})
    assert cache.get({"successRegex": "^00$", "businessCode": CODE}) is first, "keyed by content, not key order"
    cache.get({"successRegex": "a"})
    cache.get({"successRegex": "b"})
    assert cache.get({"businessCode": CODE, "successRegex": "^00$"}) is not first, "least recently used went out"
    with pytest.raises(ResultRulesError, match=r"businessCode\.source: Input should be"):
        cache.get({"businessCode": {"source": "BODY", "pattern": "(.)"}})
    with pytest.raises(ResultRulesError, match="resultRules must be an object, not list"):
        cache.get(["^00$"])


def test_the_postprocessor_reads_back_what_the_processor_wrote() -> None:
    values = RuleValues(code="51", success=False, dimensions=(("channel", "web"),))
    assert values_from_headers({"ph.step.service": "caller", **values.headers()}) == values
    assert values_from_headers({"x-ph-business-success": "true"}) == RuleValues(success=True)
    assert values_from_headers({"ph.step.service": "caller"}) is None
