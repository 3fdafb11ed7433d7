"""A Swarm chooses what an undefined name does (strict or empty) and whether the newline after a tag is output
(keep or trim, PocketHive's rule); every render reads who renders it (swarmId, runId, role, instanceId)."""

from __future__ import annotations

import pytest

from hivekeeper.templating.context import CONTEXT_NAMES, Origin
from hivekeeper.templating.engine import Semantics, TemplateEngine, TemplateError
from hivekeeper.templating.tag_newline import trim_tag_newlines

XML_BODY = """{% set id = payload.id %}
{% set amount = payload.amount %}
{# the request #}
<?xml version="1.0"?>
<topup id="{{ id }}">
{% if amount > 10 %}
  <big/>
{% endif %}
  <amount>{{ amount }}</amount>
</topup>
"""


def test_strict_names_the_undefined_name_and_how_to_render_it_empty() -> None:
    with pytest.raises(TemplateError) as caught:
        TemplateEngine().render("message.body", "{{ tenantId }}", {})
    assert "'tenantId' is undefined" in caught.value.problem
    assert "spec.templating.undefined: empty" in caught.value.problem
    assert caught.value.template == "message.body"


def test_empty_renders_undefined_names_and_their_attributes_as_empty_text() -> None:
    engine = TemplateEngine(semantics=Semantics(undefined="empty"))
    source = "[{{ tenantId }}|{{ missing.deep.key }}|{{ payload.nothing }}|{{ other | default('d') }}]"
    assert engine.render("t", source, {"payload": {}}) == "[|||d]"


def test_the_same_source_follows_the_semantics_in_force() -> None:
    engine = TemplateEngine()
    with pytest.raises(TemplateError):
        engine.render("t", "a{{ nope }}b", {})
    engine.configure(Semantics(undefined="empty"))
    assert engine.render("t", "a{{ nope }}b", {}) == "ab"
    engine.configure(Semantics())
    with pytest.raises(TemplateError):
        engine.render("t", "a{{ nope }}b", {})


def test_trim_outputs_an_xml_body_as_pebble_does_without_leading_blank_lines() -> None:
    context = {"payload": {"id": "c-1", "amount": 20}}
    kept = TemplateEngine().render("t", XML_BODY, context)
    trimmed = TemplateEngine(semantics=Semantics(tag_newline="trim")).render("t", XML_BODY, context)
    assert kept.startswith("\n\n\n<?xml")
    assert trimmed == '<?xml version="1.0"?>\n<topup id="c-1">\n  <big/>\n  <amount>20</amount>\n</topup>\n'


def test_trim_drops_one_newline_after_each_kind_of_tag_and_keeps_raw_text() -> None:
    engine = TemplateEngine(semantics=Semantics(tag_newline="trim"))
    assert engine.render("t", "{{ a }}\n{{ b }}\n\nend", {"a": 1, "b": 2}) == "12\nend"
    assert engine.render("t", "{# note #}\r\nx", {}) == "x"
    assert engine.render("t", "{% raw %}\n{{ kept }}\n{% endraw %}\nz", {}) == "{{ kept }}\nz"


def test_trim_keeps_template_line_numbers_in_errors() -> None:
    engine = TemplateEngine(semantics=Semantics(tag_newline="trim"))
    with pytest.raises(TemplateError) as caught:
        engine.render("t", "{% set a = 1 %}\n{% set b = 2 %}\n{{ 1 // 0 }}", {})
    assert caught.value.line == 3


def test_moving_the_newline_into_the_tag_keeps_strings_and_modifiers_intact() -> None:
    assert trim_tag_newlines("{{ '}}' }}\nA") == "{{ '}}' \n}}A"
    assert trim_tag_newlines("{%- if x -%}\nB") == "{%- if x \n-%}B"
    assert trim_tag_newlines("{{ x }}") == "{{ x }}"
    assert trim_tag_newlines("{{ never closed\n") == "{{ never closed\n"


def test_every_render_reads_who_renders_it() -> None:
    engine = TemplateEngine(origin=Origin(swarm="cards", role="gen", instance="gen-0", run_id="r1"))
    source = "{{ swarmId }}/{{ runId }}/{{ role }}/{{ instanceId }}/[{{ correlationId }}]"
    assert engine.render("t", source, {}) == "cards/r1/gen/gen-0/[]"
    assert engine.render("t", "{{ correlationId }}", {"correlationId": "c-9"}) == "c-9"
    engine.configure(Semantics(), Origin(swarm="cards", run_id="r2"))
    assert engine.render("t", "{{ runId }}", {}) == "r2"


def test_the_documented_context_names_are_the_ones_rendered() -> None:
    engine = TemplateEngine()
    context = {"payload": {}, "payloadRaw": "", "headers": {}, "workItem": None, "vars": {}, "sut": {}}
    for name in CONTEXT_NAMES:
        assert engine.render("t", f"{{{{ {name} is defined }}}}", context) == "True", name
