"""The processor on the HTTP port's in-memory twin: what it sends, how it counts statuses and transport
errors, what it forwards, and which requests it may retry. No sockets: milliseconds each."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from hivekeeper.protocol.workitem import WorkItem, new_item
from hivekeeper.worker.http.memory import Reply
from hivekeeper.worker.http_port import ConnectionDropped, HttpTimeout, Origin
from hivekeeper.worker.roles.base import DropItem
from hivekeeper.worker.roles.processor.role import Processor
from testbench.role_bench import RoleBench

BASE = "http://sut.test:8080/api"


def _processor(bench: RoleBench, *, forwards: bool = True, **config: Any) -> Processor:
    role = bench.build("processor", {"baseUrl": BASE, **config}, forwards=forwards)
    assert isinstance(role, Processor)
    return role


def _request_item(method: str = "GET", path: str = "/cards/7", body: Any = None, **headers: str) -> WorkItem:
    request: dict[str, Any] = {"method": method, "path": path, "headers": headers}
    if body is not None:
        request["body"] = body
    return new_item(
        orjson.dumps({"kind": "http.request", "request": request}).decode(),
        swarm="unit",
        service="builder",
        instance="builder-0",
        headers={"correlationId": "c-1"},
    )


def _outcome(result: WorkItem | None) -> dict[str, Any]:
    assert result is not None
    step: dict[str, Any] = orjson.loads(result.payload)
    return step


async def test_an_item_s_request_goes_to_the_base_url_with_the_correlation_header() -> None:
    bench = RoleBench()
    bench.http.script(Reply(201, b'{"id": 1}', (("Location", "/cards/1"),)))
    result = await _processor(bench).handle(_request_item("POST", "/cards", {"n": 1}), 1)
    [sent] = bench.http.sent
    assert sent.origin == Origin("http", "sut.test", 8080, "/api")
    assert (sent.method, sent.target, sent.body) == ("POST", "/api/cards", b'{"n":1}')
    assert sent.headers["x-correlation-id"] == "c-1"
    assert not sent.idempotent, "a POST is never retried on a dropped keep-alive connection"
    outcome = _outcome(result)["outcome"]
    assert (outcome["status"], outcome["body"], outcome["headers"]) == (201, '{"id": 1}', {"location": ["/cards/1"]})
    assert result is not None
    assert result.steps[-1].headers["x-ph-processor-success"] is True


async def test_statuses_are_results_and_non_2xx_count_as_errors() -> None:
    bench = RoleBench()
    bench.http.script(Reply(200), Reply(503), Reply(404))
    processor = _processor(bench)
    results = [await processor.handle(_request_item(), seq) for seq in range(3)]
    assert [r.steps[-1].headers["x-ph-processor-status"] for r in results if r is not None] == [200, 503, 404]
    assert dict(bench.stats.statuses) == {200: 1, 503: 1, 404: 1}
    assert (bench.stats.errors, processor.successes, processor.transactions) == (2, 1, 3)
    assert bench.alerts == [], "an HTTP status is an answer, not an alert"


async def test_a_transport_error_is_counted_alerted_and_forwarded_as_a_transport_error_result() -> None:
    bench = RoleBench()
    bench.http.script(HttpTimeout("no response within 30.0s"))
    result = await _processor(bench).handle(_request_item(), 1)
    outcome = _outcome(result)["outcome"]
    assert outcome == {
        "type": "transport_error",
        "status": 0,
        "error": {"kind": "timeout", "message": "no response within 30.0s"},
        "truncated": False,
    }
    assert result is not None
    assert result.headers["x-ph-error"] == "timeout"
    assert (bench.stats.errors, dict(bench.stats.error_kinds)) == (1, {"timeout": 1})
    assert bench.codes() == ["http.timeout"]


async def test_only_idempotent_methods_may_be_retried_by_the_client() -> None:
    bench = RoleBench()
    processor = _processor(bench)
    for method in ("GET", "PUT", "DELETE", "POST", "PATCH"):
        await processor.handle(_request_item(method), 1)
    assert [(s.method, s.idempotent) for s in bench.http.sent] == [
        ("GET", True),
        ("PUT", True),
        ("DELETE", True),
        ("POST", False),
        ("PATCH", False),
    ]


async def test_a_body_beyond_max_response_bytes_is_cut_and_counted() -> None:
    bench = RoleBench()
    bench.http.script(Reply(200, b"x" * 100))
    result = await _processor(bench, maxResponseBytes=10).handle(_request_item(), 1)
    outcome = _outcome(result)["outcome"]
    assert (outcome["body"], outcome["bodyBytes"], outcome["truncated"]) == ("x" * 10, 100, True)
    assert bench.stats.truncated == 1


async def test_an_item_that_is_not_a_request_is_dropped_with_the_fix_named() -> None:
    bench = RoleBench()
    item = new_item('{"not": "a request"}', swarm="unit", service="gen", instance="gen-0")
    with pytest.raises(DropItem) as dropped:
        await _processor(bench).handle(item, 1)
    assert dropped.value.code == "processor.bad-request"
    assert "put a request-builder" in str(dropped.value)
    assert bench.http.sent == []


async def test_without_an_output_nothing_is_forwarded_but_everything_is_counted() -> None:
    bench = RoleBench()
    bench.http.script(Reply(200), ConnectionDropped("closed before the response started"))
    processor = _processor(bench, forwards=False)
    assert await processor.handle(_request_item(), 1) is None
    assert await processor.handle(_request_item(), 2) is None
    assert (dict(bench.stats.statuses), dict(bench.stats.error_kinds)) == ({200: 1}, {"reset": 1})


async def test_direct_mode_sends_its_literal_request_on_the_fast_tick_path() -> None:
    bench = RoleBench()
    bench.http.script(Reply(200), Reply(500), HttpTimeout("late"))
    processor = _processor(bench, forwards=False, request={"method": "HEAD", "path": "/health"})
    tick = processor.fast_tick
    assert tick is not None, "a literal direct request without pacing or output takes the fast path"
    for _ in range(3):
        await tick()
    assert [(s.method, s.target, s.head, s.idempotent) for s in bench.http.sent] == [
        ("HEAD", "/api/health", True, True)
    ] * 3
    assert (dict(bench.stats.statuses), bench.stats.errors, processor.successes) == ({200: 1, 500: 1}, 2, 1)
    assert bench.codes() == ["http.timeout"]


async def test_direct_mode_renders_a_templated_request_per_tick() -> None:
    bench = RoleBench()
    processor = _processor(bench, forwards=False, vars={"card": 7}, request={"path": "/cards/{{ vars.card }}"})
    assert processor.fast_tick is None, "a template must be rendered per request"
    assert await processor.handle(None, 1) is None
    assert [s.target for s in bench.http.sent] == ["/api/cards/7"]


def test_a_processor_without_a_base_url_is_refused_with_an_example() -> None:
    with pytest.raises(Exception, match=r"baseUrl: is required.*sut\.endpoints\.default\.baseUrl"):
        _processor(RoleBench(), baseUrl="")
