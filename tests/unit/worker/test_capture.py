"""Debug capture rules: which steps are captured, the per-journey budget, body truncation, header
redaction, the record and its key."""

from __future__ import annotations

import itertools
from typing import Any

import orjson
import pytest

from hivekeeper.worker import capture
from hivekeeper.worker.capture import CaptureInput, CapturePolicy, JourneyBudget
from hivekeeper.worker.transports.memory import MemoryStore


def _policy(**kw: Any) -> CapturePolicy:
    base: dict[str, Any] = {
        "mode": "ALWAYS",
        "sample_pct": 0.0,
        "max_body_bytes": 1024,
        "max_journey_bytes": 1 << 20,
        "include_headers": True,
        "include_request": False,
        "ttl_seconds": 120,
        "redact": ["Authorization", "set-cookie"],
    }
    base.update(kw)
    return CapturePolicy.build(**base)


# -- which steps -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("mode", "ok", "captured"),
    [
        ("NONE", False, False),
        ("NONE", True, False),
        ("ERROR_ONLY", False, True),
        ("ERROR_ONLY", True, False),
        ("ALWAYS", True, True),
        ("ALWAYS", False, True),
    ],
)
def test_the_mode_decides_which_steps_are_captured(mode: str, ok: bool, captured: bool) -> None:
    assert _policy(mode=mode).wants(ok) is captured


def test_sample_mode_draws_once_per_step_against_sample_pct() -> None:
    policy = _policy(mode="SAMPLE", sample_pct=0.25)
    draws = itertools.cycle([0.0, 0.24, 0.25, 0.9])
    decisions = [policy.wants(True, lambda: next(draws)) for _ in range(8)]
    assert decisions == [True, True, False, False] * 2
    assert policy.wants(False, lambda: 0.5) is False, "errors are sampled like any step"


def test_sample_mode_with_zero_pct_captures_nothing_and_one_captures_everything() -> None:
    assert not any(_policy(mode="SAMPLE", sample_pct=0.0).wants(True) for _ in range(1000))
    assert all(_policy(mode="SAMPLE", sample_pct=1.0).wants(True) for _ in range(1000))


# -- budget ----------------------------------------------------------------------------------------
def test_the_journey_budget_refuses_the_capture_that_would_exceed_it_and_every_later_one() -> None:
    budget = JourneyBudget(1000)
    assert budget.admit(600)
    assert budget.admit(400), "exactly the budget fits"
    assert not budget.admit(1)
    assert budget.exhausted
    budget = JourneyBudget(1000)
    assert budget.admit(600)
    assert not budget.admit(500)
    assert not budget.admit(10), "a smaller later capture is refused too: later steps are not captured"
    assert budget.used == 600
    assert "1000 bytes (maxJourneyBytes)" in budget.reason()


# -- truncation ------------------------------------------------------------------------------------
def test_bodies_within_the_limit_are_kept_whole() -> None:
    assert capture.truncate(b'{"id": 1}', 9) == ('{"id": 1}', False)
    assert capture.truncate(b"", 0) == ("", False)


def test_bodies_are_cut_to_the_limit_in_bytes() -> None:
    text, cut = capture.truncate(b"x" * 100, 10)
    assert (text, cut) == ("x" * 10, True)


@pytest.mark.parametrize("limit", [1, 2, 3, 4, 5, 6, 7])
def test_truncation_never_splits_a_utf8_character(limit: int) -> None:
    body = "aé€😀".encode()  # 1 + 2 + 3 + 4 bytes
    text, cut = capture.truncate(body, limit)
    assert cut
    assert "\ufffd" not in text
    assert len(text.encode()) <= limit
    assert body.decode().startswith(text)


def test_invalid_utf8_is_replaced_not_an_error() -> None:
    text, cut = capture.truncate(b"ok\xff\xfe", 100)
    assert (text, cut) == ("ok\ufffd\ufffd", False)


# -- redaction -------------------------------------------------------------------------------------
def test_redaction_ignores_case_and_keeps_the_shape_of_repeated_headers() -> None:
    headers = {"Authorization": "Bearer s3cret", "set-cookie": ["a=1", "b=2"], "Content-Type": "application/json"}
    out = capture.redact(headers, frozenset({"authorization", "set-cookie"}))
    assert out == {
        "Authorization": "[redacted]",
        "set-cookie": ["[redacted]", "[redacted]"],
        "Content-Type": "application/json",
    }
    assert headers["Authorization"] == "Bearer s3cret", "the input is not changed"


