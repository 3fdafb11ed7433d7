"""WorkItems grow by steps, keep their correlation id, and refuse malformed bodies clearly."""

from __future__ import annotations

import pytest

from hivekeeper.protocol import workitem


def _item() -> workitem.WorkItem:
    return workitem.new_item(
        '{"cardId": 7}',
        swarm="demo",
        service="generator",
        instance="gen-0",
        headers={"x-ph-call-id": "balance"},
    )


def test_a_new_item_has_one_step_a_correlation_id_and_a_hop() -> None:
    item = _item()
    assert len(item.steps) == 1
    assert item.steps[0].headers == {"ph.step.service": "generator", "ph.step.instance": "gen-0"}
    assert item.correlation_id == item.messageId
    assert item.observability.hops[0].service == "generator"
    assert item.headers["x-ph-call-id"] == "balance"


def test_appending_a_step_makes_it_the_current_payload_and_leaves_the_original() -> None:
    item = _item()
    grown = item.with_step("second", service="request-builder", instance="rb-0", headers={"k": "v"})
    assert grown.payload == "second"
    assert grown.steps[1].index == 1
    assert grown.steps[1].headers["k"] == "v"
    assert item.payload == '{"cardId": 7}'


def test_an_item_survives_a_round_trip() -> None:
    item = _item()
    assert workitem.parse(item.to_json()) == item


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b"nope", "work item is not valid JSON"),
        (b'"text"', "must be a JSON object, got str"),
        (
            b'{"messageId": "m", "steps": [], "observability": {"traceId": "t", "swarmId": "s"}}',
            "steps: List should have at least 1 item",
        ),
    ],
)
def test_a_malformed_work_item_is_rejected_with_the_reason(body: bytes, expected: str) -> None:
    with pytest.raises(workitem.WorkItemError, match=expected):
        workitem.parse(body)


@pytest.mark.parametrize(
    ("payload", "value"),
    [
        ('{"a": 1}', {"a": 1}),
        ("[1]", [1]),
        ("42", 42),
        ("-3", -3),
        ("true", True),
        ("plain", "plain"),
        ("{broken", "{broken"),
        ("", ""),
    ],
)
def test_a_payload_is_its_parsed_json_when_it_parses_else_the_string(payload: str, value: object) -> None:
    assert workitem.as_template_value(payload) == value
