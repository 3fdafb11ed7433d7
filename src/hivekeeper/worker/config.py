"""Role configuration models: what a worker accepts in its bootstrap config and in config-updates.

Keys keep PocketHive's names (camelCase) so its scenarios translate directly. Unknown keys are
errors (a typo must not silently fall back to a default), and every error names the key, the value
and what would be accepted. Swarm-level ``vars``, ``sut`` and ``templates`` are part of each role's
config so that one config-update carries everything a worker renders with.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from hivekeeper.api.manifests import field_path
from hivekeeper.api.swarm import HttpTemplate, Sut


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SchedulerInput(_Model):
    """Items at a fixed rate (the generator's clock)."""

    ratePerSec: float = Field(default=1.0, ge=0, description="Items per second (fractions carry over).")
    maxMessages: int = Field(default=0, ge=0, description="Stop after this many items; 0 = no limit.")
    reset: bool = Field(default=False, description="Restart the maxMessages count when applied.")


class RabbitInput(_Model):
    prefetch: int | None = Field(
        default=None, ge=1, le=10000, description="Broker prefetch; defaults to the role's concurrency."
    )


class Inputs(_Model):
    """Where work comes from. `type` is fixed once the worker runs; rates are live."""

    type: Literal["SCHEDULER", "RABBITMQ"] | None = Field(
        default=None, description="SCHEDULER (a clock) or RABBITMQ (the role's work.in queue)."
    )
    scheduler: SchedulerInput = Field(default_factory=SchedulerInput)
    rabbitmq: RabbitInput = Field(default_factory=RabbitInput)


class Outputs(_Model):
    """Where results go: the role's work.out queue (RABBITMQ) or nowhere (NONE)."""

    type: Literal["RABBITMQ", "NONE"] | None = Field(
        default=None, description="Defaults to RABBITMQ when the role has work.out, else NONE."
    )


class Templating(_Model):
    reseed: bool = Field(default=False, description="Restart every pickWeightedSeeded stream when applied.")


class CommonConfig(_Model):
    """Keys every role understands."""

    inputs: Inputs = Field(default_factory=Inputs)
    outputs: Outputs = Field(default_factory=Outputs)
    vars: dict[str, Any] = Field(default_factory=dict)
    sut: Sut = Field(default_factory=Sut)
    templates: list[HttpTemplate] = Field(default_factory=list)
    templating: Templating = Field(default_factory=Templating)


class Message(_Model):
    """What the generator renders for each item."""

    bodyType: Literal["SIMPLE", "HTTP"] = Field(
        default="SIMPLE", description="SIMPLE: the body is the payload; HTTP: an http.request envelope."
    )
    body: str = Field(default="", description="Body template.")
    headers: dict[str, str] = Field(
        default_factory=dict, description="Header templates; merged into the item headers (SIMPLE)."
    )
    path: str = Field(default="/", description="Path template (HTTP only).")
    method: str = Field(default="GET", description="Method (HTTP only).")


class GeneratorConfig(CommonConfig):
    message: Message = Field(default_factory=Message)


class RequestBuilderConfig(CommonConfig):
    serviceId: str = Field(default="default", min_length=1, description="Default serviceId of call ids.")
    templateRoot: str | None = Field(default=None, description="Directory of *.yaml/*.json templates.")
    passThroughOnMissingTemplate: bool = Field(
        default=False, description="Forward items whose call id has no template (else drop, count, alert)."
    )


class DirectRequest(_Model):
    """The request a processor renders itself when its input is SCHEDULER (no broker hop)."""

    method: str = "GET"
    path: str = "/"
    headers: dict[str, str] = Field(default_factory=dict)
    body: str | None = None


class ProcessorConfig(CommonConfig):
    baseUrl: str = Field(default="", description="http(s) base URL; a template may use `sut.endpoints.*`.")
    mode: Literal["THREAD_COUNT", "RATE_PER_SEC"] = Field(default="THREAD_COUNT")
    threadCount: int = Field(default=32, ge=1, le=10000, description="Maximum requests in flight.")
    ratePerSec: float = Field(default=0.0, ge=0, description="Request rate in RATE_PER_SEC mode (> 0).")
    timeoutMs: int = Field(default=30000, ge=1, le=600000, description="Whole-request timeout (enforced).")
    keepAlive: bool = True
    sslVerify: bool = Field(default=True, description="Verify TLS certificates (set false only for tests).")
    correlationHeader: str = Field(default="X-Correlation-Id", description="Header carrying correlationId.")
    request: DirectRequest = Field(default_factory=DirectRequest)

    @model_validator(mode="after")
    def _rate_mode(self) -> ProcessorConfig:
        if self.mode == "RATE_PER_SEC" and self.ratePerSec <= 0:
            raise ValueError("mode RATE_PER_SEC needs ratePerSec > 0; set ratePerSec or use mode THREAD_COUNT")
        return self


class PostprocessorConfig(CommonConfig):
    forwardToOutput: bool = Field(default=False, description="Also publish items to work.out.")


CONFIG_MODELS: dict[str, type[CommonConfig]] = {
    "generator": GeneratorConfig,
    "request-builder": RequestBuilderConfig,
    "processor": ProcessorConfig,
    "postprocessor": PostprocessorConfig,
}

DEFAULT_INPUT = {"generator": "SCHEDULER"}
"""Inputs default to RABBITMQ except for these roles."""


class ConfigError(ValueError):
    """A config was rejected; ``problems`` lists ``(path, message)`` pairs."""

    def __init__(self, role: str, problems: list[tuple[str, str]]) -> None:
        self.problems = problems
        text = "; ".join(f"{path}: {message}" for path, message in problems)
        super().__init__(f"{role} config rejected: {text}")


def validate(role: str, raw: dict[str, Any]) -> CommonConfig:
    """Build the typed config of ``role`` or raise :class:`ConfigError` naming each problem."""
    model = CONFIG_MODELS.get(role)
    if model is None:
        raise ConfigError(role, [("role", f"unknown role {role!r}; built-in roles: {', '.join(CONFIG_MODELS)}")])
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            value = err.get("input")
            shown = "" if isinstance(value, dict | list) else f" (got {value!r})"
            message = err["msg"]
            if err["type"] == "extra_forbidden":
                message = f"unknown key for role {role}; check the spelling (keys are camelCase)"
            problems.append((field_path(err["loc"]) or "(root)", f"{message}{shown}"))
        raise ConfigError(role, problems) from exc
