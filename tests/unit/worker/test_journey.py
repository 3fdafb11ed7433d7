"""Journey maths: the context, JSON Pointer / header / status extracts, retry schedule and matching,
step metadata, and the http-sequence config checks."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
import yaml

from hivekeeper.api import roles as role_configs
from hivekeeper.api.roles import ConfigError
from hivekeeper.api.roles.http_sequence.checks import check_token
from hivekeeper.api.roles.http_sequence.config import HttpSequenceConfig
from hivekeeper.api.roles.processor.config import ProcessorConfig
from hivekeeper.templating import jsonpointer
from hivekeeper.worker import journey
from hivekeeper.worker.journey import ABSENT, ExtractRule, ResponseView, RetryPolicy

DOC = {
    "id": "cus-1",
    "a/b": 1,
    "m~n": 2,
    "": "empty key",
    "items": [{"id": "x"}, {"id": "y"}],
    "none": None,
    "zero": 0,
    "falsy": False,
    "nested": {"deep": {"k": "v"}},
}


def _json(doc: Any, status: int = 200, headers: list[tuple[bytes, bytes]] | None = None) -> ResponseView:
    return ResponseView(status, headers or [], orjson.dumps(doc))


# -- JSON Pointer ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("pointer", "expected"),
    [
        pytest.param("/id", "cus-1", id="a member"),
        pytest.param("/a~1b", 1, id="~1 is a slash"),
        pytest.param("/m~0n", 2, id="~0 is a tilde"),
        pytest.param("/", "empty key", id="the empty member name"),
        pytest.param("/items/1/id", "y", id="array index"),
        pytest.param("/items/0", {"id": "x"}, id="objects are kept whole"),
        pytest.param("/nested", {"deep": {"k": "v"}}, id="nested objects are kept whole"),
        pytest.param("/zero", 0, id="zero is a value"),
        pytest.param("/falsy", False, id="false is a value"),
        pytest.param("", DOC, id="the empty pointer is the whole document"),
    ],
)
def test_json_pointer_extracts_follow_rfc_6901(pointer: str, expected: Any) -> None:
    assert journey.from_pointer(_json(DOC), pointer) == expected


@pytest.mark.parametrize(
    "pointer",
    [
        pytest.param("/missing", id="a missing member"),
        pytest.param("/none", id="null counts as absent"),
        pytest.param("/items/2", id="an index past the end"),
        pytest.param("/items/-", id="the past-the-end marker"),
        pytest.param("/items/01", id="a leading zero"),
        pytest.param("/items/²", id="a non-ASCII digit"),
        pytest.param("/id/0", id="below a string"),
        pytest.param("/a/b", id="an unescaped slash is two tokens"),
    ],
)
def test_json_pointer_misses_are_absent_not_errors(pointer: str) -> None:
    assert journey.from_pointer(_json(DOC), pointer) is ABSENT


def test_a_body_that_is_not_json_has_no_pointer_values() -> None:
    assert journey.from_pointer(ResponseView(200, [], b"<html>"), "/id") is ABSENT
    assert journey.from_pointer(ResponseView(204, [], b""), "") is ABSENT


@pytest.mark.parametrize("pointer", ["id", "/a~2b", "/trailing~", "#/id"])
def test_malformed_pointers_are_refused_with_the_rule(pointer: str) -> None:
    with pytest.raises(jsonpointer.PointerError, match="JSON Pointer"):
        jsonpointer.tokens(pointer)


def test_a_response_body_is_parsed_once_for_many_extracts() -> None:
    view = _json(DOC)
    first = view.document()
    assert view.document() is first


# -- headers and status ----------------------------------------------------------------------------
def test_header_extracts_ignore_case_and_give_lists_for_repeated_headers() -> None:
    view = ResponseView(
        201,
        [(b"Location", b"/customers/cus-1"), (b"Set-Cookie", b"a=1"), (b"set-cookie", b"b=2")],
        b"",
    )
    assert journey.from_header(view, "location") == "/customers/cus-1"
    assert journey.from_header(view, "LOCATION") == "/customers/cus-1"
    assert journey.from_header(view, "Set-Cookie") == ["a=1", "b=2"]
    assert journey.from_header(view, "X-Missing") is ABSENT


def test_extracts_write_dotted_paths_and_report_missing_required_ones() -> None:
    view = _json({"id": "acc-9"}, status=201, headers=[(b"Location", b"/accounts/acc-9")])
    rules = [
        ExtractRule("pointer", "/id", "account.id", required=True),
        ExtractRule("header", "location", "links.self"),
        ExtractRule("status", "", "lastStatus"),
        ExtractRule("pointer", "/missing", "optional"),
        ExtractRule("pointer", "/customerId", "customerId", required=True),
    ]
    context: dict[str, Any] = {"account": "replaced by a map"}
    missing = journey.apply_extracts(rules, view, context)
    assert context == {"account": {"id": "acc-9"}, "links": {"self": "/accounts/acc-9"}, "lastStatus": 201}
    assert [r.describe() for r in missing] == ["fromJsonPointer '/customerId'"]


def test_a_transport_error_extracts_status_minus_one_and_nothing_else() -> None:
    view = ResponseView(journey.TRANSPORT_ERROR, [], b"")
    context: dict[str, Any] = {}
    missing = journey.apply_extracts(
        [ExtractRule("status", "", "s"), ExtractRule("header", "Location", "l", required=True)], view, context
    )
    assert context == {"s": -1}
    assert len(missing) == 1


# -- context ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        ('{"name": "ann"}', {"name": "ann"}),
        ("[1, 2]", {}),
        ('"text"', {}),
        ("not json", {}),
        ("{broken", {}),
        ("", {}),
        (None, {}),
    ],
)
def test_the_context_starts_as_the_payload_object_or_empty(payload: str | None, expected: dict[str, Any]) -> None:
    assert journey.initial_context(payload) == expected


def test_set_json_is_parsed_only_when_it_parses() -> None:
    assert journey.parse_json_loosely('{"a": [1]}') == {"a": [1]}
    assert journey.parse_json_loosely("plain") == "plain"


# -- retries ---------------------------------------------------------------------------------------
def _policy(on: list[str], attempts: int = 5, **kw: float) -> RetryPolicy:
    return RetryPolicy.build(attempts, kw.get("initial", 100), kw.get("multiplier", 2.0), kw.get("cap", 2000), on)


def test_the_backoff_doubles_and_is_capped_without_jitter() -> None:
    assert _policy([], attempts=7).schedule() == [0.1, 0.2, 0.4, 0.8, 1.6, 2.0]
    assert _policy([], attempts=4, initial=50, multiplier=3.0, cap=1000).schedule() == [0.05, 0.15, 0.45]
    assert _policy([], attempts=1).schedule() == []
    assert _policy([], attempts=3, multiplier=1.0).schedule() == [0.1, 0.1]


@pytest.mark.parametrize(
    ("on", "status", "retried"),
    [
        (["exception"], -1, True),
        (["exception"], 503, False),
        (["5xx"], 503, True),
        (["5XX"], 500, True),
        (["5xx"], 429, False),
        (["5xx"], -1, False),
        (["429"], 429, True),
        (["429"], 428, False),
        (["4xx"], 404, True),
        (["non2xx"], 302, True),
        (["non2xx"], 500, True),
        (["non2xx"], -1, True),
        (["non2xx"], 204, False),
        (["Exception", "5xx", "429"], 200, False),
        ([], 503, False),
    ],
)
def test_retry_conditions_match_case_insensitively(on: list[str], status: int, retried: bool) -> None:
    assert _policy(on).matches(status) is retried


@pytest.mark.parametrize("token", ["6xx", "timeout", "20", "2000", "xx"])
def test_unknown_retry_conditions_are_named(token: str) -> None:
    assert f"{token!r} is not a retry condition" in (check_token(token) or "")
    with pytest.raises(ValueError, match="not a retry condition"):
        _policy([token])


# -- metadata --------------------------------------------------------------------------------------
def test_step_metadata_is_compact_and_leaves_out_empty_keys() -> None:
    outcome = journey.StepOutcome(2, "card", "onboarding", "issueCard", status=201, duration_ms=12.34567, attempts=1)
    headers = outcome.headers()
    assert headers == {
        "x-ph-http-seq-step-index": 2,
        "x-ph-http-seq-step-id": "card",
        "x-ph-http-seq-service-id": "onboarding",
        "x-ph-http-seq-call-id": "issueCard",
        "x-ph-http-seq-status": 201,
        "x-ph-http-seq-duration-ms": 12.346,
        "x-ph-http-seq-attempts": 1,
        "x-ph-http-seq-response-bytes": 0,
    }
    outcome.error, outcome.debug_ref = "timeout: no complete response within 200 ms", "hivekeeper:debug:k"
    assert outcome.headers()["x-ph-http-seq-error"].startswith("timeout")
    assert outcome.headers()["x-ph-http-seq-debug-ref"] == "hivekeeper:debug:k"


def test_a_truncated_body_is_said_in_the_metadata_with_the_size_the_server_sent() -> None:
    view = ResponseView(200, [], b'{"id": "cus', 5_000_000)
    assert (view.truncated, view.body_bytes) == (True, 5_000_000)
    assert journey.from_pointer(view, "/id") is ABSENT, "a cut JSON body does not parse"
    whole = ResponseView(200, [], b"{}")
    assert (whole.truncated, whole.body_bytes) == (False, 2)
    outcome = journey.StepOutcome(0, "s", "svc", "call", status=200, response_bytes=5_000_000, truncated=True)
    headers = outcome.headers()
    assert (headers["x-ph-http-seq-truncated"], headers["x-ph-http-seq-response-bytes"]) == (True, 5_000_000)


# -- config ----------------------------------------------------------------------------------------
def _problems(raw: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(ConfigError) as caught:
        role_configs.validate("http-sequence", raw)
    return dict(caught.value.problems)


def test_an_extract_needs_exactly_one_source() -> None:
    problems = _problems(
        {"steps": [{"callId": "a", "extracts": [{"to": "x"}, {"fromHeader": "L", "fromStatus": True, "to": "y"}]}]}
    )
    assert "exactly one of fromJsonPointer, fromHeader, fromStatus" in problems["steps[0].extracts[0]"]
    assert "(got fromHeader, fromStatus)" in problems["steps[0].extracts[1]"]


def test_config_errors_name_the_field_and_the_value() -> None:
    problems = _problems(
        {
            "steps": [
                {
                    "callId": "a",
                    "retry": {"on": ["5xx", "sometimes"]},
                    "extracts": [{"fromJsonPointer": "id", "to": "x"}],
                },
                {"callId": "b", "set": [{"to": "a..b", "template": "x"}]},
            ],
            "debugCapture": {"mode": "OFTEN", "redisTtlSeconds": 0},
        }
    )
    assert "'sometimes' is not a retry condition" in problems["steps[0].retry.on"]
    assert "must be empty or start with '/'" in problems["steps[0].extracts[0]"]
    assert "'a..b' is not a dotted path" in problems["steps[1].set[0]"]
    assert "OFTEN" in problems["debugCapture.mode"]
    assert "(got 0)" in problems["debugCapture.redisTtlSeconds"]


def test_max_response_bytes_defaults_to_one_mebibyte_a_step_may_override_it_and_bounds_are_named() -> None:
    config = role_configs.validate(
        "http-sequence", {"steps": [{"callId": "a"}, {"callId": "b", "maxResponseBytes": 0}]}
    )
    assert isinstance(config, HttpSequenceConfig)
    assert config.maxResponseBytes == 1024 * 1024
    assert [step.maxResponseBytes for step in config.steps] == [None, 0]
    problems = _problems({"maxResponseBytes": -1, "steps": [{"callId": "a", "maxResponseBytes": 1 << 30}]})
    assert "greater than or equal to 0" in problems["maxResponseBytes"]
    assert "(got -1)" in problems["maxResponseBytes"]
    assert "less than or equal to 268435456" in problems["steps[0].maxResponseBytes"]


def test_the_processor_keeps_one_mebibyte_of_a_body_by_default() -> None:
    config = role_configs.validate("processor", {"baseUrl": "http://sut"})
    assert isinstance(config, ProcessorConfig)
    assert config.maxResponseBytes == 1024 * 1024
    with pytest.raises(ConfigError, match=r"maxResponseBytes: Input should be a valid integer.*\(got 'lots'\)"):
        role_configs.validate("processor", {"baseUrl": "http://sut", "maxResponseBytes": "lots"})


def test_step_ids_default_to_their_index_and_must_differ() -> None:
    problems = _problems({"steps": [{"callId": "a"}, {"callId": "b", "id": "step0"}]})
    assert any("'step0' is already the id of steps[0]" in m for m in problems.values())


def test_a_sequence_needs_steps() -> None:
    assert "steps" in _problems({})


def test_an_unquoted_yaml_on_key_still_means_on() -> None:
    document = yaml.safe_load("steps:\n  - callId: a\n    retry: {maxAttempts: 2, on: [429]}\n")
    retry = document["steps"][0]["retry"]
    assert "on" not in retry
    assert retry[True] == [429], "YAML 1.1 reads the `on` key as the boolean true and 429 as an int"
    for raw in (document, orjson.loads(orjson.dumps(document, option=orjson.OPT_NON_STR_KEYS))):
        config = role_configs.validate("http-sequence", raw)
        assert isinstance(config, HttpSequenceConfig)
        assert config.steps[0].retry.on == ["429"]
