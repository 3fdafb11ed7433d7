"""Debug capture of http-sequence steps: which steps, how much of them, and under which key.

A capture is one JSON document per step, written with ``SETEX`` through the worker's
:class:`~hivekeeper.worker.ports.DataStore` (Redis in a cluster, the in-memory twin locally) so
that it disappears by itself after ``redisTtlSeconds``. A journey's captures are written together
when it ends, pipelined in one round trip by :func:`write_batch`, the one call that touches the
store (per-command client overhead, not Redis, is what capture costs). Everything else here is
pure: the decision (``mode``, ``samplePct`` drawn per step), the per-journey byte budget, truncation
of bodies to ``maxBodyBytes``, header redaction, the record and its key. ``hivekeeper debug`` reads
the keys back (``local/debug_cli.py``).

Key: ``hivekeeper:debug:<swarm>:<role>:<instance>:<journeyId>:<stepIndex>``; the journey id is the
item's ``correlationId``.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from hivekeeper.api.roles.http_sequence.capture import DebugCapture
from hivekeeper.protocol import redaction
from hivekeeper.worker.ports import DataStore

KEY_PREFIX = "hivekeeper:debug:"
REDACTED = "[redacted]"


def capture_key(swarm: str, role: str, instance: str, journey_id: str, step_index: int) -> str:
    return f"{KEY_PREFIX}{swarm}:{role}:{instance}:{journey_id}:{step_index}"


def swarm_prefix(swarm: str, role: str | None = None) -> str:
    """The key prefix of every capture of a swarm (of one role, when given)."""
    return f"{KEY_PREFIX}{swarm}:{role}:" if role else f"{KEY_PREFIX}{swarm}:"


@dataclass(frozen=True)
class CapturePolicy:
    """``debugCapture`` compiled once per config."""

    mode: str = "ERROR_ONLY"
    sample_pct: float = 0.0
    max_body_bytes: int = 262144
    max_journey_bytes: int = 1048576
    include_headers: bool = True
    include_request: bool = False
    ttl_seconds: int = 120
    redact: frozenset[str] = frozenset()
    """Lower-cased header names whose values are replaced by ``[redacted]``."""

    @classmethod
    def build(
        cls,
        *,
        mode: str,
        sample_pct: float,
        max_body_bytes: int,
        max_journey_bytes: int,
        include_headers: bool,
        include_request: bool,
        ttl_seconds: int,
        redact: Iterable[str],
    ) -> CapturePolicy:
        return cls(
            mode=mode,
            sample_pct=sample_pct,
            max_body_bytes=max_body_bytes,
            max_journey_bytes=max_journey_bytes,
            include_headers=include_headers,
            include_request=include_request,
            ttl_seconds=ttl_seconds,
            redact=frozenset(name.strip().lower() for name in redact),
        )

    @classmethod
    def of(cls, config: DebugCapture) -> CapturePolicy:
        return cls.build(
            mode=config.mode,
            sample_pct=config.samplePct,
            max_body_bytes=config.maxBodyBytes,
            max_journey_bytes=config.maxJourneyBytes,
            include_headers=config.includeHeaders,
            include_request=config.includeRequest,
            ttl_seconds=config.redisTtlSeconds,
            redact=config.redactHeaders,
        )

    @property
    def active(self) -> bool:
        return self.mode != "NONE"

    def wants(self, ok: bool, draw: Callable[[], float] = random.random) -> bool:
        """Whether a step that ended ``ok`` (2xx) is captured: NONE never, ALWAYS always,
        ERROR_ONLY when it failed (non-2xx or transport error), SAMPLE with probability ``samplePct``
        drawn for each step (errors included)."""
        mode = self.mode
        if mode == "ALWAYS":
            return True
        if mode == "ERROR_ONLY":
            return not ok
        if mode == "SAMPLE":
            return self.sample_pct > 0 and draw() < self.sample_pct
        return False


class JourneyBudget:
    """Bytes of capture one journey may write. A capture that would exceed it is refused, and so is
    every later one of that journey (the step metadata says why)."""

    __slots__ = ("exhausted", "limit", "used")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0
        self.exhausted = False

    def admit(self, size: int) -> bool:
        if self.exhausted or self.used + size > self.limit:
            self.exhausted = True
            return False
        self.used += size
        return True

    def reason(self) -> str:
        return f"journey capture budget of {self.limit} bytes (maxJourneyBytes) used up"


def truncate(body: bytes, limit: int) -> tuple[str, bool]:
    """``body`` as text, cut to at most ``limit`` bytes without splitting a UTF-8 character;
    invalid UTF-8 is replaced (U+FFFD). Returns the text and whether anything was cut."""
    if len(body) <= limit:
        return body.decode("utf-8", "replace"), False
    cut = body[:limit]
    # Step back over a multi-byte character the limit cut in half (at most 3 continuation bytes).
    for back in range(1, min(4, len(cut)) + 1):
        byte = cut[-back]
        if byte & 0xC0 != 0x80:  # a lead or ASCII byte: is its character complete?
            needed = 1 if byte < 0x80 else 2 if byte >> 5 == 0b110 else 3 if byte >> 4 == 0b1110 else 4
            if needed > back and byte >= 0xC0:
                cut = cut[:-back]
            break
    return cut.decode("utf-8", "replace"), True


def redact(headers: Mapping[str, Any], names: frozenset[str]) -> dict[str, Any]:
    """``headers`` with every secret-named header redacted (``protocol.redaction``: the defaults, the names in
    ``HIVEKEEPER_REDACT``, and ``names``); a header with several values keeps its shape."""
    return redaction.redact_headers(headers, names)


def redact_body(body: str, names: frozenset[str]) -> str:
    """A captured body with secret-named fields hidden: a JSON document field by field, anything else (a form,
    text) by ``name=value`` / ``name: value`` pairs. A login response's token never reaches Redis."""
    if body[:1] in ("{", "["):
        try:
            document = orjson.loads(body)
        except orjson.JSONDecodeError:
            return redaction.redact_text(body, names)  # cut by maxBodyBytes: not JSON any more
        hidden = redaction.redact_tree(document, names)
        return orjson.dumps(hidden).decode() if hidden != document else body
    return redaction.redact_text(body, names)


