"""processor: executes HTTP requests against the system under test and records the results (TCP calls, for a
tcp:// or tcps:// baseUrl, are ``tcp_role``'s).

Input is an ``http.request`` step (from a request-builder or an HTTP generator) or, with a
SCHEDULER input, the processor's own ``request`` config (direct mode: no broker hop). Any HTTP
status is a result; transport failures (connect, reset, timeout, malformed response) are counted,
alerted (rate-limited by the runtime) and forwarded as ``transport_error`` results, never fatal.

``timeoutMs`` is one deadline for the whole request (connect, a reconnect, the body); at most
``maxResponseBytes`` of a body are kept for the result, the rest is read, discarded and counted
(``responsesTruncated``). Only idempotent methods are retried after a dropped keep-alive connection.

In RATE_PER_SEC mode each call first reserves a slot from a shared next-slot pacer; that wait is
reported as ``x-ph-processor-rate-wait-ms`` and is *not* part of the measured latency.

Result rules (the request's ``resultRules``, else ``config.resultRules``; :mod:`.judge`) read a business code,
its success and dimensions from each answered call onto the result step's headers; a 2xx they call a failure
is an error of kind ``business``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from time import perf_counter
from typing import Any

import orjson

from hivekeeper.api.roles import ConfigError
from hivekeeper.api.roles.common import CommonConfig
from hivekeeper.api.roles.processor.config import ProcessorConfig
from hivekeeper.protocol.workitem import WorkItem
from hivekeeper.templating.context import template_context
from hivekeeper.worker import auth_port
from hivekeeper.worker.http_port import (
    HttpError,
    HttpSettings,
    Origin,
    OriginError,
    Response,
    is_idempotent,
    route,
    serialise_request,
)
from hivekeeper.worker.pacing import SlotPacer
from hivekeeper.worker.result_rules import CompiledRules, Exchange, RuleValues
from hivekeeper.worker.roles.base import AlertFn, DropItem, Role, RoleDeps, RoleKind, Wiring
from hivekeeper.worker.roles.processor.judge import ResultJudge, lower_headers
from hivekeeper.worker.roles.processor.tcp_role import TcpProcessor
from hivekeeper.worker.roles.templates import endpoint_auth, unknown_profile
from hivekeeper.worker.tcp_port import is_tcp_url


class Processor:
    def __init__(
        self, config: ProcessorConfig, deps: RoleDeps, base: str, *, alert: AlertFn, forward_results: bool
    ) -> None:
        self.config = config
        self.deps = deps
        self._alert = alert
        self._forward = forward_results
        self._sut = config.sut.model_dump()
        try:
            self.origin = Origin.parse(base)
        except OriginError as exc:
            raise ConfigError("processor", [("baseUrl", str(exc))]) from exc
        self.base_url = base
        self.timeout = config.timeoutMs / 1000.0
        self.limit = config.maxResponseBytes
        self.pacer = SlotPacer(config.ratePerSec) if config.mode == "RATE_PER_SEC" else None
        direct = config.request
        for name, source in {
            "request.path": direct.path,
            "request.body": direct.body or "",
            **{f"request.headers.{k}": v for k, v in direct.headers.items()},
        }.items():
            deps.engine.validate(name, source)
        self.endpoint_auth = endpoint_auth(config, "processor")
        self._direct_auth = direct.auth or self.endpoint_auth.profile(self.origin, self.origin.target(direct.path))
        if direct.auth is not None and direct.auth not in config.auth:
            raise ConfigError("processor", [("request.auth", unknown_profile(direct.auth, "", config.auth))])
        # A literal request is serialised once, unless credentials go into it (they may change: a token).
        literal = "{" not in direct.path + (direct.body or "") + "".join(direct.headers.values())
        literal = literal and self._direct_auth is None
        self._direct_raw: bytes | None = None
        self._head = direct.method.upper() == "HEAD"
        self._idempotent = is_idempotent(direct.method.upper())
        if literal:
            self._direct_raw = serialise_request(
                direct.method.upper(),
                self.origin.target(direct.path),
                self.origin.host_header,
                self._with_connection(dict(direct.headers)),
                direct.body.encode() if direct.body is not None else None,
            )
        if deps.http is None:
            raise ConfigError("processor", [("http", "the runtime gave the processor no HTTP client")])
        self.http = deps.http
        self.judge = ResultJudge(config.resultRules, deps.stats, alert)
        self.transactions = 0
        self.successes = 0

    def _with_connection(self, headers: dict[str, str]) -> dict[str, str]:
        if not self.config.keepAlive:
            headers["Connection"] = "close"
        return headers

    async def handle(self, item: WorkItem | None, seq: int) -> WorkItem | None:
        wait = 0.0
        if self.pacer is not None:
            wait = self.pacer.reserve(asyncio.get_running_loop().time())
            if wait > 0:
                await asyncio.sleep(wait)
        if item is None:
            return await self._direct(seq, wait)
        return await self._from_item(item, wait)

    @property
    def fast_tick(self) -> Callable[[], Awaitable[None]] | None:
        """A one-coroutine path for scheduler ticks, when nothing else is needed per request.

        Direct mode with a literal request, no rate pacing and no output: the runtime calls this
        instead of ``handle`` and skips its per-item bookkeeping (this does its own).
        """
        if self._direct_raw is not None and not self._forward and self.pacer is None and self.judge.default is None:
            return self._tick
        return None

    async def _tick(self) -> None:
        stats = self.deps.stats
        self.transactions += 1
        started = perf_counter()
        try:
            response = await self.http.send(
                self.origin,
                self._direct_raw,  # type: ignore[arg-type]
                self.timeout,
                head=self._head,
                idempotent=self._idempotent,
                limit=self.limit,
            )
        except HttpError as exc:
            stats.errors += 1
            stats.error_kinds[exc.kind] += 1
            if exc.truncated:
                stats.truncated += 1
            self._alert(
                f"http.{exc.kind}", f"request to {self.origin.host_header} failed: {exc}", {"baseUrl": self.base_url}
            )
            return
        stats.latency.record(perf_counter() - started)
        status = response.status
        stats.statuses[status] += 1
        if response.truncated:
            stats.truncated += 1
        if 200 <= status < 300:
            self.successes += 1
        else:
            stats.errors += 1

    async def _direct(self, seq: int, wait: float) -> WorkItem | None:
        raw = self._direct_raw
        direct = self.config.request
        method = direct.method.upper()
        target = direct.path
        rules = self.judge.default
        sent: tuple[dict[str, str], str | None] = (direct.headers, direct.body)
        if raw is None:
            context = template_context(None, self.config.vars, self._sut)
            engine = self.deps.engine
            target = await engine.render_async("request.path", direct.path, context)
            headers = {
                k: await engine.render_async(f"request.headers.{k}", v, context) for k, v in direct.headers.items()
            }
            body = await engine.render_async("request.body", direct.body, context) if direct.body is not None else None
            sent = (headers, body)
            raw = serialise_request(
                method,
                self.origin.target(target),
                self.origin.host_header,
                self._with_connection(headers),
                body.encode() if body is not None else None,
            )
            if self._direct_auth is not None:
                call = self._call(self.origin, method, self.origin.target(target), headers, body)
                await self._execute(self.origin, raw, method, None, call, self._direct_auth, rules, sent)
                return None
        await self._execute(self.origin, raw, method, None, rules=rules, sent=sent)
        return None

    def _call(
        self, origin: Origin, method: str, target: str, headers: dict[str, str], body: str | None
    ) -> auth_port.Call:
        """A request to send with an auth profile's credentials (added at the last moment, never forwarded)."""
        return auth_port.Call(
            origin,
            method,
            target,
            self._with_connection(dict(headers)),
            body.encode() if body is not None else None,
            self.timeout,
            self.limit,
            method == "HEAD",
            is_idempotent(method),
        )

    async def _from_item(self, item: WorkItem, wait: float) -> WorkItem | None:
        try:
            envelope = orjson.loads(item.payload)
            if envelope.get("kind") == "tcp.request":
                raise DropItem(
                    "processor.bad-request",
                    f"item {item.messageId}: a tcp.request (a protocol: TCP template) cannot go to the http(s) "
                    f"baseUrl {self.base_url!r}; aim this processor at a tcp:// or tcps:// baseUrl",
                )
            request = envelope["request"]
            method = str(request.get("method", "GET")).upper()
            path = str(request.get("path", "/"))
            headers = {str(k): str(v) for k, v in (request.get("headers") or {}).items()}
            body = request.get("body")
            profile = request.get("auth")
            rules = self.judge.rules_for(envelope, item.messageId)
        except (orjson.JSONDecodeError, KeyError, TypeError, AttributeError) as exc:
            raise DropItem(
                "processor.bad-request",
                f"item {item.messageId}: the last step is not an http.request envelope ({exc}); "
                "put a request-builder (or an HTTP generator) before the processor",
            ) from exc
        try:
            origin, target = route(self.origin, path)
        except OriginError as exc:
            raise DropItem("processor.bad-request", f"item {item.messageId}: {exc}") from exc
        headers[self.config.correlationHeader] = item.correlation_id
        if body is not None and not isinstance(body, str):
            body = orjson.dumps(body).decode()
        raw = serialise_request(
            method,
            target,
            origin.host_header,
            self._with_connection(headers),
            body.encode() if body is not None else None,
        )
        profile = profile if isinstance(profile, str) else self.endpoint_auth.profile(origin, target)
        call = None
        if profile is not None:
            if profile not in self.config.auth:
                raise DropItem(
                    "processor.unknown-auth",
                    f"item {item.messageId}: {unknown_profile(profile, ' (of its template)', self.config.auth)}",
                )
            call = self._call(origin, method, target, headers, body)
        outcome, duration, values = await self._execute(
            origin, raw, method, item, call, profile, rules, (headers, body)
        )
        if not self._forward:
            return None
        result = {
            "kind": "http.result",
            "request": {"method": method, "baseUrl": f"{origin.scheme}://{origin.host_header}", "path": target},
            "outcome": outcome,
            "metrics": {"durationMs": round(duration * 1000, 3), "rateWaitMs": round(wait * 1000, 3)},
        }
        status = outcome.get("status", 0)
        step_headers = {
            "x-ph-processor-duration-ms": round(duration * 1000, 3),
            "x-ph-processor-rate-wait-ms": round(wait * 1000, 3),
            "x-ph-processor-success": 200 <= status < 300,
            "x-ph-processor-status": status,
        }
        if values is not None:
            step_headers.update(values.headers())
        grown = item.with_step(
            orjson.dumps(result).decode(), service=self.deps.role, instance=self.deps.instance, headers=step_headers
        )
        if outcome["type"] == "transport_error":
            grown.headers = {**grown.headers, "x-ph-error": outcome["error"]["kind"]}
        return grown

    async def _execute(
        self,
        origin: Origin,
        raw: bytes,
        method: str,
        item: WorkItem | None,
        call: auth_port.Call | None = None,
        profile: str | None = None,
        rules: CompiledRules | None = None,
        sent: tuple[dict[str, str], str | None] = ({}, None),
    ) -> tuple[dict[str, Any], float, RuleValues | None]:
        """Send one request and count its result; ``rules`` read values from it (``sent``: the request's headers
        and body as built, without credentials)."""
        stats = self.deps.stats
        started = perf_counter()  # not loop.time(): uvloop's clock ticks in whole milliseconds
        self.transactions += 1
        try:
            if call is None:
                response: Response = await self.http.send(
                    origin, raw, self.timeout, head=method == "HEAD", idempotent=is_idempotent(method), limit=self.limit
                )
            else:  # a 401 to an OAuth2 token refreshes it once and sends again: one transaction, its whole time
                response = await auth_port.send(self.http, self.deps.auth, profile, call)
        except HttpError as exc:
            duration = perf_counter() - started
            stats.errors += 1
            stats.error_kinds[exc.kind] += 1
            if exc.truncated:
                stats.truncated += 1
            self._alert(
                f"http.{exc.kind}",
                f"request to {origin.host_header} failed: {exc}",
                {"correlationId": item.correlation_id if item else None, "baseUrl": self.base_url},
            )
            error = {"kind": exc.kind, "message": str(exc)}
            failed = {"type": "transport_error", "status": 0, "error": error, "truncated": exc.truncated}
            return failed, duration, None
        duration = perf_counter() - started
        status = response.status
        stats.latency.record(duration)
        stats.statuses[status] += 1
        if response.truncated:
            stats.truncated += 1
        values = None
        if rules is not None:
            values = self.judge.judge(rules, _exchange(rules, response, sent), succeeded=200 <= status < 300)
        if 200 <= status < 300:
            if values is None or not values.business_failure:
                self.successes += 1
        else:
            stats.errors += 1
        if not self._forward:
            return {"type": "http_response", "status": status}, duration, values
        return (
            {
                "type": "http_response",
                "status": status,
                "headers": response.header_map(),
                "body": response.body.decode("utf-8", "replace"),  # at most maxResponseBytes
                "bodyBytes": response.body_bytes,
                "truncated": response.truncated,
            },
            duration,
            values,
        )

    def context(self) -> dict[str, Any]:
        return {
            "baseUrl": self.base_url,
            "httpMode": self.config.mode,
            "httpThreadCount": self.config.threadCount,
            "transactions": self.transactions,
            "successRatio": round(self.successes / self.transactions, 4) if self.transactions else None,
            "avgLatencyMs": round(self.deps.stats.latency.mean_ms(), 3),
        }


