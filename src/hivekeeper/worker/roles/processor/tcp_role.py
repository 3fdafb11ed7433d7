"""processor over TCP: a ``tcp://host:port`` (or ``tcps://``) baseUrl sends each item's ``tcp.request`` step.

The request-builder makes that step from a ``protocol: TCP`` template: ``{"kind": "tcp.request", "request":
{"behavior", "body", "bodyEncoding"?, "headers", "endTag"?, "maxBytes"?}}``. The processor writes the body (UTF-8,
or base64-decoded bytes) and reads the reply as the behaviour says, at most ``maxBytes`` (the step's, else
``tcpTransport.maxBytes``), within ``timeoutMs``. The result is a ``tcp.result`` step in the shape of an
``http.result`` (``outcome.type`` ``tcp_response`` or ``transport_error``, ``headers``: the call's metadata as
lists, ``body``, ``bodyBytes``), so what reads results (the postprocessor, result rules) reads both alike.

A failed call is counted by its kind (``tcp-timeout``, ``tcp-too-large``, ``tcp-closed``,
``tcp-frame-too-large``, ``tcp-connect``, ``tcp-echo-mismatch``), alerted (rate-limited by the runtime) and
forwarded as a ``transport_error`` result, never fatal.

Result rules (the request's ``resultRules``, else ``config.resultRules``; :mod:`.judge`) read a reply as the
response body, the request's body and headers (metadata) as the request's; a reply they call a failure is an error
of kind ``business``.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
from time import perf_counter
from typing import Any

import orjson

from hivekeeper.api.roles import ConfigError
from hivekeeper.api.roles.processor.config import ProcessorConfig
from hivekeeper.api.tcp import BEHAVIORS, MAX_BYTES_LIMIT, TcpBehavior
from hivekeeper.protocol.workitem import WorkItem
from hivekeeper.worker.pacing import SlotPacer
from hivekeeper.worker.result_rules import CompiledRules, Exchange, RuleValues
from hivekeeper.worker.roles.base import AlertFn, DropItem, RoleDeps
from hivekeeper.worker.roles.processor.judge import ResultJudge, lower_headers
from hivekeeper.worker.tcp_port import (
    TcpCall,
    TcpEndpoint,
    TcpEndpointError,
    TcpError,
    TcpFrameError,
    TcpPort,
    TcpReply,
    TcpSettings,
)


def settings_of(config: ProcessorConfig) -> TcpSettings:
    transport = config.tcpTransport
    return TcpSettings(
        connect_timeout=transport.connectTimeoutMs / 1000.0,
        read_timeout=transport.readTimeoutMs / 1000.0,
        max_retries=transport.maxRetries,
        keep_alive=transport.keepAlive and config.keepAlive,
        ssl_verify=transport.sslVerify,
        ca_file=transport.caFile,
    )


class TcpProcessor:
    """The processor of a TCP endpoint (``build`` picks it for a tcp:// or tcps:// baseUrl)."""

    def __init__(self, config: ProcessorConfig, deps: RoleDeps, base: str, *, alert: AlertFn, forward: bool) -> None:
        self.config = config
        self.deps = deps
        self._alert = alert
        self._forward = forward
        try:
            self.endpoint = TcpEndpoint.parse(base)
        except TcpEndpointError as exc:
            raise ConfigError("processor", [("baseUrl", str(exc))]) from exc
        if config.inputs.type == "SCHEDULER":
            raise ConfigError(
                "processor",
                [
                    (
                        "inputs.type",
                        f"a processor with the TCP baseUrl {base!r} sends the tcp.request steps of its items; it has "
                        "no direct mode: use a RABBITMQ input fed by a request-builder with protocol: TCP templates",
                    )
                ],
            )
        if deps.tcp is None:
            raise ConfigError("processor", [("tcp", "the runtime gave the processor no TCP client")])
        self.tcp: TcpPort = deps.tcp
        self.base_url = base
        self.settings = settings_of(config)
        self.timeout = config.timeoutMs / 1000.0
        self.pacer = SlotPacer(config.ratePerSec) if config.mode == "RATE_PER_SEC" else None
        self.judge = ResultJudge(config.resultRules, deps.stats, alert)
        self.transactions = 0
        self.successes = 0

    async def handle(self, item: WorkItem | None, seq: int) -> WorkItem | None:
        if item is None:  # not reached: a SCHEDULER input is refused above
            raise DropItem("processor.no-item", "a TCP processor needs items from work.in")
        call, request, rules = self._call(item)
        wait = 0.0
        if self.pacer is not None:
            wait = self.pacer.reserve(asyncio.get_running_loop().time())
            if wait > 0:
                await asyncio.sleep(wait)
        outcome, metrics, values = await self._execute(call, item, rules, request)
        if not self._forward:
            return None
        metrics["rateWaitMs"] = round(wait * 1000, 3)
        result = {
            "kind": "tcp.result",
            "request": {
                "transport": "tcp",
                "scheme": "tcps" if self.endpoint.tls else "tcp",
                "baseUrl": self.endpoint.url,
                "behavior": call.behavior,
                "headers": request.get("headers") or {},
            },
            "outcome": outcome,
            "metrics": metrics,
        }
        failed = outcome["type"] == "transport_error"
        step_headers = {
            "x-ph-processor-duration-ms": metrics["durationMs"],
            "x-ph-processor-rate-wait-ms": metrics["rateWaitMs"],
            "x-ph-processor-success": not failed,
        }
        if values is not None:
            step_headers.update(values.headers())
        grown = item.with_step(
            orjson.dumps(result).decode(), service=self.deps.role, instance=self.deps.instance, headers=step_headers
        )
        if failed:
            grown.headers = {**grown.headers, "x-ph-error": outcome["error"]["kind"]}
        return grown

    def _call(self, item: WorkItem) -> tuple[TcpCall, dict[str, Any], CompiledRules | None]:
        """The call an item's ``tcp.request`` step asks for, and its result rules; anything else is dropped, naming
        the fix."""
        try:
            envelope = orjson.loads(item.payload)
            kind = envelope.get("kind")
            request = envelope["request"]
            if kind != "tcp.request" or not isinstance(request, dict):
                raise DropItem(
                    "processor.bad-request",
                    f"item {item.messageId}: the last step is a {kind or 'step without a kind'}, not a tcp.request, "
                    f"and the baseUrl {self.base_url!r} is TCP; give the request-builder a protocol: TCP template "
                    "for this call, or aim this processor at an http(s) baseUrl",
                )
            behavior = str(request.get("behavior") or "REQUEST_RESPONSE").upper()
            body = request.get("body")
            body = "" if body is None else body if isinstance(body, str) else orjson.dumps(body).decode()
            payload = (
                base64.b64decode(body, validate=True) if request.get("bodyEncoding") == "base64" else body.encode()
            )
            cap = request.get("maxBytes")
            max_bytes = self.config.tcpTransport.maxBytes if cap is None else int(cap)
            end_tag = str(request.get("endTag") or "").encode()
            rules = self.judge.rules_for(envelope, item.messageId)
        except (orjson.JSONDecodeError, KeyError, TypeError, AttributeError, ValueError, binascii.Error) as exc:
            raise DropItem(
                "processor.bad-request",
                f"item {item.messageId}: the last step is not a tcp.request envelope ({exc}); put a request-builder "
                "with a protocol: TCP template before the processor",
            ) from exc
        problem = _problem(behavior, end_tag, max_bytes)
        if problem:
            raise DropItem("processor.bad-request", f"item {item.messageId}: {problem}")
        call = TcpCall(_behavior(behavior), payload, max_bytes, end_tag)
        try:
            call.wire()
        except TcpFrameError as exc:
            raise DropItem("processor.bad-request", f"item {item.messageId}: {exc}") from exc
        return call, request, rules

    async def _execute(
        self, call: TcpCall, item: WorkItem, rules: CompiledRules | None, request: dict[str, Any]
    ) -> tuple[dict[str, Any], dict[str, Any], RuleValues | None]:
        """Send one call and count its result; ``rules`` read values from the reply and the request."""
        stats = self.deps.stats
        self.transactions += 1
        started = perf_counter()
        try:
            reply: TcpReply = await self.tcp.send(self.endpoint, call, self.timeout, self.settings)
        except TcpError as exc:
            duration = perf_counter() - started
            stats.errors += 1
            stats.error_kinds[exc.kind] += 1
            self._alert(
                exc.kind.replace("tcp-", "tcp."),
                f"call to {self.endpoint.url} failed: {exc}",
                {"correlationId": item.correlation_id, "baseUrl": self.base_url},
            )
            error = {"kind": exc.kind, "message": str(exc)}
            outcome = {"type": "transport_error", "status": 0, "error": error, "headers": {}, "bodyBytes": exc.received}
            return outcome, {"durationMs": round(duration * 1000, 3)}, None
        duration = perf_counter() - started
        stats.latency.record(duration)
        stats.tcp_replies[call.behavior] += 1
        if not reply.reused:
            stats.tcp_connect.record(reply.connect_seconds)
        values = None
        if rules is not None:
            headers = {str(k): str(v) for k, v in (request.get("headers") or {}).items()}
            values = self.judge.judge(
                rules, Exchange(reply.data, {}, call.payload, lower_headers(headers)), succeeded=True
            )
        if values is None or not values.business_failure:
            self.successes += 1
        metrics = {
            "durationMs": round(duration * 1000, 3),
            "connectionLatencyMs": round(reply.connect_seconds * 1000, 3),
        }
        if not self._forward:
            return {"type": "tcp_response"}, metrics, values
        body, encoding = _text(reply.data)
        outcome = {
            "type": "tcp_response",
            "headers": {
                "x-tcp-behavior": [call.behavior],
                "x-tcp-connection": ["reused" if reply.reused else "new"],
            },
            "body": body,
            "bodyEncoding": encoding,
            "bodyBytes": len(reply.data),
            "truncated": False,
        }
        return outcome, metrics, values

    def context(self) -> dict[str, Any]:
        return {
            "baseUrl": self.base_url,
            "httpMode": self.config.mode,
            "httpThreadCount": self.config.threadCount,
            "transactions": self.transactions,
            "successRatio": round(self.successes / self.transactions, 4) if self.transactions else None,
            "avgLatencyMs": round(self.deps.stats.latency.mean_ms(), 3),
        }


def _behavior(name: str) -> TcpBehavior:
    assert name in BEHAVIORS  # checked by _problem
    return name  # type: ignore[return-value]


def _problem(behavior: str, end_tag: bytes, max_bytes: int) -> str | None:
    if behavior not in BEHAVIORS:
        return f"behavior {behavior!r} is not one of {', '.join(BEHAVIORS)}"
    if behavior == "REQUEST_RESPONSE" and not end_tag:
        return "behavior REQUEST_RESPONSE needs an endTag (the bytes that end a reply)"
    if not 1 <= max_bytes <= MAX_BYTES_LIMIT:
        return f"maxBytes {max_bytes} is out of range (1 to {MAX_BYTES_LIMIT:,})"
    return None


def _text(data: bytes) -> tuple[str, str]:
    """The reply as UTF-8 text, or as base64 when it is not UTF-8 (binary frames: ISO 8583 bitmaps)."""
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        return base64.b64encode(data).decode("ascii"), "base64"
