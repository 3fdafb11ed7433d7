"""The http-sequence's config: a journey of ordered HTTP steps, each with retries, extracts and sets."""

from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator, model_validator

from hivekeeper.api.http_limits import DEFAULT_MAX_RESPONSE_BYTES, MAX_RESPONSE_BYTES_HELP, MAX_RESPONSE_BYTES_LIMIT
from hivekeeper.api.roles.base import OptionalText, RoleModel
from hivekeeper.api.roles.common import CommonConfig
from hivekeeper.api.roles.http_sequence.capture import DebugCapture
from hivekeeper.api.roles.http_sequence.checks import check_path, check_token
from hivekeeper.templating import jsonpointer


class Retry(RoleModel):
    """When a step is tried again: up to ``maxAttempts`` while a condition of ``on`` matches."""

    maxAttempts: int = Field(default=1, ge=1, le=100, description="Attempts in all; 1 = no retry.")
    initialBackoffMs: int = Field(default=100, ge=0, le=600000, description="Sleep before the 2nd attempt.")
    backoffMultiplier: float = Field(default=2.0, ge=1.0, le=100.0, description="Growth of the sleep per attempt.")
    maxBackoffMs: int = Field(default=2000, ge=0, le=600000, description="Cap of one sleep.")
    on: list[str] = Field(
        default_factory=lambda: ["exception", "5xx"],
        description="Conditions (case-insensitive): exception, non2xx, 5xx/4xx/..., or exact codes like 429.",
    )

    @model_validator(mode="before")
    @classmethod
    def _yaml_on(cls, data: Any) -> Any:
        # YAML 1.1 (PyYAML, SnakeYAML) reads an unquoted `on:` key as the boolean true (and JSON
        # round trips turn that into "true"): both mean `on` here.
        if isinstance(data, dict) and "on" not in data:
            data = {("on" if key is True or key == "true" else key): value for key, value in data.items()}
        if isinstance(data, dict) and isinstance(data.get("on"), list):  # `on: [5xx, 429]`: 429 is a number
            data = {**data, "on": [str(t) if isinstance(t, int) and not isinstance(t, bool) else t for t in data["on"]]}
        return data

    @field_validator("on")
    @classmethod
    def _tokens(cls, value: list[str]) -> list[str]:
        problems = [p for p in (check_token(t) for t in value) if p]
        if problems:
            raise ValueError("; ".join(problems))
        return [t.strip().lower() for t in value]


class Extract(RoleModel):
    """Copy one value of a step's response into the journey context at ``to``."""

    fromJsonPointer: str | None = Field(default=None, description="RFC 6901 pointer into the JSON body.")
    fromHeader: OptionalText = Field(default=None, min_length=1, description="Response header (case-insensitive).")
    fromStatus: bool = Field(default=False, description="The status code (-1 after a transport error).")
    to: str = Field(min_length=1, description="Dotted context path; missing maps are created.")
    required: bool = Field(default=False, description="Fail the journey (drop the item) when absent.")

    @model_validator(mode="after")
    def _one_source(self) -> Extract:
        sources = [n for n, v in (("fromJsonPointer", self.fromJsonPointer), ("fromHeader", self.fromHeader)) if v]
        sources += ["fromStatus"] if self.fromStatus else []
        if self.fromJsonPointer == "":
            sources.insert(0, "fromJsonPointer")  # "" is the whole document, a valid pointer
        if len(sources) != 1:
            found = ", ".join(sources) or "none"
            raise ValueError(
                f"an extract needs exactly one of fromJsonPointer, fromHeader, fromStatus: true (got {found})"
            )
        if self.fromJsonPointer is not None:
            try:
                jsonpointer.tokens(self.fromJsonPointer)
            except jsonpointer.PointerError as exc:
                raise ValueError(str(exc)) from exc
        if problem := check_path(self.to):
            raise ValueError(f"to: {problem}")
        return self


class SetEntry(RoleModel):
    """Render ``template`` against the journey context and store it at ``to``."""

    to: str = Field(min_length=1, description="Dotted context path.")
    template: str = Field(description="Template; `ctx`/`payload` is the journey context.")
    parseJson: bool = Field(default=False, description="Store the parsed JSON when the result parses.")

    @model_validator(mode="after")
    def _path(self) -> SetEntry:
        if problem := check_path(self.to):
            raise ValueError(f"to: {problem}")
        return self


class Step(RoleModel):
    """One HTTP call of a journey, rendered from the template ``serviceId::callId``."""

    id: OptionalText = Field(default=None, min_length=1, description="Step id; default `step<index>` (from 0).")
    callId: str = Field(min_length=1, description="Template call id (required).")
    serviceId: OptionalText = Field(default=None, min_length=1, description="Overrides the role's serviceId.")
    auth: OptionalText = Field(
        default=None, min_length=1, description="Auth profile (spec.auth) of this step, over its template's."
    )
    continueOnNon2xx: bool = Field(default=False, description="Go on after a non-2xx or a transport error.")
    timeoutMs: int | None = Field(default=None, ge=1, le=600000, description="Per attempt; default the role's.")
    maxResponseBytes: int | None = Field(
        default=None, ge=0, le=MAX_RESPONSE_BYTES_LIMIT, description="Body bytes kept; default the role's."
    )
    retry: Retry = Field(default_factory=Retry)
    extracts: list[Extract] = Field(default_factory=list)
    set: list[SetEntry] = Field(default_factory=list)


class HttpSequenceConfig(CommonConfig):
    """Walks each item through ordered HTTP steps (a journey), carrying values from one step to the next."""

    baseUrl: str = Field(default="", description="http(s) base URL; a template may use `sut.endpoints.*`.")
    serviceId: str = Field(default="default", min_length=1, description="Default serviceId of the steps.")
    threadCount: int = Field(default=32, ge=1, le=10000, description="Journeys in flight.")
    timeoutMs: int = Field(
        default=30000, ge=1, le=600000, description="Deadline of one attempt of a step: connect, reconnect, body."
    )
    maxResponseBytes: int = Field(
        default=DEFAULT_MAX_RESPONSE_BYTES, ge=0, le=MAX_RESPONSE_BYTES_LIMIT, description=MAX_RESPONSE_BYTES_HELP
    )
    keepAlive: bool = True
    sslVerify: bool = Field(default=True, description="Verify TLS certificates (set false only for tests).")
    templateRoot: OptionalText = Field(default=None, description="Directory of *.yaml/*.json templates.")
    steps: list[Step] = Field(min_length=1, description="The calls of a journey, in order.")
    debugCapture: DebugCapture = Field(default_factory=DebugCapture)

    @model_validator(mode="after")
    def _unique_ids(self) -> HttpSequenceConfig:
        seen: dict[str, int] = {}
        for index, step in enumerate(self.steps):
            step_id = step.id or f"step{index}"
            if step_id in seen:
                raise ValueError(
                    f"steps[{index}].id {step_id!r} is already the id of steps[{seen[step_id]}]; step ids must differ"
                )
            seen[step_id] = index
        return self
