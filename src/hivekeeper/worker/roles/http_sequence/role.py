"""http-sequence: one work item is one journey of ordered HTTP steps against the system under test.

Each step renders the request template ``serviceId::callId`` (the same templates the
request-builder uses) with the journey context as ``payload``/``ctx``, sends it on the worker's
pooled HTTP client with the step's timeout (one deadline per attempt: connect, reconnect, body)
and ``maxResponseBytes`` (the body bytes kept for extracts, metadata and captures), retries on the
configured conditions with capped backoff, copies values from the response into the context
(``extracts``), renders ``set`` entries, and appends one step to the item: payload = the context
JSON, headers = compact ``x-ph-http-seq-*`` metadata (never whole bodies). Journeys run
concurrently up to ``threadCount`` (the runtime's work loops); the steps of one journey strictly
in order.

A non-2xx or transport error (status -1) without ``continueOnNon2xx`` stops the journey, counts
an error journey and still returns the partial item. A missing template or a missing required
extract drops the item (the runtime counts and alerts it). Steps chosen by ``debugCapture`` are
written in full to the data store (see ``worker/capture.py``); a store failure never fails a
journey.
"""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from time import perf_counter
from typing import Any

import orjson

from hivekeeper.api.roles import ConfigError
from hivekeeper.api.roles.common import CommonConfig
from hivekeeper.api.roles.http_sequence.config import HttpSequenceConfig
from hivekeeper.api.roles.redis import NEEDS_REDIS
from hivekeeper.protocol.workitem import WorkItem, new_item, now
from hivekeeper.worker import auth_port, capture, journey
from hivekeeper.worker.http_port import (
    HttpError,
    HttpSettings,
    Origin,
    OriginError,
    is_idempotent,
    route,
    serialise_request,
)
from hivekeeper.worker.ports import DataStore
from hivekeeper.worker.roles.base import AlertFn, DropItem, Role, RoleDeps, RoleKind, Wiring
from hivekeeper.worker.roles.http_sequence.steps import ROLE, Request, Step, compile_steps, load_templates
from hivekeeper.worker.roles.templates import endpoint_auth

CORRELATION_HEADER = "X-Correlation-Id"
EXAMPLE = "e.g. {{ sut.endpoints.default.baseUrl }}"


_Captures = list[tuple[journey.StepOutcome, capture.Pending]]
"""A journey's captures waiting for its one batched write, each with the step outcome that refers to it."""


