"""The per-render shortcuts (a dict's keys looked up at once, the compiled-template cache keyed by the semantics'
fields, ``nowIso()`` formatted once per second) give what the long way gives."""

from __future__ import annotations

import datetime as dt
import re
from collections import OrderedDict
from typing import Any

import pytest
from jinja2 import ChainableUndefined, StrictUndefined, Undefined
from jinja2.sandbox import ImmutableSandboxedEnvironment

from hivekeeper.protocol.workitem import new_item
from hivekeeper.templating.engine import Semantics, TemplateEngine, TemplateError
from hivekeeper.templating.sandbox import BudgetedSandbox

ITEM = new_item("{}", swarm="s", service="g", instance="g-0")
LOOKUPS: list[tuple[object, str]] = [
    ({"cardId": 7}, "cardId"),
    ({"cardId": 7}, "missing"),
    ({"items": "a key named like a method"}, "items"),
    ({"get": 1}, "get"),
    ({}, "__class__"),
    (OrderedDict(cardId=7), "cardId"),
    ([1, 2], "append"),
    ("text", "upper"),
    (ITEM, "messageId"),
]


def _same(ours: Any, theirs: Any) -> bool:
    if isinstance(theirs, Undefined):
        return type(ours) is type(theirs) and ours._undefined_name == theirs._undefined_name
    return bool(ours == theirs)


@pytest.mark.parametrize("undefined", [StrictUndefined, ChainableUndefined])
@pytest.mark.parametrize(("obj", "attribute"), LOOKUPS)
def test_an_attribute_look_up_finds_what_jinjas_sandbox_finds(
    obj: object, attribute: str, undefined: type[Undefined]
) -> None:
    ours = BudgetedSandbox(undefined=undefined).getattr(obj, attribute)
    theirs = ImmutableSandboxedEnvironment(undefined=undefined).getattr(obj, attribute)
    assert _same(ours, theirs), (ours, theirs)


def test_a_name_dict_has_means_the_method_and_a_subscript_the_key() -> None:
    engine = TemplateEngine()
    context = {"payload": {"keys": "x", "a": 1}}
    assert engine.render("t", "{{ payload.keys() | list | join(',') }}|{{ payload['keys'] }}", context) == "keys,a|x"


def test_a_missing_key_is_still_an_error_naming_it_or_empty_when_the_swarm_says_so() -> None:
    with pytest.raises(TemplateError, match="'cardId' is not defined"):
        TemplateEngine().render("t", "{{ payload.cardId }}", {"payload": {}})
    empty = TemplateEngine(semantics=Semantics(undefined="empty"))
    assert empty.render("t", "[{{ payload.cardId.last4 }}]", {"payload": {}}) == "[]"


def test_a_template_is_compiled_once_per_semantics() -> None:
    engine = TemplateEngine()
    strict = engine.compile("t", "{{ x }}")
    engine.configure(Semantics(undefined="empty"))
    empty = engine.compile("t", "{{ x }}")
    assert empty is not strict
    engine.configure(Semantics())
    assert engine.compile("t", "{{ x }}") is strict


def test_now_iso_is_the_current_utc_second_as_date_format_writes_it() -> None:
    engine = TemplateEngine()
    before = dt.datetime.now(dt.UTC).replace(microsecond=0)
    text = engine.render("t", "{{ nowIso() }}", {})
    after = dt.datetime.now(dt.UTC)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", text)
    assert before <= dt.datetime.fromisoformat(text.replace("Z", "+00:00")) <= after
    again = engine.render("t", "{{ nowIso() }}|{{ dateFormat() }}", {})
    first, second = again.split("|")
    assert first == second or first < second, "the same second, unless the clock ticked between the two"
