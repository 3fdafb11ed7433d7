"""The pure parts of an http-sequence journey: the context map, extracts, retries and step metadata.

A journey is one work item walked through ordered HTTP steps. Its *context* is a JSON object that
starts as the inbound payload (``{}`` for anything else) and grows as steps extract values from
responses (``fromJsonPointer`` / ``fromHeader`` / ``fromStatus``) and ``set`` rendered values.
Nothing here does I/O: the role (``roles/http_sequence/``) sends the requests and calls these.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from hivekeeper.api.roles.http_sequence.checks import check_token
from hivekeeper.templating import jsonpointer

TRANSPORT_ERROR = -1
"""The status a step records when no complete response arrived (connect, reset, timeout)."""

META = "x-ph-http-seq-"
"""Prefix of the step metadata headers (PocketHive's names)."""


# -- context ------------------------------------------------------------------------------------
def initial_context(payload: str | None) -> dict[str, Any]:
    """The journey context for an inbound payload: the payload when it is a JSON object, else ``{}``."""
    if not payload or payload[:1] != "{":
        return {}
    try:
        value = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def set_path(context: dict[str, Any], dotted: str, value: Any) -> None:
    """Store ``value`` at ``a.b.c``, creating (or replacing non-object) intermediate maps."""
    *parents, last = dotted.split(".")
    current = context
    for name in parents:
        child = current.get(name)
        if not isinstance(child, dict):
            child = current[name] = {}
        current = child
    current[last] = value


def parse_json_loosely(text: str) -> Any:
    """``set[].parseJson``: the parsed value when ``text`` is JSON, else ``text`` unchanged."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return text


# -- extracts -----------------------------------------------------------------------------------
ABSENT: Any = jsonpointer.MISSING
"""What an extract yields when the response does not carry the value (missing or JSON null)."""


class ResponseView:
    """The parts of the latest response extracts read. Headers are mapped and the body parsed as
    JSON only when an extract (or a capture) asks, and then only once.

    ``body`` is what was kept (at most the step's maxResponseBytes); ``body_bytes`` what the server
    sent. A cut JSON body does not parse, so its pointers find nothing."""

    __slots__ = ("_document", "_headers", "_parsed", "body", "body_bytes", "raw_headers", "status")

    def __init__(
        self, status: int, raw_headers: list[tuple[bytes, bytes]], body: bytes, body_bytes: int | None = None
    ) -> None:
        self.status = status
        self.raw_headers = raw_headers
        self.body = body
        self.body_bytes = len(body) if body_bytes is None else body_bytes
        self._headers: dict[str, list[str]] | None = None
        self._parsed = False
        self._document: Any = ABSENT

    @property
    def truncated(self) -> bool:
        return self.body_bytes > len(self.body)

    @property
    def headers(self) -> dict[str, list[str]]:
        """Header names lower-cased, each with every value it had, in order."""
        if self._headers is None:
            mapped: dict[str, list[str]] = {}
            for key, value in self.raw_headers:
                mapped.setdefault(key.decode("latin-1").lower(), []).append(value.decode("latin-1"))
            self._headers = mapped
        return self._headers

    def document(self) -> Any:
        """The body as JSON, or :data:`ABSENT` when it is empty or not JSON."""
        if not self._parsed:
            self._parsed = True
            if self.body:
                try:
                    self._document = orjson.loads(self.body)
                except orjson.JSONDecodeError:
                    self._document = ABSENT
        return self._document


def from_pointer(response: ResponseView, pointer: str | tuple[str, ...]) -> Any:
    """The value at an RFC 6901 pointer (or its tokens) in the JSON body; null or missing is :data:`ABSENT`."""
    document = response.document()
    if document is ABSENT:
        return ABSENT
    parts = jsonpointer.tokens(pointer) if isinstance(pointer, str) else pointer
    found = jsonpointer.resolve_tokens(document, parts)
    return ABSENT if found is None else found


def from_header(response: ResponseView, name: str) -> Any:
    """A header value (case-insensitive); a header sent several times gives the list of values."""
    values = response.headers.get(name.lower())
    if not values:
        return ABSENT
    return values[0] if len(values) == 1 else list(values)


@dataclass(frozen=True)
class ExtractRule:
    """One ``extracts[]`` entry, compiled: where the value comes from and where it goes."""

    source: str
    """``pointer``, ``header`` or ``status``."""
    argument: str
    """The pointer or the header name ("" for status)."""
    to: str
    required: bool = False
    parts: tuple[str, ...] = ()
    """The pointer's tokens, split once."""

    @classmethod
    def of(cls, pointer: str | None, header: str | None, to: str, required: bool) -> ExtractRule:
        """The rule of one validated ``extracts[]`` entry (exactly one source is set)."""
        if pointer is not None:
            return cls("pointer", pointer, to, required, tuple(jsonpointer.tokens(pointer)))
        if header is not None:
            return cls("header", header, to, required)
        return cls("status", "", to, required)

    def value(self, response: ResponseView) -> Any:
        if self.source == "status":
            return response.status
        if self.source == "header":
            return from_header(response, self.argument)
        return from_pointer(response, self.parts or self.argument)

    def describe(self) -> str:
        if self.source == "status":
            return "fromStatus"
        if self.source == "header":
            return f"fromHeader {self.argument!r}"
        return f"fromJsonPointer {self.argument!r}"


def apply_extracts(rules: list[ExtractRule], response: ResponseView, context: dict[str, Any]) -> list[ExtractRule]:
    """Store every value found into ``context``; return the required rules that found nothing."""
    missing = []
    for rule in rules:
        value = rule.value(response)
        if value is ABSENT:
            if rule.required:
                missing.append(rule)
            continue
        set_path(context, rule.to, value)
    return missing


# -- retries ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RetryPolicy:
    """When to try a step again and how long to wait first (``retry`` of a step, compiled once)."""

    max_attempts: int = 1
    initial_backoff_ms: float = 100.0
    multiplier: float = 2.0
    max_backoff_ms: float = 2000.0
    on_exception: bool = False
    on_non2xx: bool = False
    classes: frozenset[int] = frozenset()
    """Status classes (5 for ``5xx``)."""
    codes: frozenset[int] = frozenset()

    @classmethod
    def build(
        cls, max_attempts: int, initial_backoff_ms: float, multiplier: float, max_backoff_ms: float, on: list[str]
    ) -> RetryPolicy:
        tokens = [t.strip().lower() for t in on]
        for token in tokens:
            if problem := check_token(token):
                raise ValueError(problem)
        return cls(
            max_attempts=max_attempts,
            initial_backoff_ms=initial_backoff_ms,
            multiplier=multiplier,
            max_backoff_ms=max_backoff_ms,
            on_exception="exception" in tokens,
            on_non2xx="non2xx" in tokens,
            classes=frozenset(int(t[0]) for t in tokens if t.endswith("xx") and t != "non2xx"),
            codes=frozenset(int(t) for t in tokens if t.isdigit()),
        )

    def matches(self, status: int) -> bool:
        """Whether an attempt that ended with ``status`` (-1: transport error) is worth retrying.

        ``exception`` matches transport errors only; ``non2xx`` matches every outcome that is not a
        2xx, transport errors included (the same rule that stops a journey); ``5xx`` and exact codes
        match responses only.
        """
        if status == TRANSPORT_ERROR:
            return self.on_exception or self.on_non2xx
        if self.on_non2xx and not 200 <= status < 300:
            return True
        return status // 100 in self.classes or status in self.codes

    def backoff_seconds(self, attempt: int) -> float:
        """The sleep after attempt ``attempt`` (1-based) failed, before the next one; no jitter."""
        delay_ms = self.initial_backoff_ms * self.multiplier ** (attempt - 1)
        return min(self.max_backoff_ms, delay_ms) / 1000.0

    def schedule(self) -> list[float]:
        """Every sleep of a step that uses all its attempts, in seconds."""
        return [self.backoff_seconds(n) for n in range(1, self.max_attempts)]


def is_ok(status: int) -> bool:
    return 200 <= status < 300


# -- metadata -----------------------------------------------------------------------------------
@dataclass
class StepOutcome:
    """What one executed step did: the compact record that travels in the step headers."""

    index: int
    step_id: str
    service_id: str
    call_id: str
    status: int = TRANSPORT_ERROR
    duration_ms: float = 0.0
    attempts: int = 0
    sha256: str | None = None
    response_bytes: int = 0
    """Body bytes the server sent (``sha256`` and ``body_preview`` cover the kept ones)."""
    truncated: bool = False
    """The body exceeded maxResponseBytes: only its start was kept."""
    body_preview: str | None = None
    debug_ref: str | None = None
    debug_skipped: str | None = None
    error: str | None = None

    def headers(self) -> dict[str, Any]:
        """The ``x-ph-http-seq-*`` step headers; keys without a value are left out."""
        out: dict[str, Any] = {
            META + "step-index": self.index,
            META + "step-id": self.step_id,
            META + "service-id": self.service_id,
            META + "call-id": self.call_id,
            META + "status": self.status,
            META + "duration-ms": round(self.duration_ms, 3),
            META + "attempts": self.attempts,
            META + "response-bytes": self.response_bytes,
        }
        if self.truncated:
            out[META + "truncated"] = True
        for key, value in (
            ("sha256", self.sha256),
            ("body-preview", self.body_preview),
            ("debug-ref", self.debug_ref),
            ("debug-skipped", self.debug_skipped),
            ("error", self.error),
        ):
            if value is not None:
                out[META + key] = value
        return out


@dataclass
class Counters:
    """What an http-sequence worker has done; the role of a config-update takes over its
    predecessor's counters, so they run for the worker's life."""

    journeys: int = 0
    ok: int = 0
    errors: int = 0
    dropped: int = 0
    steps: int = 0
    retries: int = 0
    captures_written: int = 0
    captures_skipped: int = 0
    capture_errors: int = 0

    def snapshot(self) -> dict[str, int]:
        """The status ``context`` keys (PocketHive's journeys / okJourneys / errorJourneys and ours)."""
        return {
            "journeys": self.journeys,
            "okJourneys": self.ok,
            "errorJourneys": self.errors,
            "droppedJourneys": self.dropped,
            "stepsExecuted": self.steps,
            "retries": self.retries,
            "capturesWritten": self.captures_written,
            "capturesSkipped": self.captures_skipped,
            "captureErrors": self.capture_errors,
        }