class HttpSequence:
    def __init__(
        self,
        config: HttpSequenceConfig,
        deps: RoleDeps,
        *,
        alert: AlertFn,
        store: DataStore | None,
        forward_results: bool,
        counters: journey.Counters | None = None,
    ) -> None:
        self.config = config
        self.deps = deps
        self._alert = alert
        self._store = store
        self._forward = forward_results
        self.counters = counters or journey.Counters()
        self._sut = config.sut.model_dump()
        base = deps.engine.render("baseUrl", config.baseUrl, {"sut": self._sut, "vars": config.vars})
        if not base:
            raise ConfigError(ROLE, [("baseUrl", f"is required: the http(s) URL of the system under test, {EXAMPLE}")])
        try:
            self.origin = Origin.parse(base)
        except OriginError as exc:
            raise ConfigError(ROLE, [("baseUrl", str(exc))]) from exc
        self.base_url = base
        self.templates = load_templates(config, deps.engine)
        self.steps = compile_steps(config, self.templates, deps.engine)
        self._step_latency = [deps.stats.step(step.id) for step in self.steps]
        """Each step's latency histogram, by step index (looked up once per config, not per call)."""
        self.policy = capture.CapturePolicy.of(config.debugCapture)
        self._preview = config.debugCapture.bodyPreviewBytes
        if store is None and "debugCapture" not in config.model_fields_set:
            # The default (ERROR_ONLY) needs Redis; without one, captures are simply off. Asking for a
            # capture mode explicitly without Redis is still refused below.
            self.policy = capture.CapturePolicy.of(config.debugCapture.model_copy(update={"mode": "NONE"}))
        if self.policy.active and store is None:
            problem = f"{self.policy.mode} {NEEDS_REDIS}; or set debugCapture.mode: NONE"
            raise ConfigError(ROLE, [("debugCapture.mode", problem)])
        if deps.http is None:
            raise ConfigError(ROLE, [("http", "the runtime gave the http-sequence no HTTP client")])
        self.http = deps.http
        self.auth = deps.auth
        self.endpoint_auth = endpoint_auth(config, ROLE)

    # -- journeys -------------------------------------------------------------------------------
    async def handle(self, item: WorkItem | None, seq: int) -> WorkItem | None:
        counters = self.counters
        counters.journeys += 1
        journey_id = item.correlation_id if item is not None else str(uuid.uuid4())
        ctx = journey.initial_context(item.payload if item is not None else None)
        context = {
            "payload": ctx,
            "ctx": ctx,
            "payloadRaw": item.payload if item is not None else "",
            "headers": item.headers if item is not None else {},
            "workItem": item,
            "vars": self.config.vars,
            "sut": self._sut,
            "correlationId": journey_id,
        }
        budget = capture.JourneyBudget(self.policy.max_journey_bytes) if self.policy.active else None
        captures: _Captures = []
        done: list[tuple[journey.StepOutcome, str]] = []  # each step's record, with the context after it
        failed: journey.StepOutcome | None = None
        try:
            for step in self.steps:
                outcome = await self._step(step, ctx, context, journey_id, budget, captures)
                if self._forward:
                    done.append((outcome, orjson.dumps(ctx).decode()))
                if not journey.is_ok(outcome.status) and not step.continue_on_non2xx:
                    failed = outcome
                    break
        except Exception:  # dropped by the runtime (a DropItem, a template error): counted here too
            counters.dropped += 1
            raise
        finally:
            if captures:  # one round trip per journey, also when it was dropped
                await self._write_captures(captures, journey_id)
        if failed is None:
            counters.ok += 1
        else:
            counters.errors += 1
            self.deps.stats.errors += 1
        if not self._forward:
            return None
        return self._result(item, journey_id, done, failed)

    async def _step(
        self,
        step: Step,
        ctx: dict[str, Any],
        context: dict[str, Any],
        journey_id: str,
        budget: capture.JourneyBudget | None,
        captures: _Captures,
    ) -> journey.StepOutcome:
        request = await self._render(step, context, journey_id)
        outcome = journey.StepOutcome(step.index, step.id, step.service_id, step.call_id)
        response = await self._send(step, request, outcome)
        self.counters.steps += 1
        missing = journey.apply_extracts(step.extracts, response, ctx)
        if budget is not None and self.policy.wants(journey.is_ok(outcome.status) and not missing):
            self._capture(step, outcome, response, journey_id, budget, request, captures)
        if missing:
            names = ", ".join(f"{r.describe()} (to {r.to})" for r in missing)
            ref = f"; capture {outcome.debug_ref}" if outcome.debug_ref else ""
            cut = ""
            if response.truncated:
                cut = (
                    f"; the body was cut at maxResponseBytes ({step.max_response_bytes:,} of "
                    f"{response.body_bytes:,} bytes kept): raise steps[{step.index}].maxResponseBytes"
                )
            raise DropItem(
                "http-sequence.extract-missing",
                f"step {step.id!r} (steps[{step.index}]) of journey {journey_id}: required extract {names} found "
                f"nothing in the response (status {outcome.status}){cut}{ref}",
            )
        for name, to, source, parse in step.sets:
            rendered = await self._text(name, source, context)
            journey.set_path(ctx, to, journey.parse_json_loosely(rendered) if parse else rendered)
        if self._forward:
            outcome.response_bytes = response.body_bytes
            outcome.sha256 = hashlib.sha256(response.body).hexdigest()
            if self._preview > 0 and response.body:
                outcome.body_preview = capture.truncate(response.body, self._preview)[0]
        return outcome

    async def _render(self, step: Step, context: dict[str, Any], journey_id: str) -> Request:
        template = self.templates.get(step.key)
        if template is None:
            raise DropItem(
                "http-sequence.missing-template",
                f"step {step.id!r} (steps[{step.index}]) of journey {journey_id}: no template {step.key!r}; "
                f"known templates: {', '.join(sorted(self.templates)) or 'none'}",
            )
        text, key = self._text, step.key
        method = (await text(f"{key} method", template.method, context)).upper()
        path = await text(f"{key} pathTemplate", template.pathTemplate, context)
        headers = {
            name: await text(f"{key} headersTemplate.{name}", source, context)
            for name, source in template.headersTemplate.items()
        }
        body: str | None = None
        if template.bodyTemplate is not None:
            body = await text(f"{key} bodyTemplate", template.bodyTemplate, context)
            body = body if body.strip() else None
        try:
            origin, target = route(self.origin, path)
        except OriginError as exc:
            raise DropItem("http-sequence.bad-request", f"step {step.id!r}: {exc}") from exc
        if not any(name.lower() == "x-correlation-id" for name in headers):
            headers[CORRELATION_HEADER] = journey_id
        if not self.config.keepAlive:
            headers["Connection"] = "close"
        try:
            raw = serialise_request(method, target, origin.host_header, headers, body.encode() if body else None)
        except ValueError as exc:
            raise DropItem("http-sequence.bad-request", f"step {step.id!r}: {exc}") from exc
        profile = step.auth or self.endpoint_auth.profile(origin, target)
        return Request(origin, method, target, headers, body, raw, profile)

    async def _text(self, name: str, source: str, context: dict[str, Any]) -> str:
        """``source`` rendered; text without template syntax (a JSON body, say) is used as it is."""
        if "{{" not in source and "{%" not in source and "{#" not in source:
            return source
        return await self.deps.engine.render_async(name, source, context)

    async def _send(self, step: Step, request: Request, outcome: journey.StepOutcome) -> journey.ResponseView:
        stats, retry, origin = self.deps.stats, step.retry, request.origin
        started = perf_counter()
        view = journey.ResponseView(journey.TRANSPORT_ERROR, [], b"")
        method = request.method
        head, idempotent = method == "HEAD", is_idempotent(method)
        while True:
            outcome.attempts += 1
            attempt_started = perf_counter()
            try:
                if request.auth is None:
                    response = await self.http.send(
                        origin,
                        request.raw,
                        step.timeout,
                        head=head,
                        idempotent=idempotent,
                        limit=step.max_response_bytes,
                    )
                else:  # the credentials added now (so never captured); a 401 refreshes a token once
                    call = request.call(step.timeout, step.max_response_bytes)
                    response = await auth_port.send(self.http, self.auth, request.auth, call)
            except HttpError as exc:
                stats.error_kinds[exc.kind] += 1
                if exc.truncated:
                    stats.truncated += 1
                outcome.status, outcome.error = journey.TRANSPORT_ERROR, f"{exc.kind}: {exc}"
                outcome.truncated = exc.truncated
                view = journey.ResponseView(journey.TRANSPORT_ERROR, [], b"")
                self._alert(
                    f"http.{exc.kind}",
                    f"step {step.id!r} to {origin.host_header} failed: {exc}",
                    {"step": step.id, "baseUrl": self.base_url},
                )
            else:
                elapsed = perf_counter() - attempt_started
                stats.latency.record(elapsed)
                self._step_latency[step.index].record(elapsed)
                stats.statuses[response.status] += 1
                if response.truncated:
                    stats.truncated += 1
                outcome.status, outcome.error, outcome.truncated = response.status, None, response.truncated
                view = journey.ResponseView(response.status, response.headers, response.body, response.body_bytes)
            if outcome.attempts >= retry.max_attempts or not retry.matches(outcome.status):
                break
            self.counters.retries += 1
            await asyncio.sleep(retry.backoff_seconds(outcome.attempts))
        outcome.duration_ms = (perf_counter() - started) * 1000
        return view

    def _capture(
        self,
        step: Step,
        outcome: journey.StepOutcome,
        response: journey.ResponseView,
        journey_id: str,
        budget: capture.JourneyBudget,
        request: Request,
        captures: _Captures,
    ) -> None:
        """Build the step's capture and queue it for the journey's batch (``debug_ref`` names its key)."""
        deps = self.deps
        prepared = capture.prepare(
            capture.CaptureInput(
                swarm=deps.swarm,
                role=deps.role,
                instance=deps.instance,
                journey_id=journey_id,
                step_index=step.index,
                step_id=step.id,
                service_id=step.service_id,
                call_id=step.call_id,
                status=outcome.status,
                attempts=outcome.attempts,
                duration_ms=outcome.duration_ms,
                captured_at=now(),
                method=request.method,
                url=request.url,
                request_headers=request.headers,
                request_body=request.body,
                response_headers=response.headers if outcome.status != journey.TRANSPORT_ERROR else None,
                response_body=response.body,
                response_bytes=response.body_bytes,
                error=outcome.error,
            ),
            self.policy,
            budget,
        )
        if isinstance(prepared, capture.Pending):
            outcome.debug_ref = prepared.key
            captures.append((outcome, prepared))
        else:
            outcome.debug_skipped = prepared.skipped
            self.counters.captures_skipped += 1

    async def _write_captures(self, captures: _Captures, journey_id: str) -> None:
        counters = self.counters
        assert self._store is not None  # checked when the config was applied
        error = await capture.write_batch(self._store, [pending for _, pending in captures], self.policy)
        if error is None:
            counters.captures_written += len(captures)
            return
        counters.capture_errors += len(captures)
        reason = capture.failed_write(error)
        for outcome, _ in captures:
            outcome.debug_ref, outcome.debug_skipped = None, reason
        self._alert(
            "debug.capture-failed",
            f"could not write the {len(captures)} debug capture(s) of journey {journey_id}: "
            f"{type(error).__name__}: {error}",
            {"journeyId": journey_id, "steps": [outcome.step_id for outcome, _ in captures]},
        )

    def _result(
        self,
        item: WorkItem | None,
        journey_id: str,
        done: list[tuple[journey.StepOutcome, str]],
        failed: journey.StepOutcome | None,
    ) -> WorkItem:
        deps = self.deps
        result = item
        if result is None:
            result = new_item(
                "{}", swarm=deps.swarm, service=deps.role, instance=deps.instance, headers={"correlationId": journey_id}
            )
        for outcome, payload in done:  # headers only now: the captures' batch may have changed debug-ref
            result = result.with_step(payload, service=deps.role, instance=deps.instance, headers=outcome.headers())
        extra: dict[str, Any] = {}
        if self.config.vars:
            extra["vars"] = self.config.vars
        if failed is not None:
            extra["x-ph-error"] = "transport" if failed.status == journey.TRANSPORT_ERROR else "non2xx"
        if extra:
            result.headers = {**result.headers, **extra}
        return result

    def context(self) -> dict[str, Any]:
        return {
            "baseUrl": self.base_url,
            "threadCount": self.config.threadCount,
            "steps": len(self.steps),
            "debugCapture": self.policy.mode,
            **self.counters.snapshot(),
        }


def build(config: CommonConfig, wiring: Wiring) -> Role:
    assert isinstance(config, HttpSequenceConfig)  # the registry pairs this factory with its config model
    uploader = config.interceptors.redisUploader  # an AFTER uploader pushes the result: build it
    after = uploader is not None and uploader.enabled and uploader.phase == "AFTER"
    previous = wiring.previous  # its counters outlive a config
    return HttpSequence(
        config,
        wiring.deps,
        alert=wiring.alert,
        store=wiring.store,
        forward_results=wiring.forwards or after,
        counters=previous.counters if isinstance(previous, HttpSequence) else None,
    )


def _threads(config: CommonConfig) -> int:
    assert isinstance(config, HttpSequenceConfig)
    return config.threadCount


def _http(config: CommonConfig, forwards: bool) -> HttpSettings:
    assert isinstance(config, HttpSequenceConfig)
    # Response headers always: extracts and captures read them whether or not results go on.
    return HttpSettings(ssl_verify=config.sslVerify, keep_alive=config.keepAlive, collect_headers=True)


KIND = RoleKind(build, concurrency=_threads, http=_http)