@dataclass
class CaptureInput:
    """What the role knows about one step when it decides to capture it."""

    swarm: str
    role: str
    instance: str
    journey_id: str
    step_index: int
    step_id: str
    service_id: str
    call_id: str
    status: int
    attempts: int
    duration_ms: float
    captured_at: str
    method: str
    url: str
    request_headers: Mapping[str, str]
    request_body: str | None
    response_headers: Mapping[str, list[str]] | None
    """``None`` when no response arrived (transport error)."""
    response_body: bytes
    """The bytes kept (at most maxResponseBytes)."""
    response_bytes: int | None = None
    """Body bytes the server sent, when more than ``response_body`` may have been (``None``: all of them)."""
    error: str | None = None


def record(step: CaptureInput, policy: CapturePolicy) -> dict[str, Any]:
    """The capture document of one step (bodies truncated, headers redacted or left out)."""
    doc: dict[str, Any] = {
        "swarm": step.swarm,
        "role": step.role,
        "instance": step.instance,
        "journeyId": step.journey_id,
        "stepIndex": step.step_index,
        "stepId": step.step_id,
        "serviceId": step.service_id,
        "callId": step.call_id,
        "status": step.status,
        "attempts": step.attempts,
        "durationMs": round(step.duration_ms, 3),
        "capturedAt": step.captured_at,
    }
    if step.error is not None:
        doc["error"] = step.error
    if policy.include_request:
        request: dict[str, Any] = {"method": step.method, "url": step.url}
        if policy.include_headers:
            request["headers"] = redact(step.request_headers, policy.redact)
        if step.request_body is not None:
            body, cut = truncate(step.request_body.encode(), policy.max_body_bytes)
            request["body"] = redact_body(body, policy.redact)
            request["bodyTruncated"] = cut
        doc["request"] = request
    if step.response_headers is None:
        doc["response"] = None
    else:
        body, cut = truncate(step.response_body, policy.max_body_bytes)
        sent = len(step.response_body) if step.response_bytes is None else step.response_bytes
        response: dict[str, Any] = {
            "body": redact_body(body, policy.redact),
            "bodyBytes": sent,
            "truncated": cut or sent > len(step.response_body),
        }
        if response["truncated"]:  # which bounds cut it: the step's response limit, the capture's own
            bounds = ["maxResponseBytes"] if sent > len(step.response_body) else []
            response["truncatedBy"] = [*bounds, "debugCapture.maxBodyBytes"] if cut else bounds
        if policy.include_headers:
            response["headers"] = redact(step.response_headers, policy.redact)
        doc["response"] = response
    return doc


def encode(doc: dict[str, Any]) -> bytes:
    return orjson.dumps(doc)


@dataclass(frozen=True)
class Written:
    """What became of one capture: written under ``key``, or skipped (``skipped`` says why)."""

    key: str | None = None
    skipped: str | None = None
    error: Exception | None = None
    """The store's failure, when the write was attempted and failed."""


@dataclass(frozen=True)
class Pending:
    """A capture admitted to the journey's budget, to be written under ``key`` with the journey's batch."""

    key: str
    data: bytes


def prepare(step: CaptureInput, policy: CapturePolicy, budget: JourneyBudget) -> Pending | Written:
    """The capture of ``step`` if the journey's ``budget`` admits it, else why it is skipped."""
    if budget.exhausted:
        return Written(skipped=budget.reason())
    data = encode(record(step, policy))
    if not budget.admit(len(data)):
        return Written(skipped=budget.reason())
    return Pending(capture_key(step.swarm, step.role, step.instance, step.journey_id, step.step_index), data)


async def write_batch(store: DataStore, pending: list[Pending], policy: CapturePolicy) -> Exception | None:
    """Write a journey's captures in one round trip (SETEX each, pipelined); a store failure is
    returned, never raised (a capture must not fail the journey it describes)."""
    if not pending:
        return None
    try:
        await store.setex_many([(p.key, p.data) for p in pending], policy.ttl_seconds)
    except Exception as exc:  # the store is down or refuses: report it, do not raise
        return exc
    return None


def failed_write(error: Exception) -> str:
    """The ``debug-skipped`` reason of a capture whose write failed."""
    return f"capture write failed: {type(error).__name__}"
