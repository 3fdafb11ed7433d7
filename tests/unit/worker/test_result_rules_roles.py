"""Result rules through the roles, on the HTTP and TCP ports' in-memory twins: the request-builder carries a
template's rules in its request, the processor reads them (or its own) from each answer onto the result step and
counts a 2xx (a TCP reply) they call a failure as an error of kind ``business``, and the postprocessor counts the
same from the step."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from hivekeeper.api.roles import ConfigError
from hivekeeper.protocol.workitem import WorkItem, new_item
from hivekeeper.worker.control import WorkerState, apply_update
from hivekeeper.worker.http.memory import Reply
from hivekeeper.worker.http_port import HttpTimeout
from hivekeeper.worker.roles.base import DropItem
from hivekeeper.worker.roles.processor.role import Processor
from hivekeeper.worker.roles.registry import ROLES
from hivekeeper.worker.tcp_port import TcpTimeout
from testbench.role_bench import RoleBench

BASE = "http://sut.test:8080"
RULES = {
    "businessCode": {"pattern": '"code":"([^"]*)"'},
    "successRegex": "^00$",
    "dimensions": [{"name": "channel", "source": "REQUEST_HEADER", "header": "X-Channel", "pattern": "(.+)"}],
}
APPROVED = Reply(200, b'{"code":"00"}')
DECLINED = Reply(200, b'{"code":"51","status":"DECLINED"}')


def _processor(bench: RoleBench, *, forwards: bool = True, **config: Any) -> Processor:
    role = bench.build("processor", {"baseUrl": BASE, **config}, forwards=forwards)
    assert isinstance(role, Processor)
    return role


def _request(rules: Any = None, channel: str = "web") -> WorkItem:
    envelope: dict[str, Any] = {
        "kind": "http.request",
        "request": {"method": "POST", "path": "/payments", "headers": {"X-Channel": channel}, "body": {"amount": 5}},
    }
    if rules is not None:
        envelope["resultRules"] = rules
    return new_item(orjson.dumps(envelope).decode(), swarm="unit", service="builder", instance="builder-0")


async def test_a_200_with_a_business_error_code_is_an_error_of_kind_business_with_its_values_on_the_step() -> None:
    bench = RoleBench()
    bench.http.script(APPROVED, DECLINED)
    processor = _processor(bench, resultRules=RULES)
    approved = await processor.handle(_request(channel="web"), 1)
    declined = await processor.handle(_request(channel="app"), 2)
    assert approved is not None
    assert declined is not None
    assert (
        approved.steps[-1].headers.items()
        >= {
            "x-ph-processor-success": True,
            "x-ph-business-code": "00",
            "x-ph-business-success": True,
            "x-ph-dim-channel": "web",
        }.items()
    )
    assert (
        declined.steps[-1].headers.items()
        >= {
            "x-ph-processor-status": 200,
            "x-ph-processor-success": True,
            "x-ph-business-code": "51",
            "x-ph-business-success": False,
            "x-ph-dim-channel": "app",
        }.items()
    ), "processor-success stays the protocol's word; business-success is the rules'"
    stats = bench.stats
    assert (stats.errors, dict(stats.error_kinds), dict(stats.statuses)) == (1, {"business": 1}, {200: 2})
    assert processor.context()["successRatio"] == 0.5
    snapshot = stats.snapshot()
    assert snapshot["businessCodes"] == {"00": 1, "51": 1}
    assert snapshot["businessResults"] == {"success": 1, "failure": 1}
    assert snapshot["dimensions"] == {"channel": {"app": 1, "web": 1}}
    assert snapshot["errorKinds"] == {"business": 1}


async def test_a_non_2xx_is_an_error_of_its_status_not_a_business_one_and_a_transport_error_reads_nothing() -> None:
    bench = RoleBench()
    bench.http.script(Reply(503, b'{"code":"96"}'), HttpTimeout("late"))
    processor = _processor(bench, resultRules=RULES)
    failed = await processor.handle(_request(), 1)
    await processor.handle(_request(), 2)
    assert failed is not None
    assert failed.steps[-1].headers["x-ph-business-code"] == "96"
    assert (bench.stats.errors, dict(bench.stats.error_kinds)) == (2, {"timeout": 1})
    assert bench.stats.results.codes.as_dict() == {"96": 1}, "the timeout had no answer to read"


async def test_the_request_s_own_rules_win_over_the_processor_s() -> None:
    bench = RoleBench()
    bench.http.script(DECLINED)
    processor = _processor(bench, resultRules=RULES)
    result = await processor.handle(_request({"successRegex": "DECLINED"}), 1)
    assert result is not None
    headers = result.steps[-1].headers
    assert headers["x-ph-business-success"] is True
    assert "x-ph-business-code" not in headers, "the template's rules read no code"
    assert bench.stats.errors == 0


async def test_rules_a_request_carries_that_cannot_run_drop_the_item_before_anything_is_sent() -> None:
    bench = RoleBench()
    with pytest.raises(DropItem, match=r"resultRules cannot run.*has no group") as dropped:
        await _processor(bench).handle(_request({"businessCode": {"pattern": "code"}}), 1)
    assert dropped.value.code == "processor.bad-result-rules"
    assert bench.http.sent == []


def test_a_processor_whose_rules_re2_refuses_is_refused_naming_the_pattern() -> None:
    with pytest.raises(ConfigError, match=r"resultRules\.successRegex: pattern '\(\?!00\)' is not a regular"):
        _processor(RoleBench(), resultRules={"successRegex": "(?!00)"})


async def test_a_response_header_is_read_and_without_an_output_the_counts_still_happen() -> None:
    bench = RoleBench()
    bench.http.script(Reply(200, b"", (("X-Result", "APPROVED"),)), Reply(200, b"", (("X-Result", "DECLINED"),)))
    rules = {"businessCode": {"source": "RESPONSE_HEADER", "header": "x-result", "pattern": "(.+)"}}
    processor = _processor(bench, forwards=False, resultRules={**rules, "successRegex": "APPROVED"})
    assert await processor.handle(_request(), 1) is None
    assert await processor.handle(_request(), 2) is None
    assert bench.stats.results.codes.as_dict() == {"APPROVED": 1, "DECLINED": 1}
    assert dict(bench.stats.error_kinds) == {"business": 1}
    settings = ROLES["processor"].http
    assert settings is not None
    assert settings(processor.config, False).collect_headers, "rules may read a response header"


async def test_direct_mode_applies_the_processor_s_rules_and_leaves_the_fast_path() -> None:
    bench = RoleBench()
    bench.http.script(DECLINED)
    processor = _processor(
        bench, forwards=False, resultRules={**RULES, "dimensions": []}, request={"method": "POST", "path": "/pay"}
    )
    assert processor.fast_tick is None, "the fast path reads no answer"
    await processor.handle(None, 1)
    assert (bench.stats.errors, bench.stats.results.codes.as_dict()) == (1, {"51": 1})


def test_result_rules_are_a_live_key_of_the_processor() -> None:
    state = WorkerState.bootstrap("processor", {"baseUrl": BASE}, has_out=True)
    updated = apply_update(state, {"resultRules": {"successRegex": "^00$"}, "configGeneration": 1})
    assert updated.config.model_dump()["resultRules"]["successRegex"] == "^00$"


async def test_the_request_builder_carries_its_template_s_rules_in_the_request() -> None:
    bench = RoleBench()
    templates = [
        {"serviceId": "pay", "callId": "pay", "method": "POST", "pathTemplate": "/p", "resultRules": RULES},
        {"serviceId": "pay", "callId": "plain", "pathTemplate": "/q"},
    ]
    builder = bench.build("request-builder", {"serviceId": "pay", "templates": templates})
    item = new_item("{}", swarm="unit", service="gen", instance="gen-0", headers={"x-ph-call-id": "pay"})
    built = await builder.handle(item, 1)
    assert built is not None
    envelope = orjson.loads(built.payload)
    assert envelope["resultRules"] == {
        "businessCode": {"pattern": '"code":"([^"]*)"'},
        "successRegex": "^00$",
        "dimensions": [{"source": "REQUEST_HEADER", "pattern": "(.+)", "header": "X-Channel", "name": "channel"}],
    }
    plain = await builder.handle(item.model_copy(update={"headers": {"x-ph-call-id": "plain"}}), 2)
    assert plain is not None
    assert "resultRules" not in orjson.loads(plain.payload)


def test_a_request_builder_with_a_template_whose_rules_cannot_run_is_refused_at_the_pattern() -> None:
    templates = [{"serviceId": "pay", "callId": "pay", "resultRules": {"dimensions": [{"name": "a", "pattern": "x"}]}}]
    with pytest.raises(ConfigError) as refused:
        RoleBench().build("request-builder", {"serviceId": "pay", "templates": templates})
    [(path, message)] = refused.value.problems
    assert path == "templates[0].resultRules.dimensions[0].pattern"
    assert "has no group" in message


def _result(status: int, step_headers: dict[str, Any]) -> WorkItem:
    result = {"kind": "http.result", "outcome": {"type": "http_response", "status": status}, "metrics": {}}
    item = new_item("{}", swarm="unit", service="gen", instance="gen-0")
    return item.with_step(orjson.dumps(result).decode(), service="caller", instance="c-0", headers=step_headers)


async def test_the_postprocessor_counts_codes_dimensions_and_a_2xx_business_failure_as_an_error() -> None:
    bench = RoleBench()
    post = bench.build("postprocessor", {})
    declined = {"x-ph-business-code": "51", "x-ph-business-success": False, "x-ph-dim-channel": "app"}
    await post.handle(_result(200, {"x-ph-business-code": "00", "x-ph-business-success": True}), 1)
    await post.handle(_result(200, declined), 2)
    await post.handle(_result(500, {**declined, "x-ph-business-code": "96"}), 3)
    stats = bench.stats
    assert (stats.errors, dict(stats.error_kinds), dict(stats.statuses)) == (2, {"business": 1}, {200: 2, 500: 1})
    assert stats.snapshot()["businessCodes"] == {"00": 1, "51": 1, "96": 1}
    assert stats.snapshot()["dimensions"] == {"channel": {"app": 2}}


async def test_the_postprocessor_bounds_the_error_kinds_items_name() -> None:
    bench = RoleBench()
    post = bench.build("postprocessor", {})
    for n in range(50):
        outcome = {"type": "transport_error", "status": 0, "error": {"kind": f"k{n}"}}
        result = {"kind": "http.result", "outcome": outcome}
        item = new_item("{}", swarm="unit", service="gen", instance="gen-0")
        await post.handle(item.with_step(orjson.dumps(result).decode(), service="c", instance="c-0"), n)
    assert len(bench.stats.error_kinds) == 33
    assert bench.stats.error_kinds["(other)"] == 18


async def test_a_tcp_reply_is_read_by_the_same_rules_and_a_declined_reply_is_a_business_error() -> None:
    bench = RoleBench()
    bench.tcp.script(b"0210|39=00|\n", b"0210|39=51|\n", TcpTimeout("late"))
    rules = {
        "businessCode": {"pattern": r"\|39=(\d\d)\|"},
        "successRegex": "^00$",
        "dimensions": [{"name": "leg", "source": "REQUEST_HEADER", "header": "x-leg", "pattern": "(.+)"}],
    }
    processor = bench.build("processor", {"baseUrl": "tcp://iso.test:9000", "resultRules": rules})

    def tcp_item() -> WorkItem:
        request = {"behavior": "REQUEST_RESPONSE", "body": "0200|4=10|", "endTag": "\n", "headers": {"x-leg": "a"}}
        envelope = {"kind": "tcp.request", "request": request}
        return new_item(orjson.dumps(envelope).decode(), swarm="unit", service="b", instance="b-0")

    approved = await processor.handle(tcp_item(), 1)
    declined = await processor.handle(tcp_item(), 2)
    await processor.handle(tcp_item(), 3)
    assert approved is not None
    assert declined is not None
    assert approved.steps[-1].headers.items() >= {"x-ph-business-code": "00", "x-ph-business-success": True}.items()
    assert (
        declined.steps[-1].headers.items()
        >= {
            "x-ph-processor-success": True,
            "x-ph-business-code": "51",
            "x-ph-business-success": False,
            "x-ph-dim-leg": "a",
        }.items()
    )
    stats = bench.stats
    assert (stats.errors, dict(stats.error_kinds)) == (2, {"business": 1, "tcp-timeout": 1})
    assert stats.results.codes.as_dict() == {"00": 1, "51": 1}, "a call that failed has no reply to read"
    post_bench = RoleBench()
    post = post_bench.build("postprocessor", {})
    await post.handle(approved, 1)
    await post.handle(declined, 2)
    assert (post_bench.stats.errors, dict(post_bench.stats.error_kinds)) == (1, {"business": 1})


async def test_the_request_builder_carries_a_tcp_template_s_rules_too() -> None:
    template = {
        "serviceId": "iso",
        "callId": "auth",
        "protocol": "TCP",
        "behavior": "LENGTH_PREFIX_2B",
        "bodyTemplate": "0200",
        "resultRules": {"businessCode": {"pattern": r"39=(\d\d)"}},
    }
    builder = RoleBench().build("request-builder", {"serviceId": "iso", "templates": [template]})
    item = new_item("{}", swarm="unit", service="gen", instance="gen-0", headers={"x-ph-call-id": "auth"})
    built = await builder.handle(item, 1)
    assert built is not None
    envelope = orjson.loads(built.payload)
    assert (envelope["kind"], envelope["resultRules"]) == ("tcp.request", {"businessCode": {"pattern": r"39=(\d\d)"}})
