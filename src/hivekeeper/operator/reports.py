"""The data of the worker events the operator reads, typed: status reports and config-update outcomes.

Anyone holding a broker credential can publish events, so these models are strict where a value is
used as a number (a generation or a count must be a number, not text or a boolean) and forgiving where a
bad value costs nothing (an unreadable latency summary is no summary; long texts are cut). A latency
histogram is merged with the other instances', so it is checked whole against its bounds
(:mod:`hivekeeper.protocol.latency`): a malformed or oversized one makes the event malformed. A body that
does not fit raises ``ValueError`` (pydantic's ``ValidationError``) or ``TypeError``/``OverflowError``;
:class:`~hivekeeper.operator.observations.Observations` turns those into ``MalformedEvent``.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from hivekeeper.protocol.latency import LatencyReport

IO_TEXT_LIMIT = 64
REASON_LIMIT = 1024
MAX_CODES = 64
"""Status codes kept per report: HTTP has fewer than 64 in use; more is someone flooding the operator."""


def _number(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"must be a number, got {type(value).__name__}")
    return int(value)  # OverflowError for inf, ValueError for nan: both malformed


def _rate(value: object) -> float:
    """A rate: a finite number of at least 0 (a negative, infinite or non-numeric rate makes the event malformed)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"must be a number, got {type(value).__name__}")
    if not 0 <= value < float("inf"):
        raise ValueError(f"must be a finite number of at least 0, got {value!r}")
    return float(value)


Number = Annotated[int, BeforeValidator(_number)]
Rate = Annotated[float, BeforeValidator(_rate)]
Truthy = Annotated[bool, BeforeValidator(bool)]
IoText = Annotated[str, BeforeValidator(lambda v: str(v)[:IO_TEXT_LIMIT])]


def _latency(summary: object) -> tuple[float, float, float] | None:
    """(p50, p95, p99) from a worker's ``context.latencyMs``, or None when it has none (or a malformed one)."""
    if not isinstance(summary, dict):
        return None
    try:
        return (float(summary["p50"]), float(summary["p95"]), float(summary["p99"]))
    except (KeyError, TypeError, ValueError):
        return None


class _Event(BaseModel):
    model_config = ConfigDict(extra="ignore")


class WorkState(_Event):
    input: IoText = "unknown"
    output: IoText = "unknown"


class IoState(_Event):
    work: WorkState | None = None


def _codes(value: object) -> dict[str, int]:
    """HTTP answers by status code: a mapping of at most :data:`MAX_CODES` short keys to counts."""
    if not isinstance(value, dict):
        raise TypeError(f"statusCodes must be an object, got {type(value).__name__}")
    if len(value) > MAX_CODES:
        raise ValueError(f"statusCodes holds {len(value)} codes, more than {MAX_CODES}")
    return {str(code)[:8]: _number(n) for code, n in value.items()}


MAX_KINDS = 64
"""Error kinds and business codes kept per report (a worker keeps 32 plus "(other)"); more is a malformed event."""
MAX_DIMENSIONS = 8
KEY_LIMIT = 64


def _counts(value: object) -> dict[str, int]:
    """Counts by key (error kinds, business codes, a dimension's values): at most :data:`MAX_KINDS` keys, each cut to
    :data:`KEY_LIMIT` characters."""
    if not isinstance(value, dict):
        raise TypeError(f"must be an object of counts, got {type(value).__name__}")
    if len(value) > MAX_KINDS:
        raise ValueError(f"holds {len(value)} keys, more than {MAX_KINDS}")
    return {str(key)[:KEY_LIMIT]: _number(n) for key, n in value.items()}


def _dimensions(value: object) -> dict[str, dict[str, int]]:
    """``{dimension: {value: count}}``: at most :data:`MAX_DIMENSIONS` dimensions of bounded counts."""
    if not isinstance(value, dict):
        raise TypeError(f"dimensions must be an object, got {type(value).__name__}")
    if len(value) > MAX_DIMENSIONS:
        raise ValueError(f"dimensions holds {len(value)} names, more than {MAX_DIMENSIONS}")
    return {str(name)[:KEY_LIMIT]: _counts(counts) for name, counts in value.items()}


Counts = Annotated[dict[str, int], BeforeValidator(_counts)]


def _object_or_none(value: object) -> object:
    return value if isinstance(value, dict) else None


class PublishedCounts(_Event):
    """``context.workOut``: what a worker's RabbitMQ output sent since it started (batches, decision 0013)."""

    messages: Number = 0
    items: Number = 0


class StatusContext(_Event):
    """A status report's ``data.context``: where everything of ours that the protocol has no key for lives."""

    configGeneration: Number | None = None
    """Absent in a PocketHive worker's report: the generation the last report (or outcome) said stays."""
    processedPerSec: Rate | None = None
    """The exact rate that ``data.tps`` rounds to a whole number."""
    errors: Number = 0
    processed: Number = 0
    dropped: Number = 0
    statusCodes: Annotated[dict[str, int], BeforeValidator(_codes)] = Field(default_factory=dict)
    latencyMs: Annotated[tuple[float, float, float] | None, BeforeValidator(_latency)] = None
    latencyHistogram: LatencyReport | None = None
    errorKinds: Counts = Field(default_factory=dict)
    businessCodes: Counts = Field(default_factory=dict)
    dimensions: Annotated[dict[str, dict[str, int]], BeforeValidator(_dimensions)] = Field(default_factory=dict)
    workOut: Annotated[PublishedCounts | None, BeforeValidator(_object_or_none)] = None
    """Absent for a worker without a RabbitMQ output, or one that sent nothing yet; anything but an object (another
    runtime's key of that name) is ignored rather than making the whole report malformed."""


class StatusData(_Event):
    """The data of a ``status-full`` or ``status-delta`` metric."""

    enabled: Truthy = False
    tps: Rate = 0.0
    ioState: IoState | None = None
    context: StatusContext | None = None

    @property
    def rate(self) -> float:
        """Items per second: the context's exact rate, else the protocol's whole-number ``tps``."""
        exact = self.details.processedPerSec
        return exact if exact is not None else self.tps

    @property
    def work(self) -> WorkState:
        return (self.ioState.work if self.ioState is not None else None) or WorkState()

    @property
    def details(self) -> StatusContext:
        return self.context or StatusContext()


def _text(value: object) -> str | None:
    """A reason as text, cut to :data:`REASON_LIMIT`; an object's ``message`` when it has one."""
    if value is None:
        return None
    if isinstance(value, dict) and "message" in value:
        value = value["message"]
    return str(value)[:REASON_LIMIT]


Reason = Annotated[str | None, BeforeValidator(_text)]


class OutcomeContext(_Event):
    reason: Reason = None
    exception: Reason = None
    """Where a PocketHive worker puts why it refused a config."""


def _requested(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


class ConfigOutcome(_Event):
    """The data of a worker's outcome of one ``config-update``."""

    status: object = None
    requestedGeneration: Annotated[int | None, BeforeValidator(_requested)] = None
    """The generation a ``Failed`` outcome refused (ignored when it is not a whole number)."""
    configGeneration: Number | None = None
    """The generation an applied outcome says the worker now runs."""
    enabled: Truthy | None = None
    context: OutcomeContext | None = Field(default=None)

    @property
    def failed(self) -> bool:
        return bool(self.status == "Failed")

    @property
    def reason(self) -> str:
        """Why a worker refused: our workers' ``context.reason``, else a PocketHive worker's ``context.exception``."""
        context = self.context or OutcomeContext()
        return context.reason or context.exception or "no reason given"
