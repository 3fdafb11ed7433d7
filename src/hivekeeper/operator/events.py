"""Kubernetes Events the way the built-in controllers record them (pure): deduplicated, aggregated, rate-limited.

A reconciler says what happened as a :class:`Note` (the object, Normal or Warning, a CamelCase reason, a
sentence); :class:`Correlator` decides, given the time, what reaches the API server. It is client-go's
``EventCorrelator`` with its defaults:

- **Deduplication.** The same note (object, type, reason, message) again within ``window`` (10 minutes) of its
  last occurrence bumps ``count`` and ``lastTimestamp`` of the Event already written (a PATCH) instead of
  creating another one: ``kubectl describe`` shows ``(x7 over 3m)``.
- **Aggregation.** Similar notes (same object, type and reason, different messages): from the ``similar``-th
  (10th) distinct message within ``window`` of the previous one on, they all go into one Event whose message is
  ``(combined from similar events): <the latest message>``, patched like a repeated one.
- **Spam filter.** Each object has a token bucket (``burst`` 25, one token back every ``refill_every`` 5 minutes);
  a note that finds the bucket empty is dropped.

Every cache is an LRU of at most ``kept`` (4096) keys, so memory is bounded whatever the objects and messages.
A message is cleaned before anything else (:func:`clean`): the password of a URL is masked and it is cut to
:data:`MAX_MESSAGE` characters.
"""

from __future__ import annotations

import re
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Generic, Literal, TypeVar

from hivekeeper.api import API_VERSION
from hivekeeper.operator.bodies import SwarmBody, WorkerRoleBody

EventType = Literal["Normal", "Warning"]
MAX_MESSAGE = 1024
"""The longest message written (the events.k8s.io API refuses more than 1 kB; client-go cuts the same)."""
COMBINED = "(combined from similar events): "

_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<user>[^:/@\s]*):(?P<password>[^@\s/]*)@")
_PASSWORD_PARAM = re.compile(r"(?P<key>(?:pass(?:word)?|secret|token)=)[^&\s]+", re.IGNORECASE)


def clean(message: str) -> str:
    """``message`` without credentials (a URL's password, a ``password=`` query value) and cut to fit."""
    message = _USERINFO.sub(lambda m: f"{m['scheme']}{m['user']}:***@", message)
    message = _PASSWORD_PARAM.sub(lambda m: f"{m['key']}***", message)
    return _fit(message)


def counted(n: int, noun: str) -> str:
    """``1 replica``, ``2 replicas``: a count in a message."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _fit(message: str) -> str:
    return message if len(message) <= MAX_MESSAGE else message[: MAX_MESSAGE - 3] + "..."


@dataclass(frozen=True)
class ObjectRef:
    """The object an Event is about (its ``involvedObject``): a Swarm or a WorkerRole."""

    kind: Literal["Swarm", "WorkerRole"]
    namespace: str
    name: str
    uid: str
    api_version: str = API_VERSION


@dataclass(frozen=True)
class Note:
    """What a reconciler wants said about an object."""

    involved: ObjectRef
    type: EventType
    reason: str
    message: str


@dataclass(frozen=True)
class KubeEvent:
    """A core/v1 Event as it should stand on the API server after this occurrence."""

    name: str
    namespace: str
    involved: ObjectRef
    type: EventType
    reason: str
    message: str
    count: int
    first_timestamp: str
    last_timestamp: str


@dataclass(frozen=True)
class Decision:
    """Create ``event``, or (``patch``) bump the existing one of that name to ``event``'s count, time and message."""

    event: KubeEvent
    patch: bool


K = TypeVar("K")
V = TypeVar("V")


class Lru(Generic[K, V]):
    """A dict of at most ``kept`` keys; the least recently used goes first."""

    def __init__(self, kept: int) -> None:
        self.kept = kept
        self._items: OrderedDict[K, V] = OrderedDict()

    def get(self, key: K) -> V | None:
        found = self._items.get(key)
        if found is not None:
            self._items.move_to_end(key)
        return found

    def put(self, key: K, value: V) -> None:
        self._items[key] = value
        self._items.move_to_end(key)
        while len(self._items) > self.kept:
            self._items.popitem(last=False)

    def pop(self, key: K) -> None:
        self._items.pop(key, None)

    def __len__(self) -> int:
        return len(self._items)