# -- record and key --------------------------------------------------------------------------------
def _input(**kw: Any) -> CaptureInput:
    base: dict[str, Any] = {
        "swarm": "ns_onboarding",
        "role": "onboard",
        "instance": "onboard-0",
        "journey_id": "corr-1",
        "step_index": 1,
        "step_id": "account",
        "service_id": "onboarding",
        "call_id": "openAccount",
        "status": 201,
        "attempts": 2,
        "duration_ms": 12.3456,
        "captured_at": "2026-01-01T00:00:00.000000Z",
        "method": "POST",
        "url": "http://sut/customers/cus-1/accounts",
        "request_headers": {"Authorization": "Bearer s3cret", "Content-Type": "application/json"},
        "request_body": '{"currency": "EUR"}',
        "response_headers": {"set-cookie": ["sid=1"], "location": ["/accounts/acc-2"]},
        "response_body": b'{"id": "acc-2"}',
    }
    base.update(kw)
    return CaptureInput(**base)


def test_the_key_names_swarm_role_instance_journey_and_step() -> None:
    key = capture.capture_key("ns_onboarding", "onboard", "onboard-0", "corr-1", 3)
    assert key == "hivekeeper:debug:ns_onboarding:onboard:onboard-0:corr-1:3"
    assert key.startswith(capture.swarm_prefix("ns_onboarding"))
    assert key.startswith(capture.swarm_prefix("ns_onboarding", "onboard"))
    assert not key.startswith(capture.swarm_prefix("ns_onboard"))


def test_a_record_carries_the_step_and_the_redacted_response() -> None:
    doc = capture.record(_input(), _policy())
    assert doc["journeyId"] == "corr-1"
    assert (doc["stepId"], doc["serviceId"], doc["callId"], doc["status"], doc["attempts"]) == (
        "account",
        "onboarding",
        "openAccount",
        201,
        2,
    )
    assert doc["durationMs"] == 12.346
    assert doc["response"] == {
        "body": '{"id": "acc-2"}',
        "bodyBytes": 15,
        "truncated": False,
        "headers": {"set-cookie": ["[redacted]"], "location": ["/accounts/acc-2"]},
    }
    assert "request" not in doc, "requests may hold secrets: only with includeRequest"
    assert "error" not in doc


def test_include_request_adds_the_redacted_request_and_include_headers_false_drops_all_headers() -> None:
    doc = capture.record(_input(), _policy(include_request=True))
    assert doc["request"]["headers"]["Authorization"] == "[redacted]"
    assert doc["request"]["body"] == '{"currency": "EUR"}'
    assert doc["request"]["url"] == "http://sut/customers/cus-1/accounts"
    bare = capture.record(_input(), _policy(include_request=True, include_headers=False))
    assert "headers" not in bare["request"]
    assert "headers" not in bare["response"]


@pytest.mark.parametrize(
    ("kept", "sent", "bounds"),
    [
        (50, 5000, ["maxResponseBytes"]),
        (500, 5000, ["maxResponseBytes", "debugCapture.maxBodyBytes"]),
        (500, 500, ["debugCapture.maxBodyBytes"]),
        (50, 50, None),
    ],
    ids=["the response limit", "both", "the capture's", "none"],
)
def test_a_captured_body_names_the_bounds_that_cut_it(kept: int, sent: int, bounds: list[str] | None) -> None:
    doc = capture.record(_input(response_body=b"y" * kept, response_bytes=sent), _policy(max_body_bytes=100))
    response = doc["response"]
    assert (response["bodyBytes"], response["truncated"]) == (sent, bounds is not None)
    assert response.get("truncatedBy") == bounds


def test_record_bodies_respect_max_body_bytes_and_keep_the_real_size() -> None:
    doc = capture.record(
        _input(response_body=b"y" * 5000, request_body="z" * 5000), _policy(max_body_bytes=100, include_request=True)
    )
    assert doc["response"]["body"] == "y" * 100
    assert doc["response"]["bodyBytes"] == 5000
    assert doc["response"]["truncated"] is True
    assert doc["request"]["body"] == "z" * 100
    assert doc["request"]["bodyTruncated"] is True
    assert len(capture.encode(doc)) < 1000


