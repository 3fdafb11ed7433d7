"""Templates render with the helpers, and every failure names the template, the line and the cause."""

from __future__ import annotations

import hashlib
import hmac
import re
from collections import Counter

import pytest

from hivekeeper.templating.engine import TemplateEngine, TemplateError


@pytest.fixture
def engine() -> TemplateEngine:
    return TemplateEngine()


def test_context_values_filters_and_set_render(engine: TemplateEngine) -> None:
    source = "{% set id = payload.cardId %}/cards/{{ id }}/{{ vars.customer | default('none') }}"
    assert engine.render("t", source, {"payload": {"cardId": 7}, "vars": {}}) == "/cards/7/none"


def test_a_literal_needs_no_context(engine: TemplateEngine) -> None:
    assert engine.render("t", "plain text", {}) == "plain text"


def test_compiled_templates_are_cached(engine: TemplateEngine) -> None:
    assert engine.compile("t", "{{ 1 }}") is engine.compile("t", "{{ 1 }}")


def test_pick_weighted_follows_the_weights(engine: TemplateEngine) -> None:
    picks = Counter(engine.render("t", "{{ pickWeighted('a', 90, 'b', 10, 'c', 0) }}", {}) for _ in range(2000))
    assert picks["c"] == 0
    assert 1650 < picks["a"] < 1950


def test_seeded_picks_repeat_per_label_and_restart_after_reseed(engine: TemplateEngine) -> None:
    source = "{{ pickWeightedSeeded('calls', 42, 'x', 1, 'y', 1) }}"
    first = [engine.render("t", source, {}) for _ in range(20)]
    engine.reseed()
    assert [engine.render("t", source, {}) for _ in range(20)] == first
    assert TemplateEngine().render("t", source, {}) == first[0]


def test_helpers_produce_what_they_promise(engine: TemplateEngine) -> None:
    out = engine.render(
        "t",
        "{{ uuid() }}|{{ randInt(3, 3) }}|{{ sha256('a') }}|{{ md5('a') }}|{{ base64('hi') }}|"
        "{{ hmacSha256('k', 'v') }}|{{ jsonPointer(payload, '/a/0/b') }}|{{ regexExtract('id=42;', 'id=(\\\\d+)') }}|"
        "{{ dateFormat('2026-01-02T03:04:05Z', 'yyyy-MM-dd HH:mm') }}",
        {"payload": {"a": [{"b": "deep"}]}},
    )
    parts = out.split("|")
    assert re.fullmatch(r"[0-9a-f-]{36}", parts[0])
    assert parts[1:] == [
        "3",
        "ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb",
        "0cc175b9c0f1b6a831c399e269772661",
        "aGk=",
        hmac.new(b"k", b"v", hashlib.sha256).hexdigest(),
        "deep",
        "42",
        "2026-01-02 03:04",
    ]


def test_a_missing_attribute_names_template_line_and_name(engine: TemplateEngine) -> None:
    with pytest.raises(TemplateError) as caught:
        engine.render("cards::balance", "GET\n/cards/{{ payload.cardId }}", {"payload": {}})
    assert caught.value.template == "cards::balance"
    assert caught.value.line == 2
    assert "'cardId'" in str(caught.value)
    assert str(caught.value).startswith("template 'cards::balance' line 2:")


def test_an_unknown_name_is_an_error_not_an_empty_string(engine: TemplateEngine) -> None:
    with pytest.raises(TemplateError, match="'customer' is undefined"):
        engine.render("t", "{{ customer }}", {})


def test_a_syntax_error_names_the_line(engine: TemplateEngine) -> None:
    with pytest.raises(TemplateError, match=r"line 3: syntax error"):
        engine.render("t", "a\nb\n{% if %}", {})


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("{{ pickWeighted('a') }}", "needs pairs of value and weight"),
        ("{{ pickWeighted('a', -1) }}", "is negative"),
        ("{{ pickWeighted('a', 0) }}", "add up to 0"),
        ("{{ randInt(5, 1) }}", "lower bound is above the upper bound"),
        ("{{ dateOffset('soon') }}", "is not an offset"),
    ],
)
def test_a_bad_helper_call_explains_the_fix(engine: TemplateEngine, source: str, expected: str) -> None:
    with pytest.raises(TemplateError, match=expected):
        engine.render("t", source, {})


def test_the_sandbox_refuses_internals(engine: TemplateEngine) -> None:
    with pytest.raises(TemplateError, match="not allowed in the sandbox"):
        engine.render("t", "{{ payload.__class__.__mro__ }}", {"payload": {}})


async def test_sequence_counts_per_key_when_rendered_per_item(engine: TemplateEngine) -> None:
    source = "order-{{ sequence('orders') }}/{{ sequence('other') }}"
    rendered = [await engine.render_async("t", source, {}) for _ in range(3)]
    assert rendered == ["order-1/1", "order-2/2", "order-3/3"]


def test_sequence_is_refused_where_a_value_is_rendered_once(engine: TemplateEngine) -> None:
    with pytest.raises(TemplateError, match=r"sequence\(\) cannot be used here"):
        engine.render("baseUrl", "http://x/{{ sequence('n') }}", {})
