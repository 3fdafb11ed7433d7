"""Role configuration models: what a worker accepts in its bootstrap config and in config-updates.

Keys keep PocketHive's names (camelCase) so its scenarios translate directly. Unknown keys are
errors (a typo must not silently fall back to a default), and every error names the key, the value
and what would be accepted. Swarm-level ``vars``, ``sut`` and ``templates`` are part of each role's
config so that one config-update carries everything a worker renders with.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_core import PydanticCustomError

from hivekeeper.api.manifests import field_path
from hivekeeper.api.swarm import DEAD_LETTER_MAX_LENGTH, DEAD_LETTER_MAX_TTL, HttpTemplate, Sut
from hivekeeper.protocol.redaction import got
from hivekeeper.templating import jsonpointer, regex
from hivekeeper.worker import journey
from hivekeeper.worker.http import DEFAULT_MAX_RESPONSE_BYTES


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SchedulerInput(_Model):
    """Items at a fixed rate (the generator's clock)."""

    ratePerSec: float = Field(default=1.0, ge=0, description="Items per second (fractions carry over).")
    maxMessages: int = Field(default=0, ge=0, description="Stop after this many items; 0 = no limit.")
    reset: bool = Field(default=False, description="Restart the maxMessages count when applied.")


MAX_REDELIVERIES = 5
"""Default of ``inputs.rabbitmq.maxRedeliveries``: a few innocent redeliveries (a pod restart, a dropped
connection, a retried publish given back) pass; a loop does not (the issue measured 51 in 40 s)."""


class RabbitInput(_Model):
    prefetch: int | None = Field(
        default=None, ge=1, le=10000, description="Broker prefetch; defaults to the role's concurrency."
    )
    maxRedeliveries: int = Field(
        default=MAX_REDELIVERIES,
        ge=0,
        le=1000,
        description="An item delivered again more than this many times is poison: dead-lettered "
        "(deadLetter.enabled) or dropped, counted and alerted.",
    )


NEEDS_REDIS = (
    "needs Redis: set HIVEKEEPER_REDIS_URL (the redisUrl key of the hivekeeper-broker Secret in a cluster) "
    "or pass `hivekeeper run --redis URL`"
)
"""The fix named when a config uses Redis and the worker has no store."""

_REDIS_CONNECTION_KEYS = ("host", "port", "username", "password", "ssl")


class _RedisBlock(_Model):
    """Redis settings of an input or output. The connection is not one of them: it comes from
    HIVEKEEPER_REDIS_URL (a Secret in a cluster), so credentials never sit in a Swarm or a status."""

    @model_validator(mode="before")
    @classmethod
    def _no_connection_keys(cls, data: Any) -> Any:
        found = [key for key in _REDIS_CONNECTION_KEYS if isinstance(data, dict) and key in data]
        if found:
            # The values are not echoed: one of them may be a password.
            raise PydanticCustomError(
                "redis_connection",
                "{keys}: connection keys are not accepted here; the Redis connection comes from "
                "HIVEKEEPER_REDIS_URL (the redisUrl key of the hivekeeper-broker Secret in a cluster, "
                "`hivekeeper run --redis URL` locally): remove them",
                {"keys": ", ".join(found)},
            )
        return data


def _regex(value: str | None) -> str | None:
    # Routes run on RE2 (linear time, like the template helpers): a pattern it cannot run is refused here.
    if value is not None:
        try:
            regex.compile_pattern("", value)
        except regex.RegexError as exc:
            raise ValueError(str(exc)) from exc
    return value


class RedisSource(_Model):
    """One list of a multi-list dataset."""

    listName: str = Field(min_length=1, description="Redis list to LPOP from.")
    weight: float = Field(default=1.0, gt=0, description="Relative share under WEIGHTED_RANDOM (> 0).")


class RedisDatasetInput(_RedisBlock):
    """REDIS_DATASET: each item is one LPOP'd list element, at a live-adjustable rate."""

    listName: str | None = Field(default=None, min_length=1, description="The one list to read (or use sources).")
    sources: list[RedisSource] | None = Field(default=None, description="Several lists, each with a weight.")
    pickStrategy: Literal["ROUND_ROBIN", "WEIGHTED_RANDOM"] = Field(
        default="ROUND_ROBIN", description="Which list the next item is taken from; an empty one falls through."
    )
    ratePerSec: float = Field(default=1.0, ge=0, description="Items per second (live; fractions carry over).")
    pollIntervalMs: int = Field(
        default=500, ge=50, le=60_000, description="How often empty lists are polled again, in ms."
    )

    @field_validator("sources")
    @classmethod
    def _unique(cls, sources: list[RedisSource] | None) -> list[RedisSource] | None:
        names = [s.listName for s in sources or []]
        if repeated := sorted({n for n in names if names.count(n) > 1}):
            raise ValueError(f"list {', '.join(repeated)} appears more than once; give each list one entry")
        return sources

    @model_validator(mode="after")
    def _one_of(self) -> RedisDatasetInput:
        if self.listName and self.sources:
            raise ValueError("set listName or sources, not both (listName is one list; sources are weighted lists)")
        if not self.listName and not self.sources:
            raise ValueError("set listName (one list) or sources [{listName, weight}] (several lists)")
        return self

    @property
    def lists(self) -> list[str]:
        return [self.listName] if self.listName else [s.listName for s in self.sources or []]

    @property
    def weights(self) -> list[float]:
        return [1.0] if self.listName else [s.weight for s in self.sources or []]


class RedisRoute(_Model):
    """Items whose payload and/or header match go to ``list``; the first matching route wins."""

    match: str | None = Field(default=None, description="Regex searched in the payload being pushed.")
    header: str | None = Field(default=None, min_length=1, description="Header name (needs headerMatch).")
    headerMatch: str | None = Field(default=None, description="Regex searched in that header's value.")
    list: str = Field(default="", description="Target Redis list (required).")

    _check_match = field_validator("match", "headerMatch")(_regex)

    @model_validator(mode="after")
    def _conditions(self) -> RedisRoute:
        if not self.list.strip():
            raise ValueError("a route needs list: the Redis list that matching items are pushed to")
        if self.match is None and self.header is None:
            raise ValueError("a route needs match (payload regex) and/or header with headerMatch")
        if (self.header is None) != (self.headerMatch is None):
            raise ValueError("header and headerMatch go together: name the header and the regex its value must match")
        return self


class RedisPush(_RedisBlock):
    """Push items to Redis lists (``outputs.type: REDIS``): first matching route, else the rendered
    ``targetListTemplate`` when not blank, else ``defaultList``."""

    routes: list[RedisRoute] = Field(default_factory=list, description="Tried in order; the first match wins.")
    targetListTemplate: str = Field(default="", description="Template naming the list when no route matches.")
    defaultList: str = Field(default="", description="The list when no route matches and the template is blank.")
    maxLen: int = Field(default=0, description="Trim each list to this many elements after a push; <= 0 = no limit.")
    pushDirection: Literal["LPUSH", "RPUSH"] = Field(default="RPUSH", description="Push at the head or the tail.")
    sourceStep: Literal["FIRST", "LAST"] = Field(
        default="LAST", description="Push the first step's payload (the original record) or the current one."
    )

    @model_validator(mode="after")
    def _some_target(self) -> RedisPush:
        if not self.routes and not self.targetListTemplate.strip() and not self.defaultList:
            raise ValueError("no target list: set defaultList, routes or targetListTemplate")
        return self


class RedisUploader(RedisPush):
    """A side output: push each item to Redis as well, before or after the role handles it."""

    enabled: bool = Field(default=True, description="False keeps the block but pushes nothing.")
    phase: Literal["BEFORE", "AFTER"] = Field(
        default="AFTER", description="BEFORE pushes the inbound item; AFTER the result (or the inbound item if none)."
    )


class Interceptors(_Model):
    redisUploader: RedisUploader | None = Field(default=None, description="Push items to Redis lists on the side.")


class Inputs(_Model):
    """Where work comes from. `type` is fixed once the worker runs; rates are live."""

    type: Literal["SCHEDULER", "RABBITMQ", "REDIS_DATASET"] | None = Field(
        default=None,
        description="SCHEDULER (a clock), RABBITMQ (the role's work.in queue) or REDIS_DATASET (LPOP from lists).",
    )
    scheduler: SchedulerInput = Field(default_factory=SchedulerInput)
    rabbitmq: RabbitInput = Field(default_factory=RabbitInput)
    redis: RedisDatasetInput | None = Field(default=None, description="The lists of a REDIS_DATASET input.")

    @model_validator(mode="after")
    def _redis_block(self) -> Inputs:
        if self.type == "REDIS_DATASET" and self.redis is None:
            raise ValueError("type REDIS_DATASET needs inputs.redis with listName (or sources)")
        return self


class PublishRetry(_Model):
    """How a result is published again after a transient failure (connection lost, broker blocked, no
    confirm in time); a permanent one (too large, unroutable) is never retried. Then the input goes back."""

    maxAttempts: int = Field(default=5, ge=1, le=100, description="Attempts in all; 1 = no retry.")
    initialBackoffMs: int = Field(default=100, ge=0, le=60000, description="Sleep before the 2nd attempt.")
    backoffMultiplier: float = Field(default=2.0, ge=1.0, le=100.0, description="Growth of the sleep per attempt.")
    maxBackoffMs: int = Field(default=5000, ge=0, le=60000, description="Cap of one sleep.")


class Outputs(_Model):
    """Where results go: the role's work.out queue (RABBITMQ), Redis lists (REDIS) or nowhere (NONE)."""

    type: Literal["RABBITMQ", "NONE", "REDIS"] | None = Field(
        default=None, description="Defaults to RABBITMQ when the role has work.out, else NONE."
    )
    redis: RedisPush | None = Field(default=None, description="Routes and lists of a REDIS output.")
    retry: PublishRetry = Field(default_factory=PublishRetry, description="Retries of a transient publish failure.")

    @model_validator(mode="after")
    def _redis_block(self) -> Outputs:
        if self.type == "REDIS" and self.redis is None:
            raise ValueError("type REDIS needs outputs.redis with defaultList, routes or targetListTemplate")
        return self


class Templating(_Model):
    reseed: bool = Field(default=False, description="Restart every pickWeightedSeeded stream when applied.")


class DeadLetter(_Model):
    """Items this role fails to process go to the swarm's dead-letter queue (opt-in; from spec.deadLetter)."""

    enabled: bool = Field(default=False, description="Publish failed items to hivekeeper.<swarm>.dead-letters.")
    maxLength: int = Field(default=10000, ge=1, le=DEAD_LETTER_MAX_LENGTH, description="Items the queue keeps.")
    ttlSeconds: int = Field(default=3600, ge=1, le=DEAD_LETTER_MAX_TTL, description="Seconds an item is kept.")


class CommonConfig(_Model):
    """Keys every role understands."""

    inputs: Inputs = Field(default_factory=Inputs)
    outputs: Outputs = Field(default_factory=Outputs)
    vars: dict[str, Any] = Field(default_factory=dict)
    sut: Sut = Field(default_factory=Sut)
    templates: list[HttpTemplate] = Field(default_factory=list)
    templating: Templating = Field(default_factory=Templating)
    deadLetter: DeadLetter = Field(default_factory=DeadLetter)
    interceptors: Interceptors = Field(default_factory=Interceptors)


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


MAX_RESPONSE_BYTES_LIMIT = 256 * 1024 * 1024
MAX_RESPONSE_BYTES_HELP = (
    "Response body bytes kept for results, extracts and captures; the rest is read and discarded "
    "(counted as responsesTruncated)."
)


class ProcessorConfig(CommonConfig):
    baseUrl: str = Field(default="", description="http(s) base URL; a template may use `sut.endpoints.*`.")
    mode: Literal["THREAD_COUNT", "RATE_PER_SEC"] = Field(default="THREAD_COUNT")
    threadCount: int = Field(default=32, ge=1, le=10000, description="Maximum requests in flight.")
    ratePerSec: float = Field(default=0.0, ge=0, description="Request rate in RATE_PER_SEC mode (> 0).")
    timeoutMs: int = Field(
        default=30000, ge=1, le=600000, description="One deadline for connect, a reconnect and the whole body."
    )
    maxResponseBytes: int = Field(
        default=DEFAULT_MAX_RESPONSE_BYTES, ge=0, le=MAX_RESPONSE_BYTES_LIMIT, description=MAX_RESPONSE_BYTES_HELP
    )
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


# -- moderator ------------------------------------------------------------------------------------
class SineShape(_Model):
    """A rate that swings between two values: ``mid + amp * sin(2 pi (t + phaseOffsetSeconds) / periodSeconds)``."""

    minRatePerSec: float = Field(default=0.0, ge=0, description="The rate at the trough (items/s, >= 0).")
    maxRatePerSec: float = Field(gt=0, description="The rate at the crest (items/s, > minRatePerSec).")
    periodSeconds: float = Field(default=60.0, gt=0, le=86400, description="One full swing, in seconds.")
    phaseOffsetSeconds: float = Field(default=0.0, description="Shifts the wave in time, in seconds.")

    @model_validator(mode="after")
    def _range(self) -> SineShape:
        if self.maxRatePerSec <= self.minRatePerSec:
            raise ValueError(
                f"maxRatePerSec ({self.maxRatePerSec:g}) must be greater than minRatePerSec "
                f"({self.minRatePerSec:g}); for a steady rate use mode.type rate-per-sec"
            )
        return self


class ModeratorMode(_Model):
    """How the moderator lets items through."""

    type: Literal["pass-through", "rate-per-sec", "sine"] = Field(
        default="pass-through",
        description="pass-through: at once; rate-per-sec: one item per slot at ratePerSec; sine: a swinging rate.",
    )
    ratePerSec: float = Field(default=0.0, ge=0, description="Items per second in rate-per-sec mode (> 0).")
    sine: SineShape | None = Field(default=None, description="The wave in sine mode.")

    @model_validator(mode="after")
    def _complete(self) -> ModeratorMode:
        if self.type == "rate-per-sec" and self.ratePerSec <= 0:
            raise ValueError("mode.type rate-per-sec needs mode.ratePerSec > 0; set it or use pass-through")
        if self.type == "sine" and self.sine is None:
            raise ValueError("mode.type sine needs mode.sine {minRatePerSec, maxRatePerSec, periodSeconds}; add it")
        return self


class ModeratorConfig(CommonConfig):
    """Shapes the flow between two stages: items wait for their slot, then go on unchanged.

    The generator keeps one steady rate; spikes and waves belong here. Items waiting for a slot stay
    bounded by the worker's in-flight limit, so the backlog stays in the broker, where it shows.
    """

    mode: ModeratorMode = Field(default_factory=ModeratorMode)


# -- http-sequence ------------------------------------------------------------------------------
REDACTED_BY_DEFAULT = ("authorization", "proxy-authorization", "cookie", "set-cookie", "x-api-key")


class Retry(_Model):
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
        problems = [p for p in (journey.check_token(t) for t in value) if p]
        if problems:
            raise ValueError("; ".join(problems))
        return [t.strip().lower() for t in value]


class Extract(_Model):
    """Copy one value of a step's response into the journey context at ``to``."""

    fromJsonPointer: str | None = Field(default=None, description="RFC 6901 pointer into the JSON body.")
    fromHeader: str | None = Field(default=None, min_length=1, description="Response header (case-insensitive).")
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
        if problem := journey.check_path(self.to):
            raise ValueError(f"to: {problem}")
        return self


class SetEntry(_Model):
    """Render ``template`` against the journey context and store it at ``to``."""

    to: str = Field(min_length=1, description="Dotted context path.")
    template: str = Field(description="Template; `ctx`/`payload` is the journey context.")
    parseJson: bool = Field(default=False, description="Store the parsed JSON when the result parses.")

    @model_validator(mode="after")
    def _path(self) -> SetEntry:
        if problem := journey.check_path(self.to):
            raise ValueError(f"to: {problem}")
        return self


class Step(_Model):
    """One HTTP call of a journey, rendered from the template ``serviceId::callId``."""

    id: str | None = Field(default=None, min_length=1, description="Step id; default `step<index>` (from 0).")
    callId: str = Field(min_length=1, description="Template call id (required).")
    serviceId: str | None = Field(default=None, min_length=1, description="Overrides the role's serviceId.")
    continueOnNon2xx: bool = Field(default=False, description="Go on after a non-2xx or a transport error.")
    timeoutMs: int | None = Field(default=None, ge=1, le=600000, description="Per attempt; default the role's.")
    maxResponseBytes: int | None = Field(
        default=None, ge=0, le=MAX_RESPONSE_BYTES_LIMIT, description="Body bytes kept; default the role's."
    )
    retry: Retry = Field(default_factory=Retry)
    extracts: list[Extract] = Field(default_factory=list)
    set: list[SetEntry] = Field(default_factory=list)


class DebugCapture(_Model):
    """Full request/response captures of chosen steps, written to Redis keys that expire."""

    mode: Literal["NONE", "ERROR_ONLY", "SAMPLE", "ALWAYS"] = Field(
        default="ERROR_ONLY", description="Which steps: none, non-2xx/transport errors, a sample, all."
    )
    samplePct: float = Field(default=0.0, ge=0.0, le=1.0, description="SAMPLE: share of steps (drawn per step).")
    maxBodyBytes: int = Field(default=262144, ge=0, le=16 * 1024 * 1024, description="Captured body cap.")
    maxJourneyBytes: int = Field(
        default=1048576, ge=0, le=256 * 1024 * 1024, description="Capture budget per journey; later steps skipped."
    )
    includeHeaders: bool = Field(default=True, description="Capture headers (redacted, see redactHeaders).")
    includeRequest: bool = Field(default=False, description="Capture the request too (method, url, headers, body).")
    bodyPreviewBytes: int = Field(
        default=0, ge=0, le=65536, description="Response bytes copied into the step metadata; 0 = none."
    )
    redisTtlSeconds: int = Field(default=120, ge=1, le=86400, description="Lifetime of a capture key.")
    redactHeaders: list[str] = Field(
        default_factory=lambda: list(REDACTED_BY_DEFAULT),
        max_length=256,
        description=(
            "More header and body field names to redact, on top of the rule every place uses (authorization, "
            "cookies, API keys, tokens, passwords, secrets; plus HIVEKEEPER_REDACT): see docs/worker.md."
        ),
    )


class HttpSequenceConfig(CommonConfig):
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
    templateRoot: str | None = Field(default=None, description="Directory of *.yaml/*.json templates.")
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


CONFIG_MODELS: dict[str, type[CommonConfig]] = {
    "generator": GeneratorConfig,
    "request-builder": RequestBuilderConfig,
    "processor": ProcessorConfig,
    "postprocessor": PostprocessorConfig,
    "http-sequence": HttpSequenceConfig,
    "moderator": ModeratorConfig,
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
            shown = got(err["loc"], value)
            message = err["msg"]
            if err["type"] == "extra_forbidden":
                message = f"unknown key for role {role}; check the spelling (keys are camelCase)"
            problems.append((field_path(err["loc"]) or "(root)", f"{message}{shown}"))
        raise ConfigError(role, problems) from exc