def _exchange(rules: CompiledRules, response: Response, sent: tuple[dict[str, str], str | None]) -> Exchange:
    """An HTTP call as the result rules read it (response headers only when a rule reads one)."""
    headers, body = sent
    response_headers = {}
    if rules.reads_response_headers:
        response_headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in reversed(response.headers)}
    return Exchange(response.body, response_headers, body.encode() if body else b"", lower_headers(headers))


def build(config: CommonConfig, wiring: Wiring) -> Role:
    """The HTTP processor, or the TCP one for a tcp:// or tcps:// baseUrl (``tcp_role``)."""
    assert isinstance(config, ProcessorConfig)  # the registry pairs this factory with its config model
    context = {"sut": config.sut.model_dump(), "vars": config.vars}
    base = wiring.deps.engine.render("baseUrl", config.baseUrl, context)
    if not base:
        raise ConfigError(
            "processor",
            [
                (
                    "baseUrl",
                    "is required: the http(s) URL of the system under test (or tcp://host:port), "
                    "e.g. {{ sut.endpoints.default.baseUrl }}",
                )
            ],
        )
    if is_tcp_url(base):
        return TcpProcessor(config, wiring.deps, base, alert=wiring.alert, forward=wiring.forwards)
    return Processor(config, wiring.deps, base, alert=wiring.alert, forward_results=wiring.forwards)


def _threads(config: CommonConfig) -> int:
    assert isinstance(config, ProcessorConfig)
    return config.threadCount


def _http(config: CommonConfig, forwards: bool) -> HttpSettings:
    assert isinstance(config, ProcessorConfig)
    # Response headers only when results go on or result rules may read one (else nobody reads them).
    rules = config.resultRules is not None or any(t.resultRules is not None for t in config.templates)
    return HttpSettings(ssl_verify=config.sslVerify, keep_alive=config.keepAlive, collect_headers=forwards or rules)


KIND = RoleKind(build, concurrency=_threads, http=_http, tcp=True)
