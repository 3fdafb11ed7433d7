"""The WorkItem envelope: what travels on the work plane between roles (DESIGN.md §3).

A work item carries an ordered list of steps; the current payload is the last step and each role
appends one. ``correlationId`` travels in the item headers end to end (logs, alerts, and the HTTP
request to the system under test). Reading goes through :func:`parse`, which turns any malformed
body into a :class:`WorkItemError` that names the problem.
"""

from __future__ import annotations

import base64
import datetime as dt
import uuid
from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field

from hivekeeper.protocol import decoding

CORRELATION_HEADER = "correlationId"
CALL_ID_HEADER = "x-ph-call-id"
SERVICE_ID_HEADER = "x-ph-service-id"
STEP_SERVICE = "ph.step.service"
STEP_INSTANCE = "ph.step.instance"


class Step(BaseModel):
    """One stage's output: a payload (UTF-8 text or base64 bytes) and the headers it set."""

    model_config = ConfigDict(extra="forbid")

    index: int = Field(ge=0, description="Position of the step, starting at 0.")
    payload: str = Field(description="The payload as text; base64 when payloadEncoding is base64.")
    payloadEncoding: Literal["utf-8", "base64"] = "utf-8"
    headers: dict[str, Any] = Field(
        default_factory=dict, description="Step headers; always `ph.step.service` and `ph.step.instance`."
    )


class Hop(BaseModel):
    """When a role received and finished an item."""

    model_config = ConfigDict(extra="forbid")

    service: str
    instance: str
    receivedAt: str
    processedAt: str | None = None


class Observability(BaseModel):
    model_config = ConfigDict(extra="forbid")

    traceId: str
    swarmId: str
    hops: list[Hop] = Field(default_factory=list)


class WorkItem(BaseModel):
    """An item of work; the last step is the current payload."""

    model_config = ConfigDict(extra="forbid")

    version: Literal["1"] = "1"
    headers: dict[str, Any] = Field(default_factory=dict)
    messageId: str
    contentType: str = "application/json"
    steps: list[Step] = Field(min_length=1)
    observability: Observability

    @property
    def payload(self) -> str:
        """The current payload as text (base64 payloads are decoded as UTF-8 with replacement)."""
        last = self.steps[-1]
        if last.payloadEncoding == "base64":
            return base64.b64decode(last.payload).decode("utf-8", "replace")
        return last.payload

    @property
    def correlation_id(self) -> str:
        return str(self.headers.get(CORRELATION_HEADER) or self.messageId)

    def with_step(
        self, payload: str, *, service: str, instance: str, headers: dict[str, Any] | None = None
    ) -> WorkItem:
        """A new item with ``payload`` appended as the next step (the original is not changed)."""
        step_headers = {STEP_SERVICE: service, STEP_INSTANCE: instance}
        if headers:
            step_headers.update(headers)
        step = Step(index=len(self.steps), payload=payload, headers=step_headers)
        return self.model_copy(update={"steps": [*self.steps, step]})

    def to_json(self) -> bytes:
        return orjson.dumps(self.model_dump(mode="json"))


class WorkItemError(ValueError):
    """A work-plane message is not a valid WorkItem."""


def now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def new_item(
    payload: str,
    *,
    swarm: str,
    service: str,
    instance: str,
    headers: dict[str, Any] | None = None,
    content_type: str = "application/json",
) -> WorkItem:
    """A fresh item with one step, a new message id, and a correlation id (kept if given)."""
    message_id = str(uuid.uuid4())
    item_headers = dict(headers or {})
    item_headers.setdefault(CORRELATION_HEADER, message_id)
    return WorkItem(
        headers=item_headers,
        messageId=message_id,
        contentType=content_type,
        steps=[Step(index=0, payload=payload, headers={STEP_SERVICE: service, STEP_INSTANCE: instance})],
        observability=Observability(
            traceId=message_id.replace("-", ""),
            swarmId=swarm,
            hops=[Hop(service=service, instance=instance, receivedAt=now(), processedAt=now())],
        ),
    )


def parse(body: bytes) -> WorkItem:
    """Read a WorkItem from JSON bytes, or raise :class:`WorkItemError` naming the problem."""
    return decoding.decode(body, WorkItem, "work item", WorkItemError)


def as_template_value(payload: str) -> Any:
    """One rule everywhere: a payload that parses as JSON is its parsed value, else the string."""
    first = payload[:1]
    if first in ("{", "[", '"', "-") or first.isdigit() or payload in ("true", "false", "null"):
        try:
            return orjson.loads(payload)
        except orjson.JSONDecodeError:
            return payload
    return payload
