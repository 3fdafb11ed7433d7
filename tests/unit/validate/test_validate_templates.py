"""What validate reads from a template's syntax tree: the values it can render, the vars and SUT names it uses."""

from __future__ import annotations

import jinja2
import pytest

from hivekeeper.validate import template_refs
from hivekeeper.validate.template_refs import DYNAMIC


def outputs(source: str) -> set[str | None]:
    return set(template_refs.outputs(template_refs.parse(source)))


def test_literal_text_renders_itself() -> None:
    assert outputs("balance") == {"balance"}


def test_pick_weighted_gives_each_value_with_a_weight() -> None:
    assert outputs("{{ pickWeighted('balance', 80, 'topup', 20, 'never', 0) }}") == {"balance", "topup"}


def test_pick_weighted_seeded_skips_its_label_and_seed() -> None:
    assert outputs("{{ pickWeightedSeeded('calls', 42, 'a', 1, 'b', 2) }}") == {"a", "b"}


def test_if_branches_and_conditional_expressions_give_every_branch() -> None:
    source = (
        "{%- set list = headers['x-ph-redis-list'] -%}\n"
        "{%- if list == 'cards.topup' -%}topup\n"
        "{%- elif list == 'cards.suspended' -%}activate\n"
        "{%- else -%}{{ pickWeighted('balance', 80, 'suspend', 20) }}{%- endif -%}"
    )
    assert outputs(source) == {"topup", "activate", "balance", "suspend"}
    assert outputs("{{ 'a' if payload.x else 'b' }}") == {"a", "b"}
    assert outputs("{% if payload.x %}a{% endif %}") == {"a", ""}


def test_text_around_an_alternative_is_kept() -> None:
    assert outputs("v2-{{ pickWeighted('a', 1, 'b', 1) }}") == {"v2-a", "v2-b"}


@pytest.mark.parametrize(
    "source",
    ["{{ payload.call }}", "{{ pickWeighted(payload.a, 1, 'b', 1) }}", "{% for x in y %}{{ x }}{% endfor %}"],
)
def test_anything_computed_per_item_is_dynamic(source: str) -> None:
    assert DYNAMIC in outputs(source)


def test_too_many_combinations_count_as_dynamic() -> None:
    part = "{{ pickWeighted(" + ", ".join(f"'{i}', 1" for i in range(20)) + ") }}"
    assert outputs(part * 2) == {DYNAMIC}


def test_references_list_the_constant_keys_below_a_name() -> None:
    tree = template_refs.parse(
        "{{ vars.currency }} {{ vars['amount'] }} {{ sut.endpoints.default.baseUrl }} "
        "{{ sut.endpoints['cards'].baseUrl }} {{ vars[payload.key] }} {{ sut.endpoints[payload.e].baseUrl }}"
    )
    assert template_refs.references(tree, "vars") == [("currency",), ("amount",)]
    assert template_refs.references(tree, "sut") == [
        ("endpoints", "default", "baseUrl"),
        ("endpoints", "cards", "baseUrl"),
        ("endpoints",),
    ]


def test_guarded_references_are_not_listed() -> None:
    tree = template_refs.parse(
        "{{ vars.a | default('x') }}{% if vars.b is defined %}{{ vars.b }}{% endif %}{{ vars.get('c') }}"
        "{{ vars.d | d(vars.e) }}"
    )
    # vars.b inside the guarded branch is still read unguarded: it is listed (once guarded, once not)
    assert template_refs.references(tree, "vars") == [("b",), ("e",)]


def test_a_syntax_error_is_raised_with_its_line() -> None:
    with pytest.raises(jinja2.TemplateSyntaxError) as raised:
        template_refs.parse("a\n{% if x %}")
    assert raised.value.lineno == 2
