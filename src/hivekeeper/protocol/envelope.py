"""The control-plane envelope (PocketHive's control envelope v1 shape, docs/architecture.md §9).

Signals, outcomes, metrics and alerts share one envelope of exactly PocketHive's keys, so that tools
speaking that protocol read our traffic. Every field is always serialised (``null`` where it does not
apply) so that readers never guess whether a key is missing or empty, with one exception that protocol
makes: ``runtime`` belongs to outcomes, metrics and alerts only, so a signal carries no ``runtime`` key
at all (not even ``null``). Anything of ours that protocol has no key for travels in ``data.context``;
the operator's signature of a signal travels beside the body, in an AMQP header
(:mod:`hivekeeper.protocol.signing`).
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, model_validator

from hivekeeper.errors import InvalidInput
from hivekeeper.protocol import decoding

Kind = Literal["signal", "outcome", "metric", "event"]
OutcomeStatus = Literal["Applied", "Failed"]
AlertLevel = Literal["info", "warning", "error", "critical"]


class Scope(BaseModel):
    """Who a message is about. Never null; ``ALL`` is the fan-out value of each segment."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    swarmId: str = Field(min_length=1, description="Swarm id: `<namespace>_<name>` in a cluster.")
    role: str = Field(min_length=1, description="Role name within the swarm, or `ALL`.")
    instance: str = Field(min_length=1, description="Instance (pod) name, or `ALL`.")


class Envelope(BaseModel):
    """One control-plane message: a signal, an outcome, a metric or an alert (kind ``event``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    timestamp: str = Field(description="RFC 3339 UTC time the message was created.")
    version: Literal["1"] = "1"
    kind: Kind
    type: str = Field(min_length=1, description="Signal, outcome, metric or alert type.")
    origin: str = Field(min_length=1, description="Who sent it: `operator`, `cli`, or the instance name.")
    scope: Scope
    correlationId: str | None = Field(
        description="New per attempt; set on signals and echoed on their outcome; null on metrics/alerts."
    )
    idempotencyKey: str | None = Field(description="Stable per user action across retries.")
    data: dict[str, Any] = Field(default_factory=dict)
    runtime: dict[str, Any] | None = Field(
        default=None,
        description=(
            "`templateId`, `runId`, ... on outcomes, metrics and alerts of a swarm; a signal has no `runtime` key."
        ),
    )

    @model_validator(mode="after")
    def _signals_carry_no_runtime(self) -> Envelope:
        if self.kind == "signal" and self.runtime is not None:
            raise ValueError("runtime: a signal carries no runtime (only outcomes, metrics and alerts do); drop it")
        return self

    def to_json(self) -> bytes:
        """The wire form: every key, ``null`` included, except ``runtime`` on signals (they have none)."""
        return orjson.dumps(self.model_dump(mode="json", exclude={"runtime"} if self.kind == "signal" else None))


class EnvelopeError(InvalidInput, ValueError):
    """A control message could not be read; the message says what was wrong with it."""


def now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def new_id() -> str:
    return str(uuid.uuid4())


def parse(body: bytes) -> Envelope:
    """Read a Envelope from JSON bytes, or raise :class:`EnvelopeError` naming the problem."""
    return decoding.decode(body, Envelope, "control message", EnvelopeError)


def signal(
    type_: str,
    scope: Scope,
    data: dict[str, Any],
    *,
    origin: str,
    idempotency_key: str | None = None,
    correlation_id: str | None = None,
) -> Envelope:
    return Envelope(
        timestamp=now(),
        kind="signal",
        type=type_,
        origin=origin,
        scope=scope,
        correlationId=correlation_id or new_id(),
        idempotencyKey=idempotency_key or new_id(),
        data=data,
    )


def outcome(
    answering: Envelope,
    status: OutcomeStatus,
    scope: Scope,
    *,
    origin: str,
    context: dict[str, Any] | None = None,
    retryable: bool = False,
    runtime: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
) -> Envelope:
    """The single answer to a signal, echoing its ``correlationId`` and ``idempotencyKey``."""
    data: dict[str, Any] = {"status": status, "retryable": retryable, "context": context or {}}
    data.update(extra or {})
    return Envelope(
        timestamp=now(),
        kind="outcome",
        type=answering.type,
        origin=origin,
        scope=scope,
        correlationId=answering.correlationId or new_id(),
        idempotencyKey=answering.idempotencyKey,
        data=data,
        runtime=runtime,
    )


def metric(
    type_: str, scope: Scope, data: dict[str, Any], *, origin: str, runtime: dict[str, Any] | None = None
) -> Envelope:
    return Envelope(
        timestamp=now(),
        kind="metric",
        type=type_,
        origin=origin,
        scope=scope,
        correlationId=None,
        idempotencyKey=None,
        data=data,
        runtime=runtime,
    )


def alert(
    code: str,
    message: str,
    scope: Scope,
    *,
    origin: str,
    level: AlertLevel = "error",
    context: dict[str, Any] | None = None,
    runtime: dict[str, Any] | None = None,
) -> Envelope:
    data = {"level": level, "code": code, "message": message, "context": context or {}}
    return Envelope(
        timestamp=now(),
        kind="event",
        type="alert",
        origin=origin,
        scope=scope,
        correlationId=None,
        idempotencyKey=None,
        data=data,
        runtime=runtime,
    )
