"""regexMatch and regexExtract run on RE2: linear time whatever the pattern, and clear refusals for the
features that would need backtracking."""

from __future__ import annotations

import time

import pytest

from hivekeeper.templating.engine import TemplateEngine, TemplateError


@pytest.fixture
def engine() -> TemplateEngine:
    return TemplateEngine()


@pytest.mark.parametrize(
    "pattern", [r"^(a|aa)+$", r"^(a+)+$", r"^(\\w+\\s?)+$", r"(x+x+)+y"], ids=["alternation", "nested", "words", "xy"]
)
def test_catastrophic_patterns_answer_at_once(engine: TemplateEngine, pattern: str) -> None:
    # Python's re took 14 s for the first of these on 28 characters; RE2 is linear in the input.
    for size in (28, 100_000):
        started = time.monotonic()
        source = f"{{{{ regexMatch(payload.text, '{pattern}') }}}}"
        assert engine.render("t", source, {"payload": {"text": "a" * size + "!"}}) == "False"
        assert time.monotonic() - started < 0.5


def test_extract_takes_numbered_and_named_groups_and_non_ascii_text(engine: TemplateEngine) -> None:
    context = {"payload": "café id=42; ref=ü7"}
    assert engine.render("t", "{{ regexExtract(payload, 'id=(\\\\d+)') }}", context) == "42"
    assert engine.render("t", "{{ regexExtract(payload, 'ref=(?P<ref>\\\\S+)', 'ref') }}", context) == "ü7"
    assert engine.render("t", "{{ regexExtract(payload, 'caf(é)', 0) }}", context) == "café"
    assert engine.render("t", "{{ regexExtract(payload, 'nope(\\\\d)') }}", context) == ""
    assert engine.render("t", "{{ regexMatch(payload, '^café') }}", context) == "True"


def test_a_missing_group_is_named(engine: TemplateEngine) -> None:
    with pytest.raises(TemplateError, match=r"regexExtract: pattern 'id=\(\\\\d\+\)' has no group 2"):
        engine.render("t", "{{ regexExtract('id=4', 'id=(\\\\d+)', 2) }}", {})


@pytest.mark.parametrize(
    ("pattern", "reason"),
    [(r"(a)\\1", "invalid escape sequence"), ("(?=a)a", "invalid perl operator"), ("(?<!x)a", "invalid perl operator")],
)
def test_backreferences_and_lookaround_are_refused_when_the_template_compiles(
    engine: TemplateEngine, pattern: str, reason: str
) -> None:
    with pytest.raises(TemplateError) as caught:
        engine.validate("headersTemplate.x", f"ok\n{{{{ regexMatch(payload, '{pattern}') }}}}")
    message = str(caught.value)
    assert message.startswith("template 'headersTemplate.x' line 2: regexMatch: pattern")
    assert reason in message
    assert "backreferences (\\1) and lookaround" in message


def test_a_pattern_computed_per_item_is_refused_when_it_renders(engine: TemplateEngine) -> None:
    with pytest.raises(
        TemplateError, match=r"regexExtract: pattern '\(\?=a\)' is not a regular expression RE2 can run"
    ):
        engine.render("t", "{{ regexExtract('a', payload.p) }}", {"payload": {"p": "(?=a)"}})
