"""WorkItems grow by steps, keep their correlation id, and refuse malformed bodies clearly."""

from __future__ import annotations

import orjson
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


def test_a_new_item_has_one_step_a_correlation_id_and_no_hop_until_its_work_loop_records_one() -> None:
    item = _item()
    assert len(item.steps) == 1
    assert item.steps[0].headers == {"ph.step.service": "generator", "ph.step.instance": "gen-0"}
    assert item.correlation_id == item.messageId
    assert item.observability.hops == []
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


def _theirs(received: object, processed: object) -> bytes:
    """A WorkItem as a PocketHive worker publishes it: hop times as epoch numbers."""
    return orjson.dumps(
        {
            "version": "1",
            "headers": {"swarmId": "demo", "x-ph-call-id": "balance"},
            "messageId": "7f1c",
            "contentType": "application/json",
            "steps": [
                {
                    "index": 0,
                    "payload": '{"cardId": 7}',
                    "payloadEncoding": "utf-8",
                    "headers": {"ph.step.service": "generator", "ph.step.instance": "demo-seeder-bee-1"},
                }
            ],
            "observability": {
                "traceId": "abc",
                "swarmId": "demo",
                "hops": [
                    {
                        "service": "generator",
                        "instance": "demo-seeder-bee-1",
                        "receivedAt": received,
                        "processedAt": processed,
                    }
                ],
            },
        }
    )


def test_epoch_milliseconds_in_hops_are_read_as_rfc_3339_text() -> None:
    [hop] = workitem.parse(_theirs(1_765_000_000_123, 1_765_000_000_456)).observability.hops
    assert (hop.receivedAt, hop.processedAt) == ("2025-12-06T05:46:40.123000Z", "2025-12-06T05:46:40.456000Z")


def test_epoch_seconds_whole_or_fractional_are_read_too() -> None:
    [hop] = workitem.parse(_theirs(1_765_000_000, 1_765_000_000.25)).observability.hops
    assert (hop.receivedAt, hop.processedAt) == ("2025-12-06T05:46:40.000000Z", "2025-12-06T05:46:40.250000Z")


def test_the_magnitude_tells_seconds_from_milliseconds() -> None:
    below, at = workitem.EPOCH_MILLIS_FROM - 1, workitem.EPOCH_MILLIS_FROM
    assert workitem.parse(_theirs(below, None)).observability.hops[0].receivedAt.startswith("5138-")
    assert workitem.parse(_theirs(at, None)).observability.hops[0].receivedAt.startswith("1973-03-03")


def test_their_item_goes_on_like_ours_and_is_written_back_as_text() -> None:
    item = workitem.parse(_theirs(1_765_000_000_123, 1_765_000_000_456))
    grown = item.with_step("next", service="builder", instance="b-0")
    again = workitem.parse(grown.to_json())
    assert again.observability.hops[0].receivedAt == "2025-12-06T05:46:40.123000Z"
    assert again.payload == "next"


@pytest.mark.parametrize("bad", [True, 9 * 10**18, 1e300, [1]])
def test_a_hop_time_that_is_no_date_is_refused_naming_it(bad: object) -> None:
    with pytest.raises(workitem.WorkItemError, match="receivedAt"):
        workitem.parse(_theirs(bad, None))
