"""http-sequence on the HTTP port's in-memory twin: steps in order, extraction into the journey context,
retries, stopping on errors, dropped journeys. No sockets: milliseconds each."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from hivekeeper.api.roles import ConfigError
from hivekeeper.protocol.workitem import WorkItem, new_item
from hivekeeper.worker.http.memory import Reply
from hivekeeper.worker.http_port import HttpConnectError
from hivekeeper.worker.roles.base import DropItem
from hivekeeper.worker.roles.http_sequence.role import HttpSequence
from testbench.role_bench import RoleBench

META = "x-ph-http-seq-"
TEMPLATES = [
    {
        "serviceId": "shop",
        "callId": "createCustomer",
        "method": "POST",
        "pathTemplate": "/customers",
        "bodyTemplate": '{"name": "{{ payload.name }}"}',
    },
    {"serviceId": "shop", "callId": "readCustomer", "pathTemplate": "/customers/{{ ctx.customerId }}"},
    {"serviceId": "shop", "callId": "order", "method": "POST", "pathTemplate": "/orders?c={{ ctx.customerId }}"},
]
NO_WAIT = {"initialBackoffMs": 0, "maxBackoffMs": 0}


def _sequence(bench: RoleBench, steps: list[dict[str, Any]], **config: Any) -> HttpSequence:
    raw = {"baseUrl": "http://shop.test", "serviceId": "shop", "templates": TEMPLATES, "steps": steps, **config}
    role = bench.build("http-sequence", raw)
    assert isinstance(role, HttpSequence)
    return role


def _item(payload: dict[str, Any]) -> WorkItem:
    return new_item(
        orjson.dumps(payload).decode(),
        swarm="unit",
        service="feed",
        instance="feed-0",
        headers={"correlationId": "j-1"},
    )


def _steps(result: WorkItem | None) -> list[dict[str, Any]]:
    assert result is not None
    return [step.headers for step in result.steps[1:]]


async def test_steps_run_in_order_and_an_extract_feeds_the_next_step() -> None:
    bench = RoleBench()
    bench.http.script(
        Reply(201, b'{"id": "c-42"}', (("Location", "/customers/c-42"),)),
        Reply(200, b'{"id": "c-42", "name": "Ada"}'),
    )
    steps = [
        {
            "callId": "createCustomer",
            "extracts": [
                {"fromJsonPointer": "/id", "to": "customerId", "required": True},
                {"fromHeader": "location", "to": "links.customer"},
            ],
        },
        {"callId": "readCustomer"},
    ]
    result = await _sequence(bench, steps).handle(_item({"name": "Ada"}), 1)
    first, second = bench.http.sent
    assert (first.method, first.target, first.body) == ("POST", "/customers", b'{"name": "Ada"}')
    assert first.headers["x-correlation-id"] == "j-1"
    assert (second.method, second.target) == ("GET", "/customers/c-42")
    assert [(s[META + "call-id"], s[META + "status"]) for s in _steps(result)] == [
        ("createCustomer", 201),
        ("readCustomer", 200),
    ]
    assert result is not None
    context = orjson.loads(result.payload)
    assert (context["customerId"], context["links"]["customer"]) == ("c-42", "/customers/c-42")


async def test_a_missing_required_extract_drops_the_journey_naming_the_step() -> None:
    bench = RoleBench()
    bench.http.script(Reply(201, b'{"no": "id"}'))
    extract = {"fromJsonPointer": "/id", "to": "customerId", "required": True}
    sequence = _sequence(bench, [{"callId": "createCustomer", "extracts": [extract]}, {"callId": "readCustomer"}])
    with pytest.raises(DropItem) as dropped:
        await sequence.handle(_item({"name": "Ada"}), 1)
    assert dropped.value.code == "http-sequence.extract-missing"
    assert "steps[0]" in str(dropped.value)
    assert "/id" in str(dropped.value)
    assert len(bench.http.sent) == 1, "the journey stops at the step that failed"
    assert sequence.counters.snapshot()["droppedJourneys"] == 1


async def test_a_5xx_is_retried_until_it_succeeds() -> None:
    bench = RoleBench()
    bench.http.script(Reply(503), Reply(502), Reply(201, b'{"id": "c-1"}'))
    steps = [{"callId": "createCustomer", "retry": {"maxAttempts": 3, **NO_WAIT}}]
    sequence = _sequence(bench, steps)
    [step] = _steps(await sequence.handle(_item({"name": "Ada"}), 1))
    assert (step[META + "status"], step[META + "attempts"]) == (201, 3)
    assert (sequence.counters.retries, sequence.counters.ok, sequence.counters.errors) == (2, 1, 0)
    assert dict(bench.stats.statuses) == {503: 1, 502: 1, 201: 1}


async def test_each_step_has_its_own_latency_histogram_and_the_role_holds_every_attempt() -> None:
    bench = RoleBench()
    bench.http.script(Reply(201, b'{"id": "c-1"}'), Reply(503), Reply(200), HttpConnectError("refused"))
    steps = [
        {"id": "create", "callId": "createCustomer", "extracts": [{"fromJsonPointer": "/id", "to": "customerId"}]},
        {"id": "read", "callId": "readCustomer", "retry": {"maxAttempts": 2, **NO_WAIT}},
        {"id": "order", "callId": "order", "continueOnNon2xx": True},
    ]
    await _sequence(bench, steps).handle(_item({"name": "Ada"}), 1)
    stats = bench.stats
    counts = {step: histogram.count for step, histogram in stats.step_latency.items()}
    assert counts == {"create": 1, "read": 2, "order": 0}, "a transport error has no latency"
    assert stats.latency.count == 3
    wire = stats.snapshot()["latencyHistogram"]
    assert isinstance(wire, dict)
    assert list(wire["steps"]) == ["create", "read", "order"], "every step of the config, in order"
    assert sum(wire["steps"]["read"]["counts"].values()) == 2


async def test_a_transport_error_is_retried_on_exception_and_alerted_each_time() -> None:
    bench = RoleBench()
    bench.http.script(HttpConnectError("connection refused"), Reply(200))
    steps = [{"callId": "readCustomer", "retry": {"maxAttempts": 2, "on": ["exception"], **NO_WAIT}}]
    [step] = _steps(await _sequence(bench, steps).handle(_item({"customerId": "c-1"}), 1))
    assert (step[META + "status"], step[META + "attempts"]) == (200, 2)
    assert bench.codes() == ["http.connect"]
    assert dict(bench.stats.error_kinds) == {"connect": 1}


async def test_retries_stop_at_max_attempts_and_a_4xx_is_not_retried_on_5xx() -> None:
    bench = RoleBench()
    bench.http.respond = lambda _: Reply(500)
    sequence = _sequence(bench, [{"callId": "readCustomer", "retry": {"maxAttempts": 3, **NO_WAIT}}])
    [step] = _steps(await sequence.handle(_item({"customerId": "c-1"}), 1))
    assert (step[META + "status"], step[META + "attempts"]) == (500, 3)
    bench.http.respond = lambda _: Reply(404)
    [step] = _steps(await sequence.handle(_item({"customerId": "c-1"}), 2))
    assert (step[META + "status"], step[META + "attempts"]) == (404, 1)
    assert len(bench.http.sent) == 4


async def test_a_non_2xx_stops_the_journey_unless_the_step_continues() -> None:
    bench = RoleBench()
    bench.http.respond = lambda sent: Reply(409) if sent.target == "/customers" else Reply(200)
    stopping = _sequence(bench, [{"callId": "createCustomer"}, {"callId": "order"}])
    result = await stopping.handle(_item({"name": "Ada", "customerId": "c-1"}), 1)
    assert [s[META + "status"] for s in _steps(result)] == [409]
    assert result is not None
    assert result.headers["x-ph-error"] == "non2xx"
    assert (stopping.counters.ok, stopping.counters.errors, bench.stats.errors) == (0, 1, 1)
    going_on = _sequence(bench, [{"callId": "createCustomer", "continueOnNon2xx": True}, {"callId": "order"}])
    result = await going_on.handle(_item({"name": "Ada", "customerId": "c-1"}), 2)
    assert [s[META + "status"] for s in _steps(result)] == [409, 200]


async def test_a_transport_error_ends_the_journey_as_a_transport_error() -> None:
    bench = RoleBench()
    bench.http.script(HttpConnectError("connection refused"))
    result = await _sequence(bench, [{"callId": "readCustomer"}, {"callId": "order"}]).handle(
        _item({"customerId": "c-1"}), 1
    )
    [step] = _steps(result)
    assert (step[META + "status"], step[META + "error"]) == (-1, "connect: connection refused")
    assert result is not None
    assert result.headers["x-ph-error"] == "transport"


async def test_set_entries_render_into_the_context_for_later_steps() -> None:
    bench = RoleBench()
    steps = [
        {"callId": "createCustomer", "set": [{"to": "customerId", "template": "c-{{ payload.name | lower }}"}]},
        {"callId": "order"},
    ]
    await _sequence(bench, steps).handle(_item({"name": "ADA"}), 1)
    assert bench.http.sent[1].target == "/orders?c=c-ada"


def test_a_step_naming_an_unknown_template_is_refused_with_the_known_ones() -> None:
    with pytest.raises(ConfigError) as refused:
        _sequence(RoleBench(), [{"callId": "createCustomer"}, {"callId": "deleteEverything"}])
    assert refused.value.problems == [
        (
            "steps[1].callId",
            "'deleteEverything': no template 'shop::deleteEverything'; known templates: "
            "shop::createCustomer, shop::order, shop::readCustomer",
        )
    ]


def test_a_step_naming_a_tcp_template_is_refused() -> None:
    tcp = {"serviceId": "shop", "callId": "ping", "protocol": "TCP", "behavior": "ECHO", "bodyTemplate": "x"}
    with pytest.raises(ConfigError, match="is protocol: TCP; an http-sequence sends HTTP only"):
        _sequence(RoleBench(), [{"callId": "ping"}], templates=[*TEMPLATES, tcp])
