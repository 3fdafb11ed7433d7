"""The processor with a tcp:// baseUrl on the TCP port's in-memory twin, and the request-builder's tcp.request
steps: what is sent (framing, behaviour, cap), how replies and each error kind are counted, the result's shape
(that of an http.result), and the items and configs refused. No sockets."""

from __future__ import annotations

import base64
from typing import Any

import orjson
import pytest

from hivekeeper.api.roles import ConfigError
from hivekeeper.protocol.workitem import CALL_ID_HEADER, WorkItem, new_item
from hivekeeper.worker.roles.base import DropItem
from hivekeeper.worker.roles.processor.tcp_role import TcpProcessor
from hivekeeper.worker.tcp_port import TcpEndpoint, TcpFrameTooLarge, TcpTimeout, TcpTooLarge, frame
from testbench.role_bench import RoleBench

BASE = "tcp://iso.test:9000"


def _processor(bench: RoleBench, *, forwards: bool = True, **config: Any) -> TcpProcessor:
    role = bench.build("processor", {"baseUrl": BASE, **config}, forwards=forwards)
    assert isinstance(role, TcpProcessor)
    return role


def _tcp_item(**request: Any) -> WorkItem:
    return new_item(
        orjson.dumps({"kind": "tcp.request", "request": request}).decode(),
        swarm="unit",
        service="builder",
        instance="builder-0",
        headers={"correlationId": "c-1"},
    )


def _result(item: WorkItem | None) -> dict[str, Any]:
    assert item is not None
    step: dict[str, Any] = orjson.loads(item.payload)
    return step


async def test_a_tcp_request_goes_to_the_endpoint_with_its_behaviour_end_tag_and_cap() -> None:
    bench = RoleBench()
    item = _tcp_item(behavior="REQUEST_RESPONSE", body="PING", endTag="\n", maxBytes=64, headers={"x-leg": "a"})
    result = _result(await _processor(bench).handle(item, 1))
    [sent] = bench.tcp.sent
    assert sent.endpoint == TcpEndpoint("iso.test", 9000, tls=False)
    assert (sent.call.behavior, sent.call.payload, sent.call.end_tag, sent.call.max_bytes) == (
        "REQUEST_RESPONSE",
        b"PING",
        b"\n",
        64,
    )
    assert sent.timeout == 30.0, "timeoutMs is the whole call's deadline"
    assert result["kind"] == "tcp.result"
    assert result["request"]["baseUrl"] == BASE
    assert result["request"]["headers"] == {"x-leg": "a"}
    outcome = result["outcome"]
    assert (outcome["type"], outcome["body"], outcome["bodyBytes"]) == ("tcp_response", "ok\n", 3)
    assert outcome["headers"]["x-tcp-behavior"] == ["REQUEST_RESPONSE"], "metadata as lists, like HTTP headers"
    assert set(result["metrics"]) == {"durationMs", "connectionLatencyMs", "rateWaitMs"}
    assert bench.stats.tcp_replies == {"REQUEST_RESPONSE": 1}
    assert bench.stats.latency.count == 1


async def test_the_cap_defaults_to_tcp_transport_max_bytes_and_tcps_is_tls_with_its_settings() -> None:
    bench = RoleBench()
    transport = {"maxBytes": 100, "sslVerify": False, "caFile": "/ca.pem", "maxRetries": 0, "readTimeoutMs": 250}
    processor = _processor(bench, baseUrl="tcps://iso.test:9443", tcpTransport=transport)
    await processor.handle(_tcp_item(behavior="LENGTH_PREFIX_2B", body="0200"), 1)
    [sent] = bench.tcp.sent
    assert sent.endpoint.tls
    assert sent.call.max_bytes == 100
    assert sent.call.wire() == b"\x00\x040200", "behind a two-byte big-endian length"
    assert (sent.settings.ssl_verify, sent.settings.ca_file, sent.settings.max_retries) == (False, "/ca.pem", 0)
    assert sent.settings.read_timeout == 0.25


async def test_a_binary_reply_is_forwarded_as_base64_and_a_base64_body_is_sent_as_bytes() -> None:
    bench = RoleBench()
    bench.tcp.script(b"\x02\x10\xff\x00")
    body = base64.b64encode(b"\x02\x00\xfe").decode()
    result = _result(
        await _processor(bench).handle(_tcp_item(behavior="STREAMING", body=body, bodyEncoding="base64"), 1)
    )
    assert bench.tcp.sent[0].call.payload == b"\x02\x00\xfe"
    assert result["outcome"]["bodyEncoding"] == "base64"
    assert base64.b64decode(result["outcome"]["body"]) == b"\x02\x10\xff\x00"


