"""The WorkItem envelope: what travels on the work plane between roles (DESIGN.md §3).

A work item carries an ordered list of steps; the current payload is the last step and each role
appends one. ``correlationId`` travels in the item headers end to end (logs, alerts, and the HTTP
request to the system under test). Reading goes through :func:`parse`, which turns any malformed
body into a :class:`WorkItemError` that names the problem.
"""

from __future__ import annotations

import base64
import datetime as dt
import os
import time
from typing import Annotated, Any, Literal, TypeVar

import orjson
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from hivekeeper.errors import InvalidInput
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


EPOCH_MILLIS_FROM = 100_000_000_000
"""A number this large or larger is epoch milliseconds (in seconds it would be after the year 5000; in
milliseconds anything below it is before March 1973): the magnitude tells seconds from milliseconds."""


def _timestamp(value: object) -> object:
    """A hop time as RFC 3339 text. Ours is text already; PocketHive's workers write epoch numbers, in seconds
    or in milliseconds (told apart by :data:`EPOCH_MILLIS_FROM`), which are turned into the same text so every
    reader of ``hops`` sees one format."""
    if type(value) is str or isinstance(value, bool) or not isinstance(value, int | float):
        return value  # text is checked as text; anything else fails as "not a string"
    seconds = value / 1000 if abs(value) >= EPOCH_MILLIS_FROM else value
    try:
        moment = dt.datetime.fromtimestamp(seconds, dt.UTC)
    except (OverflowError, OSError, ValueError) as exc:
        raise ValueError(f"epoch time {value!r} is not a date (seconds or milliseconds since 1970)") from exc
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


HopTime = Annotated[str, BeforeValidator(_timestamp)]


class Hop(BaseModel):
    """When a role received and finished an item: RFC 3339 text (epoch numbers are read and turned into it)."""

    model_config = ConfigDict(extra="forbid")

    service: str
    instance: str
    receivedAt: HopTime
    processedAt: HopTime | None = None


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
        # Not validated: every value here is built by us and already valid; validating it again would cost
        # more than the rest of a request-builder's work.
        step = _built(
            Step, {"index": len(self.steps), "payload": payload, "payloadEncoding": "utf-8", "headers": step_headers}
        )
        return _copied(self, "steps", [*self.steps, step])

    def to_json(self) -> bytes:
        """The item as compact JSON, byte for byte what pydantic writes (orjson is ~2.5x faster at it).

        Our models are handed to orjson as their field dicts (pydantic writes them in the same order). A value
        orjson would write differently from pydantic (dates, subclasses of str, int, dict or list, dataclasses)
        or cannot write (bytes, sets, non-string keys, integers past 64 bits, lone surrogates) is passed back
        to :func:`_fields`, which refuses it, and the whole item is written by pydantic instead."""
        try:
            return orjson.dumps(self, default=_fields, option=_PLAIN_JSON)
        except orjson.JSONEncodeError:
            return self.__pydantic_serializer__.to_json(self)


_MODELS = frozenset((WorkItem, Step, Observability, Hop))
_PLAIN_JSON = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_SUBCLASS | orjson.OPT_PASSTHROUGH_DATACLASS
"""orjson writes only what it writes as pydantic does; everything else goes to :func:`_fields`."""


def _fields(value: object) -> dict[str, Any]:
    """One of our models as orjson writes it: its field dict (in declaration order, as pydantic writes it)."""
    if type(value) in _MODELS:
        return value.__dict__
    raise TypeError(f"{type(value).__name__} is written by pydantic")


M = TypeVar("M", bound=BaseModel)
_new = object.__new__
_setattr = object.__setattr__


def _built(model: type[M], values: dict[str, Any]) -> M:
    """``model.model_construct(**values)`` in about a third of its time (no generic loop over the fields; it
    ran five times per generated item). ``values`` gives every field, in declaration order (the order the
    JSON is written in); the models here have no private attributes and forbid extra fields."""
    built = _new(model)
    _setattr(built, "__dict__", values)
    _setattr(built, "__pydantic_fields_set__", set(values))
    _setattr(built, "__pydantic_extra__", None)
    _setattr(built, "__pydantic_private__", None)
    return built


def _copied(item: WorkItem, field: str, value: Any) -> WorkItem:
    """``item.model_copy(update={field: value})``, the shallow copy pydantic makes, without its generic path."""
    values = dict(item.__dict__)
    values[field] = value
    fields_set = set(item.__pydantic_fields_set__)
    fields_set.add(field)
    copied = _new(WorkItem)
    _setattr(copied, "__dict__", values)
    _setattr(copied, "__pydantic_fields_set__", fields_set)
    _setattr(copied, "__pydantic_extra__", None)
    _setattr(copied, "__pydantic_private__", None)
    return copied


