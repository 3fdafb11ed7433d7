"""An http-sequence's steps, compiled once per config: the templates they render and what each step does
with its response (retries, extracts, ``set``); and a rendered request."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from hivekeeper.api.call_template import CallTemplate
from hivekeeper.api.roles import ConfigError
from hivekeeper.api.roles.http_sequence.config import HttpSequenceConfig
from hivekeeper.templating.engine import TemplateEngine
from hivekeeper.worker import auth_port, journey
from hivekeeper.worker.http_port import Origin, is_idempotent
from hivekeeper.worker.roles.templates import auth_problems, load_template_dir, unknown_profile

ROLE = "http-sequence"


@dataclass(frozen=True)
class Step:
    index: int
    id: str
    service_id: str
    call_id: str
    key: str
    timeout: float
    max_response_bytes: int
    retry: journey.RetryPolicy
    extracts: list[journey.ExtractRule]
    sets: list[tuple[str, str, str, bool]]
    """(template name, to, template, parseJson)."""
    continue_on_non2xx: bool
    auth: str | None = None
    """The auth profile the step names, else its template's; None: its endpoint's, if any."""


@dataclass(frozen=True)
class Request:
    origin: Origin
    method: str
    target: str
    headers: dict[str, str]
    """As rendered: the credentials of an auth profile are added only when it is sent (never captured)."""
    body: str | None
    raw: bytes
    auth: str | None = None

    def call(self, timeout: float, limit: int) -> auth_port.Call:
        """The request to send with an auth profile's credentials."""
        body = self.body.encode() if self.body else None
        head, idempotent = self.method == "HEAD", is_idempotent(self.method)
        return auth_port.Call(
            self.origin, self.method, self.target, self.headers, body, timeout, limit, head, idempotent
        )

    @property
    def url(self) -> str:
        return f"{self.origin.scheme}://{self.origin.host_header}{self.target}"


def load_templates(config: HttpSequenceConfig, engine: TemplateEngine) -> dict[str, CallTemplate]:
    """The templates a journey may use, by ``serviceId::callId``; each one's templates compiled (a bad one
    is refused now, not at its first item)."""
    templates = list(config.templates)
    if config.templateRoot:
        templates.extend(load_template_dir(Path(config.templateRoot), ROLE))
    found: dict[str, CallTemplate] = {}
    for t in templates:
        found[t.key] = t
        sources = {f"{t.key} method": t.method, f"{t.key} pathTemplate": t.pathTemplate}
        sources.update({f"{t.key} headersTemplate.{k}": v for k, v in t.headersTemplate.items()})
        if t.bodyTemplate is not None:
            sources[f"{t.key} bodyTemplate"] = t.bodyTemplate
        for name, source in sources.items():
            engine.validate(name, source)
    return found


def compile_steps(config: HttpSequenceConfig, templates: dict[str, CallTemplate], engine: TemplateEngine) -> list[Step]:
    """The configured steps, resolved against ``templates``; every unknown template or auth profile is named
    at once."""
    steps: list[Step] = []
    problems: list[tuple[str, str]] = []
    known = ", ".join(sorted(templates)) or "none (add templates to the swarm or set templateRoot)"
    for index, step in enumerate(config.steps):
        service_id = step.serviceId or config.serviceId
        key = f"{service_id}::{step.callId}"
        if key not in templates:
            problems.append(
                (f"steps[{index}].callId", f"{step.callId!r}: no template {key!r}; known templates: {known}")
            )
            continue
        if templates[key].protocol == "TCP":
            problems.append(
                (
                    f"steps[{index}].callId",
                    f"{step.callId!r}: template {key!r} is protocol: TCP; an http-sequence sends HTTP only (a TCP "
                    "call goes through a request-builder to a processor with a tcp:// baseUrl)",
                )
            )
            continue
        auth = step.auth or templates[key].auth
        inline = any(t.key == key for t in config.templates)  # their profiles: templates.auth_problems
        if auth is not None and auth not in config.auth and (step.auth or not inline):
            where = f"steps[{index}].auth" if step.auth else "templateRoot"
            source = "" if step.auth else f" (of template {key!r})"
            problems.append((where, unknown_profile(auth, source, config.auth)))
        sets = []
        for j, entry in enumerate(step.set):
            name = f"steps[{index}].set[{j}].template"
            engine.validate(name, entry.template)
            sets.append((name, entry.to, entry.template, entry.parseJson))
        retry = step.retry
        steps.append(
            Step(
                index=index,
                id=step.id or f"step{index}",
                service_id=service_id,
                call_id=step.callId,
                key=key,
                timeout=(step.timeoutMs or config.timeoutMs) / 1000.0,
                max_response_bytes=(
                    config.maxResponseBytes if step.maxResponseBytes is None else step.maxResponseBytes
                ),
                retry=journey.RetryPolicy.build(
                    retry.maxAttempts, retry.initialBackoffMs, retry.backoffMultiplier, retry.maxBackoffMs, retry.on
                ),
                extracts=[
                    journey.ExtractRule.of(e.fromJsonPointer, e.fromHeader, e.to, e.required) for e in step.extracts
                ],
                sets=sets,
                continue_on_non2xx=step.continueOnNon2xx,
                auth=auth,
            )
        )
    problems.extend(auth_problems(config))
    if problems:
        raise ConfigError(ROLE, problems)
    return steps