def test_a_transport_error_records_the_error_and_no_response() -> None:
    doc = capture.record(
        _input(status=-1, response_headers=None, response_body=b"", error="timeout: no complete response"), _policy()
    )
    assert doc["status"] == -1
    assert doc["error"] == "timeout: no complete response"
    assert doc["response"] is None
    assert orjson.loads(capture.encode(doc)) == doc


# -- writing ---------------------------------------------------------------------------------------
async def test_a_batch_sets_every_key_with_its_ttl_within_the_budget() -> None:
    clock = [100.0]
    store = MemoryStore(clock=lambda: clock[0])
    budget = JourneyBudget(1 << 20)
    first = capture.prepare(_input(), _policy(ttl_seconds=30), budget)
    second = capture.prepare(_input(step_index=2, call_id="issueCard"), _policy(ttl_seconds=30), budget)
    assert isinstance(first, capture.Pending)
    assert isinstance(second, capture.Pending)
    assert first.key == "hivekeeper:debug:ns_onboarding:onboard:onboard-0:corr-1:1"
    assert await store.get(first.key) is None, "nothing is written before the batch"
    assert await capture.write_batch(store, [first, second], _policy(ttl_seconds=30)) is None
    assert orjson.loads(await store.get(first.key) or b"")["callId"] == "openAccount"
    assert orjson.loads(await store.get(second.key) or b"")["callId"] == "issueCard"
    assert await store.ttl(second.key) == 30
    assert budget.used == len(first.data) + len(second.data)
    clock[0] += 31
    assert await store.get(first.key) is None, "captures expire"


async def test_an_over_budget_capture_is_skipped_with_the_reason() -> None:
    prepared = capture.prepare(_input(), _policy(), JourneyBudget(10))
    assert isinstance(prepared, capture.Written)
    assert (prepared.key, prepared.error) == (None, None)
    assert "maxJourneyBytes" in (prepared.skipped or "")


class _DownStore(MemoryStore):
    async def setex_many(self, entries: list[tuple[str, bytes]], ttl_seconds: int) -> None:
        raise ConnectionError("Redis is down")


async def test_a_store_failure_is_returned_not_raised() -> None:
    prepared = capture.prepare(_input(), _policy(), JourneyBudget(1 << 20))
    assert isinstance(prepared, capture.Pending)
    error = await capture.write_batch(_DownStore(), [prepared], _policy())
    assert isinstance(error, ConnectionError)
    assert capture.failed_write(error) == "capture write failed: ConnectionError"


def test_a_capture_hides_credentials_by_the_shared_rule_in_headers_and_bodies_even_with_no_names_listed() -> None:
    doc = capture.record(
        _input(
            request_headers={"X-Api-Key": "k-1", "Proxy-Authorization": "Basic dTpw", "Accept": "*/*"},
            request_body="grant_type=password&username=bob&password=hunter2",
            response_headers={"Set-Cookie": ["sid=1"], "Location": ["/x"]},
            response_body=b'{"access_token": "eyJ.abc", "expires_in": 300, "user": {"apiKey": "k-2"}}',
        ),
        _policy(include_request=True, redact=[]),
    )
    assert doc["request"]["headers"] == {
        "X-Api-Key": "[redacted]",
        "Proxy-Authorization": "[redacted]",
        "Accept": "*/*",
    }
    assert doc["request"]["body"] == "grant_type=password&username=bob&password=[redacted]"
    assert doc["response"]["headers"]["Set-Cookie"] == ["[redacted]"]
    assert orjson.loads(doc["response"]["body"]) == {
        "access_token": "[redacted]",
        "expires_in": 300,
        "user": {"apiKey": "[redacted]"},
    }
    text = orjson.dumps(doc).decode()
    for secret in ("k-1", "dTpw", "hunter2", "sid=1", "eyJ.abc", "k-2"):
        assert secret not in text


def test_redact_headers_adds_names_to_the_rule_for_headers_and_body_fields() -> None:
    doc = capture.record(
        _input(request_headers={"X-Tenant": "t-9"}, response_body=b'{"tenant": "t-9", "id": 1}'),
        _policy(include_request=True, redact=["x-tenant", "tenant"]),
    )
    assert doc["request"]["headers"] == {"X-Tenant": "[redacted]"}
    assert orjson.loads(doc["response"]["body"]) == {"tenant": "[redacted]", "id": 1}