@pytest.mark.parametrize(
    "error",
    [TcpTimeout("no end tag"), TcpTooLarge("over maxBytes"), TcpFrameTooLarge("frame of 65535")],
)
async def test_a_failed_call_is_counted_by_its_kind_alerted_and_forwarded_as_a_transport_error(error: Any) -> None:
    bench = RoleBench()
    bench.tcp.script(error)
    item = await _processor(bench).handle(_tcp_item(behavior="REQUEST_RESPONSE", body="x", endTag="\n"), 1)
    outcome = _result(item)["outcome"]
    assert (outcome["type"], outcome["error"]["kind"]) == ("transport_error", error.kind)
    assert item is not None
    assert item.headers["x-ph-error"] == error.kind
    assert item.steps[-1].headers["x-ph-processor-success"] is False
    assert bench.stats.errors == 1
    assert bench.stats.error_kinds == {error.kind: 1}
    assert bench.stats.latency.count == 0, "a failed call is not in the latency histogram"
    assert bench.codes() == [error.kind.replace("tcp-", "tcp.")]


@pytest.mark.parametrize(
    ("step", "fix"),
    [
        ({"kind": "http.request", "request": {"method": "GET", "path": "/"}}, "protocol: TCP template"),
        ({"kind": "tcp.request", "request": {"behavior": "SHOUT", "body": "x"}}, "not one of FIRE_FORGET"),
        ({"kind": "tcp.request", "request": {"behavior": "REQUEST_RESPONSE", "body": "x"}}, "needs an endTag"),
        ({"kind": "tcp.request", "request": {"behavior": "ECHO", "maxBytes": 0}}, "maxBytes 0 is out of range"),
        ({"kind": "tcp.request", "request": {"behavior": "LENGTH_PREFIX_2B", "body": "x" * 70000}}, "two-byte"),
    ],
)
async def test_an_item_the_processor_cannot_send_is_dropped_naming_the_fix(step: dict[str, Any], fix: str) -> None:
    bench = RoleBench()
    item = new_item(orjson.dumps(step).decode(), swarm="unit", service="builder", instance="builder-0")
    with pytest.raises(DropItem, match=fix):
        await _processor(bench).handle(item, 1)
    assert bench.tcp.sent == []


async def test_an_http_processor_drops_a_tcp_request_naming_the_fix() -> None:
    bench = RoleBench()
    processor = bench.build("processor", {"baseUrl": "http://sut.test"})
    with pytest.raises(DropItem, match="tcp:// or tcps:// baseUrl"):
        await processor.handle(_tcp_item(behavior="ECHO", body="x"), 1)
    assert bench.http.sent == []


@pytest.mark.parametrize(
    ("config", "where"),
    [
        ({"baseUrl": "tcp://iso.test"}, "no port"),
        ({"baseUrl": "tcp://iso.test:9000/path"}, "no path"),
        ({"inputs": {"type": "SCHEDULER", "scheduler": {"ratePerSec": 1}}}, "no direct mode"),
    ],
)
def test_a_tcp_config_the_processor_cannot_follow_is_refused(config: dict[str, Any], where: str) -> None:
    with pytest.raises(ConfigError, match=where):
        RoleBench().build("processor", {"baseUrl": BASE, **config})


async def test_without_an_output_the_processor_counts_and_forwards_nothing() -> None:
    bench = RoleBench()
    assert await _processor(bench, forwards=False).handle(_tcp_item(behavior="ECHO", body="x"), 1) is None
    assert bench.stats.tcp_replies == {"ECHO": 1}


async def test_the_request_builder_makes_a_tcp_request_step_from_a_tcp_template() -> None:
    bench = RoleBench()
    template = {
        "callId": "auth",
        "protocol": "TCP",
        "behavior": "LENGTH_PREFIX_2B",
        "bodyTemplate": "0200{{ payload.pan }}",
        "headersTemplate": {"x-leg": "{{ payload.pan }}"},
        "maxBytes": 512,
    }
    builder = bench.build("request-builder", {"templates": [template]})
    item = new_item('{"pan": "4111"}', swarm="unit", service="gen", instance="gen-0", headers={CALL_ID_HEADER: "auth"})
    step = _result(await builder.handle(item, 1))
    assert step == {
        "kind": "tcp.request",
        "request": {"behavior": "LENGTH_PREFIX_2B", "body": "02004111", "headers": {"x-leg": "4111"}, "maxBytes": 512},
    }
    assert frame(b"02004111")[:2] == b"\x00\x08"


async def test_the_postprocessor_counts_a_tcp_reply_as_a_success_and_a_tcp_error_by_its_kind() -> None:
    bench = RoleBench()
    bench.tcp.script(b"ok\n", TcpTimeout("no end tag"))
    processor = _processor(bench)
    results = [await processor.handle(_tcp_item(behavior="REQUEST_RESPONSE", body="x", endTag="\n"), n) for n in (1, 2)]
    counting = RoleBench()
    postprocessor = counting.build("postprocessor", {})
    for result in results:
        assert result is not None
        await postprocessor.handle(result, 1)
    assert counting.stats.errors == 1
    assert counting.stats.error_kinds == {"tcp-timeout": 1}
    assert counting.stats.latency.count == 1, "the reply's duration"
    assert not counting.stats.statuses, "a TCP reply has no status code"
