"""The control envelope always carries every field, and reading it explains what is wrong."""

from __future__ import annotations

import orjson
import pytest

from hivekeeper.protocol import envelope

SCOPE = envelope.Scope(swarmId="demo", role="caller", instance="caller-0")
FIELDS = {"timestamp", "version", "kind", "type", "origin", "scope", "correlationId", "idempotencyKey", "data"}
"""Exactly the keys PocketHive's signal envelope allows; outcomes, metrics and alerts add ``runtime``."""


def test_a_signal_has_exactly_the_protocols_keys_and_the_other_kinds_add_runtime() -> None:
    sig = envelope.signal("config-update", SCOPE, {"enabled": True}, origin="operator")
    runtime = {"templateId": "demo", "runId": "r-1"}
    others = [
        envelope.outcome(sig, "Applied", SCOPE, origin="caller-0", runtime=runtime),
        envelope.metric("status-full", SCOPE, {"enabled": False}, origin="caller-0", runtime=runtime),
        envelope.alert("runtime.exception", "boom", SCOPE, origin="caller-0", runtime=runtime),
    ]
    assert set(orjson.loads(sig.to_json())) == FIELDS, "no runtime key on a signal, not even null"
    for message in others:
        assert set(orjson.loads(message.to_json())) == FIELDS | {"runtime"}
    assert orjson.loads(envelope.metric("status-delta", SCOPE, {}, origin="i").to_json())["correlationId"] is None


def test_a_signal_with_a_runtime_is_refused_naming_the_key() -> None:
    body = orjson.loads(envelope.signal("status-request", SCOPE, {}, origin="cli").to_json())
    with pytest.raises(envelope.EnvelopeError, match="runtime: a signal carries no runtime"):
        envelope.parse(orjson.dumps({**body, "runtime": {"templateId": "t", "runId": "r"}}))
    with pytest.raises(envelope.EnvelopeError, match="signature: Extra inputs are not permitted"):
        envelope.parse(orjson.dumps({**body, "signature": "abc"}))


def test_signals_and_outcomes_carry_ids_metrics_and_alerts_do_not() -> None:
    sig = envelope.signal("status-request", SCOPE, {}, origin="cli", idempotency_key="k-1")
    out = envelope.outcome(sig, "Failed", SCOPE, origin="caller-0", context={"reason": "x"})
    assert sig.correlationId
    assert out.correlationId == sig.correlationId
    assert out.idempotencyKey == "k-1"
    assert out.data == {"status": "Failed", "retryable": False, "context": {"reason": "x"}}
    assert envelope.metric("status-delta", SCOPE, {}, origin="i").correlationId is None
    alert = envelope.alert("io.out-of-data", "empty", SCOPE, origin="i", level="warning")
    assert alert.kind == "event"
    assert alert.type == "alert"
    assert alert.data["code"] == "io.out-of-data"


def test_an_envelope_survives_a_round_trip() -> None:
    sig = envelope.signal("config-update", SCOPE, {"ratePerSec": 5}, origin="operator")
    assert envelope.parse(sig.to_json()) == sig


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b"{not json", "control message is not valid JSON"),
        (b"[1, 2]", "must be a JSON object, got list"),
        (b'{"kind": "signal"}', "timestamp: Field required"),
        (
            orjson.dumps({**orjson.loads(envelope.signal("x", SCOPE, {}, origin="o").to_json()), "kind": "bogus"}),
            "kind: Input should be",
        ),
    ],
)
def test_a_malformed_control_message_is_rejected_with_the_reason(body: bytes, expected: str) -> None:
    with pytest.raises(envelope.EnvelopeError, match=expected):
        envelope.parse(body)
