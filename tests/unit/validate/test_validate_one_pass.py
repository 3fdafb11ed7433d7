"""validate reports every finding in one pass: a refused value does not hide the problems of the references,
and the checks import relies on (a postprocessor after journeys, a PocketHive bundle path) are validate's."""

from __future__ import annotations

import textwrap

from hivekeeper.validate.report import Summary
from hivekeeper.validate.run import validate_text

HEAD = """
apiVersion: hivekeeper.io/v1alpha1
kind: Swarm
metadata: {name: demo}
spec:
  sut: {endpoints: {default: {baseUrl: "http://sut:8080"}}}
  templates:
    - {serviceId: cards, callId: balance, pathTemplate: /b}
  roles:
"""


def _run(roles: str) -> Summary:
    return validate_text(HEAD + textwrap.indent(textwrap.dedent(roles), "    "), "m.yaml")


def _codes(summary: Summary) -> list[tuple[str, str]]:
    return [(f.code, f.path) for f in summary.findings]


def test_a_negative_rate_and_a_call_id_with_no_template_are_two_findings() -> None:
    summary = _run(
        """
        - name: feeder
          role: generator
          work: {out: build}
          config:
            inputs: {type: SCHEDULER, scheduler: {ratePerSec: -5}}
            message: {headers: {x-ph-call-id: topup}}
        - name: builder
          role: request-builder
          work: {in: build}
          config: {serviceId: cards, outputs: {type: NONE}}
        """
    )
    assert _codes(summary) == [
        ("role-config", "spec.roles[0].config.inputs.scheduler.ratePerSec"),
        ("template-missing", "spec.roles[0].config.message.headers.x-ph-call-id"),
    ]


def test_a_refused_step_key_does_not_hide_a_step_without_a_template() -> None:
    summary = _run(
        """
        - name: gen
          role: generator
          work: {out: q}
        - name: journey
          role: http-sequence
          work: {in: q}
          config:
            baseUrl: "{{ sut.endpoints.default.baseUrl }}"
            threadCount: 0
            serviceId: cards
            steps: [{callId: balance}, {callId: nope}]
        """
    )
    assert _codes(summary) == [
        ("role-config", "spec.roles[1].config.threadCount"),
        ("template-missing", "spec.roles[1].config.steps[1].callId"),
    ]


def test_a_postprocessor_reading_an_http_sequences_journeys_is_an_error() -> None:
    summary = _run(
        """
        - name: gen
          role: generator
          work: {out: q}
        - name: journey
          role: http-sequence
          work: {in: q, out: done}
          config: {baseUrl: "http://sut", serviceId: cards, steps: [{callId: balance}]}
        - name: stats
          role: postprocessor
          work: {in: done}
        """
    )
    assert _codes(summary) == [("postprocessor-after-journey", "spec.roles[2].work.in")]
    assert "postprocessor.bad-result" in summary.findings[0].message


def test_a_pockethive_bundle_path_in_any_roles_config_is_an_error_a_custom_images_too() -> None:
    summary = _run(
        """
        - name: gen
          role: generator
          work: {out: q}
          config: {message: {body: "/app/scenario/data/cards.json"}}
        - name: checker
          image: acme/checker:1
          work: {in: q}
          config: {schemas: ["/app/scenario/schemas/card.json"], note: "/app/scenarios/x"}
        """
    )
    assert _codes(summary) == [
        ("bundle-file", "spec.roles[0].config.message.body"),
        ("bundle-file", "spec.roles[1].config.schemas[0]"),
    ]


def test_a_blank_list_name_next_to_sources_is_unset() -> None:
    summary = _run(
        """
        - name: gen
          role: generator
          work: {out: q}
          config:
            inputs: {type: REDIS_DATASET, redis: {listName: "", sources: [{listName: a}], ratePerSec: 2}}
        - name: caller
          role: processor
          work: {in: q}
          config: {baseUrl: "http://sut", outputs: {type: NONE}}
        """
    )
    assert summary.findings == []