@dataclass(frozen=True)
class _Seen:
    """The Event last written for one deduplication key."""

    event: KubeEvent
    at: float


@dataclass(frozen=True)
class _Similar:
    """The distinct messages lately noted for one (object, type, reason), oldest first."""

    messages: tuple[str, ...]
    at: float


@dataclass(frozen=True)
class _Bucket:
    tokens: float
    at: float


_Key = tuple[str, ...]


def _object_key(ref: ObjectRef) -> _Key:
    return (ref.api_version, ref.kind, ref.namespace, ref.name, ref.uid)


def _new_suffix() -> str:
    return uuid.uuid4().hex[:16]


class Correlator:
    """Decides, for each note, whether to create an Event, patch the one already written, or drop it."""

    def __init__(
        self,
        *,
        window: float = 600.0,
        similar: int = 10,
        burst: int = 25,
        refill_every: float = 300.0,
        kept: int = 4096,
        new_suffix: Callable[[], str] = _new_suffix,
    ) -> None:
        self.window = window
        self.similar = similar
        self.burst = burst
        self.refill_every = refill_every
        self._new_suffix = new_suffix
        self._seen: Lru[_Key, _Seen] = Lru(kept)
        self._similar: Lru[_Key, _Similar] = Lru(kept)
        self._buckets: Lru[_Key, _Bucket] = Lru(kept)

    def correlate(self, note: Note, now: float, now_text: str) -> Decision | None:
        """What to write for ``note`` at monotonic time ``now`` (wall time ``now_text``, RFC 3339); None: drop it."""
        note = replace(note, message=clean(note.message))
        if not self._take_token(note.involved, now):
            return None
        message, key = self._aggregate(note, now)
        seen = self._seen.get(key)
        if seen is not None and now - seen.at <= self.window:
            event = replace(seen.event, count=seen.event.count + 1, message=message, last_timestamp=now_text)
            self._seen.put(key, _Seen(event, now))
            return Decision(event, patch=True)
        event = KubeEvent(
            name=f"{note.involved.name}.{self._new_suffix()}",
            namespace=note.involved.namespace,
            involved=note.involved,
            type=note.type,
            reason=note.reason,
            message=message,
            count=1,
            first_timestamp=now_text,
            last_timestamp=now_text,
        )
        self._seen.put(key, _Seen(event, now))
        return Decision(event, patch=False)

    def forget(self, event: KubeEvent) -> None:
        """The write of ``event`` failed: the next occurrence creates a new Event rather than patching this one."""
        for key in (self._key(event), (*self._key(event)[:-1], COMBINED)):
            seen = self._seen.get(key)
            if seen is not None and seen.event.name == event.name:
                self._seen.pop(key)

    def _key(self, event: KubeEvent | Note) -> _Key:
        return (*_object_key(event.involved), event.type, event.reason, event.message)

    def _take_token(self, ref: ObjectRef, now: float) -> bool:
        key = _object_key(ref)
        bucket = self._buckets.get(key) or _Bucket(float(self.burst), now)
        tokens = min(float(self.burst), bucket.tokens + (now - bucket.at) / self.refill_every)
        allowed = tokens >= 1.0
        self._buckets.put(key, _Bucket(tokens - 1.0 if allowed else tokens, now))
        return allowed

    def _aggregate(self, note: Note, now: float) -> tuple[str, _Key]:
        """The message to write and the deduplication key: the note's own, or once there were too many similar
        notes lately, the combined message and the key they all share."""
        similar_key = (*_object_key(note.involved), note.type, note.reason)
        record = self._similar.get(similar_key)
        messages = record.messages if record is not None and now - record.at <= self.window else ()
        messages = (*[m for m in messages if m != note.message], note.message)
        if len(messages) < self.similar:
            self._similar.put(similar_key, _Similar(messages, now))
            return note.message, (*similar_key, note.message)
        # As client-go: keep one short of the limit, so every further distinct message stays combined.
        self._similar.put(similar_key, _Similar(messages[-(self.similar - 1) :], now))
        return _fit(COMBINED + note.message), (*similar_key, COMBINED)


def swarm_ref(swarm: SwarmBody) -> ObjectRef:
    return ObjectRef("Swarm", swarm.namespace, swarm.metadata.name, swarm.metadata.uid)


def role_ref(role: WorkerRoleBody) -> ObjectRef:
    return ObjectRef("WorkerRole", role.namespace, role.metadata.name, role.metadata.uid)