def new_hop(service: str, instance: str, received_at: str, processed_at: str) -> Hop:
    """A hop we record ourselves (not validated: the times come from :func:`now`)."""
    return _built(
        Hop, {"service": service, "instance": instance, "receivedAt": received_at, "processedAt": processed_at}
    )


class WorkItemError(InvalidInput, ValueError):
    """A work-plane message is not a valid WorkItem."""


_second: list[Any] = [-1, ""]  # the last whole second formatted, reused within that second


def now() -> str:
    """UTC time as RFC 3339 with microseconds (``2026-11-28T11:30:46.123456Z``), cheaply.

    Called several times per item; formatting the date part once per second keeps it under 1 µs.
    """
    moment = time.time()
    second = int(moment)
    if second != _second[0]:
        _second[0], _second[1] = second, dt.datetime.fromtimestamp(second, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{_second[1]}.{int((moment - second) * 1_000_000):06d}Z"


_UUID_CLEAR = ~((0xF000 << 64) | (0xC000 << 48))
_UUID_V4 = (0x4000 << 64) | (0x8000 << 48)


_RANDOM_IDS = 256
"""Message ids drawn from one read of the OS's random source: a ``getrandom`` call per id cost ~1 µs of a
generator's ~20 µs per item on this VM (py-spy, issue 19); 256 at a time make it ~0.01 µs."""
_random: list[Any] = [b"", 0]  # unread random bytes, and the offset of the next id's 16


def _drop_random_pool() -> None:
    """In a forked child: the pool is the parent's too, so the child reads its own (it never repeats an id)."""
    _random[1] = len(_random[0])


os.register_at_fork(after_in_child=_drop_random_pool)


def new_message_id() -> str:
    """A random UUID (version 4) as text, what ``str(uuid.uuid4())`` gives (the same source, ``os.urandom``, read
    ahead for :data:`_RANDOM_IDS` ids), in a third of its time (once per item)."""
    pool, offset = _random
    if offset >= len(pool):
        pool, offset = os.urandom(16 * _RANDOM_IDS), 0
        _random[0] = pool
    _random[1] = offset + 16
    digits = f"{(int.from_bytes(pool[offset : offset + 16]) & _UUID_CLEAR) | _UUID_V4:032x}"
    return f"{digits[:8]}-{digits[8:12]}-{digits[12:16]}-{digits[16:20]}-{digits[20:]}"


def new_item(
    payload: str,
    *,
    swarm: str,
    service: str,
    instance: str,
    headers: dict[str, Any] | None = None,
    content_type: str = "application/json",
    message_id: str | None = None,
) -> WorkItem:
    """A fresh item with one step, a message id (new unless given), a correlation id (kept if given) and no hop yet:
    the work loop that publishes it records the role's one hop (received, processed), as for every item a role
    hands on (one hop per role; the item once carried a second, duplicate hop of its maker)."""
    message_id = message_id or new_message_id()
    item_headers = dict(headers or {})
    item_headers.setdefault(CORRELATION_HEADER, message_id)
    step = {
        "index": 0,
        "payload": payload,
        "payloadEncoding": "utf-8",
        "headers": {STEP_SERVICE: service, STEP_INSTANCE: instance},
    }
    observability = {
        "traceId": message_id.replace("-", ""),
        "swarmId": swarm,
        "hops": [],
    }
    return _built(  # built from known-good parts: no need to validate (hot path)
        WorkItem,
        {
            "version": "1",
            "headers": item_headers,
            "messageId": message_id,
            "contentType": content_type,
            "steps": [_built(Step, step)],
            "observability": _built(Observability, observability),
        },
    )


def parse(body: bytes) -> WorkItem:
    """Read a WorkItem from JSON bytes, or raise :class:`WorkItemError` naming the problem."""
    # One pass in pydantic-core: the fast, common case. (A Python fast path, orjson plus type checks plus
    # construction in place, measured slower: 9.4 µs against 7.3 µs for a two-step item.)
    try:
        return WorkItem.model_validate_json(body)
    except ValidationError:
        return decoding.decode(body, WorkItem, "work item", WorkItemError)  # slow path, for the message


def as_template_value(payload: str) -> Any:
    """One rule everywhere: a payload that parses as JSON is its parsed value, else the string."""
    first = payload[:1]
    if first in ("{", "[", '"', "-") or first.isdigit() or payload in ("true", "false", "null"):
        try:
            return orjson.loads(payload)
        except orjson.JSONDecodeError:
            return payload
    return payload
