"""PocketHive templates (Pebble + SpEL ``eval``) rewritten for our Jinja sandbox, and what is refused."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import re

import orjson
import pytest

from hivekeeper.importer import pebble, spel
from hivekeeper.templating.engine import TemplateEngine


def _clean(source: str, *, raw_payload: bool = True) -> str:
    """The rewrite of ``source``, asserting it raised no issue at all."""
    done = pebble.rewrite(source, raw_payload=raw_payload)
    assert done.issues == [], done.issues
    return done.text


def _render(source: str, payload: str = "{}", **extra: object) -> str:
    """Render a rewritten template with our engine, the way a request-builder would."""
    engine = TemplateEngine()
    context = {"payload": orjson.loads(payload), "payloadRaw": payload, "headers": {}, "vars": {}, "sut": {}}
    context.update(extra)
    return asyncio.run(engine.render_async("t", source, context))


@pytest.mark.parametrize(
    ("spel_call", "ours"),
    [
        ("#uuid()", "uuid()"),
        ("#randInt(1, 100)", "randInt(1, 100)"),
        ("#randLong(1, 9000000000)", "randLong(1, 9000000000)"),
        ("#md5_hex('x')", "md5('x')"),
        ("#sha256_hex('x')", "sha256('x')"),
        ("#base64_encode('x')", "base64('x')"),
        ("#base64_decode('eA==')", "base64Decode('eA==')"),
        ("#hmac_sha256_hex('key', 'x')", "hmacSha256('key', 'x')"),
        ("#regex_match('abc', 'b')", "regexMatch('abc', 'b')"),
        ("#regex_extract('id=42', 'id=(\\d+)', 1)", "regexExtract('id=42', 'id=(\\\\d+)', 1)"),
        ("#json_path(workItem.payload(), '/card/id')", "jsonPointer(payloadRaw, '/card/id')"),
        ("#date_format(now, 'yyyy-MM-dd')", "dateFormat(now(), 'yyyy-MM-dd')"),
        ("#date_format(null, 'HH:mm')", "dateFormat(none, 'HH:mm')"),
        ("#datetime_offset('+2d', 'yyyy-MM-dd')", "dateOffset('+2d', 'yyyy-MM-dd')"),
        ("#sequence('orders', 'numeric', 'ORD-%06d')", "sequence('orders', 'numeric', 'ORD-%06d')"),
        ("#sequenceWith('slot', 'numeric', '%d', 0, 3)", "sequenceWith('slot', 'numeric', '%d', 0, 3)"),
    ],
)
def test_each_spel_helper_becomes_our_helper_of_the_same_meaning(spel_call: str, ours: str) -> None:
    assert _clean('{{ eval("' + spel_call.replace('"', '\\"') + '") }}') == "{{ " + ours + " }}"


def test_nested_helper_calls_and_concatenation_with_strings_use_tilde() -> None:
    source = """{{ eval("'id-' + #sha256_hex(#base64_encode(payloadAsJson.name + '!'))") }}"""
    assert _clean(source) == "{{ ('id-' ~ sha256(base64(payload.name ~ '!'))) }}"
    assert _render(_clean(source), '{"name": "ann"}') == "id-" + hashlib.sha256(b"YW5uIQ==").hexdigest()


def test_arithmetic_on_vars_stays_numeric_and_the_ternary_becomes_if_else() -> None:
    assert _clean('{{ eval("vars.quantity + 1") }}') == "{{ (vars.quantity + 1) }}"
    assert _clean("""{{ eval("vars.enabled ? 'ON' : 'OFF'") }}""") == "{{ ('ON' if vars.enabled else 'OFF') }}"
    assert _render(_clean('{{ eval("vars.quantity + 1") }}'), vars={"quantity": 3}) == "4"


def test_spel_quotes_are_read_with_doubled_single_quotes_and_pebble_backslash_escapes() -> None:
    assert _clean("""{{ eval("'it''s ' + vars.who") }}""") == """{{ ('it\\'s ' ~ vars.who) }}"""
    assert _render(_clean("""{{ eval("'it''s ' + vars.who") }}"""), vars={"who": "me"}) == "it's me"
    assert _clean("{{ eval('#md5_hex(\\'a\\')') }}") == "{{ md5('a') }}"


def test_a_bare_payload_is_the_raw_text_except_in_journeys() -> None:
    assert _clean("{{ payload }}") == "{{ payloadRaw }}"
    assert _clean("{{ payload }}", raw_payload=False) == "{{ payload }}"
    assert _clean('{{ eval("#md5_hex(payload)") }}') == "{{ md5(payloadRaw) }}"
    assert _render(_clean("{{ payload }}"), '{"a": 1}') == '{"a": 1}'


def test_payload_as_json_is_our_parsed_payload() -> None:
    assert _clean("/cards/{{ payloadAsJson.cardId }}") == "/cards/{{ payload.cardId }}"
    assert _render(_clean("/cards/{{ payloadAsJson.cardId }}"), '{"cardId": "c-1"}') == "/cards/c-1"


def test_pebble_operators_tests_and_tags_become_jinja() -> None:
    source = "{% if vars.s equals 'a' %}A{% elseif vars.s == null %}N{% elseif vars.t contains 'x' %}X{% endif %}"
    rewritten = _clean(source)
    assert rewritten == "{% if vars.s == 'a' %}A{% elif vars.s == none %}N{% elif ('x' in vars.t) %}X{% endif %}"
    assert _render(rewritten, vars={"s": "b", "t": "axe"}) == "X"
    assert _clean("{{ x is empty }}|{{ x is not null }}|{{ x is map }}") == (
        "{{ (not x) }}|{{ x is not none }}|{{ x is mapping }}"
    )


def test_the_pebble_ternary_is_rewritten_also_nested_and_in_set() -> None:
    assert _clean("{{ a ? b ? 1 : 2 : 3 }}") == "{{ (1 if b else 2) if a else 3 }}"
    assert _clean("{% set who = a ? 'A' : 'B' %}") == "{% set who = 'A' if a else 'B' %}"
    assert _render(_clean("{{ vars.a ? (vars.b ? 'ab' : 'a') : '-' }}"), vars={"a": 1, "b": 0}) == "a"


def test_filters_and_java_methods_that_differ_are_rewritten() -> None:
    source = "{{ x | raw }} {{ y | abbreviate(5) }} {{ z | replace({'a': 'b', 'c': 'd'}) }} {{ w | base64encode }}"
    assert _clean(source) == (
        "{{ x }} {{ y | truncate(5, true, '...', 0) }} {{ z | replace('a', 'b') | replace('c', 'd') }} {{ w | base64 }}"
    )
    assert _clean("{{ s.size() }} {{ s.toUpperCase() }} {{ s.substring(0, 2) }} {{ s.contains('a') }}") == (
        "{{ (s | length) }} {{ (s | upper) }} {{ s[0:2] }} {{ ('a' in s) }}"
    )
    assert _render(_clean("{{ vars.s.toUpperCase() }}-{{ vars.s.size() }}"), vars={"s": "abc"}) == "ABC-3"


def test_loop_index_counts_from_zero_as_in_pebble() -> None:
    rewritten = _clean("{% for c in payload.cards %}{{ loop.index }}{% endfor %}")
    assert rewritten == "{% for c in payload.cards %}{{ loop.index0 }}{% endfor %}"
    assert _render(rewritten, '{"cards": [1, 2]}') == "01"


def test_verbatim_becomes_raw_and_comments_and_literal_text_are_untouched() -> None:
    assert _clean("{% verbatim %}{{ payload }}{% endverbatim %}") == "{% raw %}{{ payload }}{% endraw %}"
    assert _clean("payload equals null {# {{ payload }} #}") == "payload equals null {# {{ payload }} #}"
    assert _clean("{{- vars.a -}} x") == "{{- vars.a -}} x"


def test_sut_endpoint_references_are_normalised_and_recorded() -> None:
    done = pebble.rewrite("{{ sut.endpoints['default'].baseUrl }}/{{ sut.endpoints['my-api'].baseUrl }}")
    assert done.text == "{{ sut.endpoints.default.baseUrl }}/{{ sut.endpoints['my-api'].baseUrl }}"
    assert done.endpoints == {"default", "my-api"}


def test_upstream_base_url_is_inlined_when_known_and_an_error_when_not() -> None:
    known = pebble.rewrite("{{ sut.endpoints['api'].upstreamBaseUrl }}", upstream={"api": "http://up:81"})
    assert (known.text, known.issues) == ("{{ 'http://up:81' }}", [])
    unknown = pebble.rewrite("{{ sut.endpoints['api'].upstreamBaseUrl }}")
    assert [(i.code, i.expression) for i in unknown.issues] == [
        ("sut-field-unsupported", "sut.endpoints.api.upstreamBaseUrl")
    ]


def test_variables_read_by_pebble_and_by_spel_are_recorded() -> None:
    done = pebble.rewrite("""{{ vars.a }} {{ vars['b-c'] }} {{ eval("vars.d + 1") }} {{ other.vars.e }}""")
    assert done.vars == {"a", "b-c", "d"}


@pytest.mark.parametrize(
    ("expression", "problem"),
    [
        ("T(java.lang.Math).max(1, 2)", "type references"),
        ("new java.util.Date()", "constructors"),
        ("payload.toUpperCase()", "method call payload.toUpperCase"),
        ("#resetSequence('orders')", "#resetSequence has no template helper"),
        ("#notAHelper(1)", "#notAHelper is not a registered function"),
        ("#randInt(1)", "#randInt takes 2 arguments, got 1"),
        ("@myBean.value", "bean references"),
        ("vars?.x", "safe navigation"),
        ("{1, 2}", "inline lists and maps"),
        ("secret", "unknown name 'secret'"),
        ("#root", "the variable #root is not available"),
    ],
)
def test_spel_outside_the_helper_set_is_an_issue_naming_the_expression_and_is_left_as_is(
    expression: str, problem: str
) -> None:
    source = '{"v": "{{ eval("' + expression + '") }}"}'
    done = pebble.rewrite(source)
    assert done.text == source
    [issue] = done.issues
    assert (issue.severity, issue.code) == ("error", "spel-unsupported")
    assert issue.expression == 'eval("' + expression + '")'
    assert problem in issue.message
    assert issue.fix


def test_an_unsupported_eval_leaves_the_rest_of_the_template_translated() -> None:
    done = pebble.rewrite("""{{ payloadAsJson.a }} {{ eval("T(x).y()") }} {{ eval("#uuid()") }}""")
    assert done.text == """{{ payload.a }} {{ eval("T(x).y()") }} {{ uuid() }}"""
    assert [i.code for i in done.issues] == ["spel-unsupported"]


def test_eval_of_a_spel_text_known_only_at_run_time_is_an_issue_naming_it() -> None:
    done = pebble.rewrite("{{ eval(vars.expr) }}")
    [issue] = done.issues
    assert (issue.code, issue.expression) == ("spel-unsupported", "eval(vars.expr)")
    assert "no part of the SpEL text is known before run time" in issue.message


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("""{{ eval("#sha256_hex('" ~ payload ~ "')") }}""", "{{ sha256((payloadRaw | string)) }}"),
        (
            """{{ eval("#md5_hex('" ~ vars.salt ~ payloadAsJson.id ~ "')") }}""",
            "{{ md5((vars.salt | string) ~ (payload.id | string)) }}",
        ),
        (
            """{{ eval("#hmac_sha256_hex('k', 'card-" + payload.cardId + "')") }}""",
            "{{ hmacSha256('k', 'card-' ~ (payload.cardId | string)) }}",
        ),
        ("""{{ eval("#randInt(1, " ~ vars.max ~ ")") }}""", "{{ randInt(1, (vars.max)) }}"),
    ],
)
def test_eval_of_a_spel_text_built_around_values_calls_the_named_helper_on_them(source: str, expected: str) -> None:
    done = pebble.rewrite(source)
    assert done.issues == []
    assert done.text == expected


def test_a_built_spel_text_notes_the_vars_its_values_read() -> None:
    assert pebble.rewrite("""{{ eval("#md5_hex('" ~ vars.salt ~ "')") }}""").vars == {"salt"}


def test_a_helper_whose_name_is_computed_is_an_issue_naming_the_call() -> None:
    source = """{{ eval("#" ~ vars.hash ~ "('x')") }}"""
    done = pebble.rewrite(source)
    [issue] = done.issues
    assert issue.code == "spel-unsupported"
    assert issue.expression == source[3:-3]
    assert "computed at run time" in issue.message
    assert done.text == source


@pytest.mark.parametrize(
    ("source", "problem"),
    [
        ("{{ x | numberformat('#.##') }}", "the filter 'numberformat' has no Jinja equivalent"),
        ("{{ s.indexOf('a') }}", "the Java method indexOf() has no Jinja equivalent"),
        ("{% include 'header' %}", "the include tag is not available"),
        ('{{ "hello #{name}" }}', "string interpolation #{...} is not available"),
        ("{% for i in 1..3 %}{{ i }}{% endfor %}", "the range operator .. is not translated"),
    ],
)
def test_pebble_without_a_jinja_equivalent_is_an_issue(source: str, problem: str) -> None:
    done = pebble.rewrite(source)
    [issue] = done.issues
    assert issue.code == "pebble-unsupported"
    assert problem in issue.message


def test_a_template_that_still_does_not_compile_is_reported_as_template_syntax() -> None:
    done = pebble.rewrite("{% if a %}never closed")
    assert [i.code for i in done.issues] == ["template-syntax"]
    assert "does not compile" in done.issues[0].message


def test_java_date_letters_our_date_format_does_not_know_are_a_warning() -> None:
    done = pebble.rewrite("""{{ eval("#date_format(now, 'EEE dd MMM yyyy')") }}""")
    assert done.text == "{{ dateFormat(now(), 'EEE dd MMM yyyy') }}"
    assert [(i.severity, i.code) for i in done.issues] == [("warning", "date-pattern-partial")]
    assert "(EM)" in done.issues[0].message  # EEE (day name) and the third M of MMM (month name)
    assert spel.untranslated_date_letters("yyyy-MM-dd'T'HH:mm:ss.SSSXXX") == ""


def test_translated_helpers_render_with_our_engine() -> None:
    source = _clean(
        """{"d": "{{ eval("#date_format(now, 'yyyy-MM-dd')") }}", "u": "{{ eval("#uuid()") }}", """
        """"n": {{ eval("#randInt(3, 3)") }}, "s": "{{ eval("#sequence('k', 'numeric', 'K-%03d')") }}"}"""
    )
    rendered = _render(source)
    today = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d")
    assert re.fullmatch(r'\{"d": "' + today + r'", "u": "[0-9a-f-]{36}", "n": 3, "s": "K-001"\}', rendered)
