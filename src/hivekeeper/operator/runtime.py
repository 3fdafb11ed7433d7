"""What the operator's decisions run against: the two ports, the workers' reports, the settings, a clock.

One :class:`Runtime` per operator process (the kopf adapter builds it at startup from the real
adapters; the unit tests from the fakes, with a clock that never really sleeps).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from hivekeeper.operator import metrics
from hivekeeper.operator.bodies import WorkerRoleBody
from hivekeeper.operator.events import EventType, Note, ObjectRef
from hivekeeper.operator.manifests import WorkerDefaults
from hivekeeper.operator.observations import Observations
from hivekeeper.operator.pod_failures import EVENT_REASONS
from hivekeeper.operator.pods import PodEvent
from hivekeeper.operator.policy import Policy
from hivekeeper.operator.ports import Broker, Cluster
from hivekeeper.operator.recorder import EventRecorder
from hivekeeper.operator.run_series import RunRecording
from hivekeeper.operator.settings import Timing
from hivekeeper.operator.status_writes import StatusWrites
from hivekeeper.protocol import envelope as env
from hivekeeper.protocol import pockethive

POD_EVENTS_EVERY = 10.0
POD_EVENTS_WAIT = 2.0
"""Seconds a roll-up waits for a read of the pod Events in flight before going on with the last ones read."""
"""Seconds between two reads of a namespace's pod eviction and preemption Events."""
MAX_POD_EVENTS = 1000
"""Events kept per namespace (the API server keeps them an hour; a namespace evicting more is told enough)."""
MAX_NAMESPACES = 1024
log = logging.getLogger("hivekeeper.operator")


def _utc_text() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Clock:
    """Monotonic time for waits and report ages, wall time for condition timestamps, and the sleep between
    polls: real by default, scripted in tests."""

    monotonic: Callable[[], float] = time.monotonic
    sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep
    utc_text: Callable[[], str] = _utc_text


@dataclass
class Runtime:
    """What every reconcile and roll-up shares."""

    cluster: Cluster
    broker: Broker
    observations: Observations
    defaults: WorkerDefaults = field(default_factory=WorkerDefaults)
    policy: Policy = field(default_factory=Policy)
    timing: Timing = field(default_factory=Timing)
    clock: Clock = field(default_factory=Clock)
    started: float = field(default=-1.0)
    recordings: dict[str, RunRecording] = field(default_factory=dict)
    """Swarm uid → the recording of its run in progress (``operator/run_record.py``): one per Swarm at most."""
    events: EventRecorder = field(default_factory=EventRecorder)
    """The Kubernetes Events written about Swarms and WorkerRoles (deduplicated, aggregated, rate-limited)."""
    pod_event_cache: dict[str, tuple[float, list[PodEvent]]] = field(default_factory=dict)
    """Namespace → (when read, its pods' eviction and preemption Events): read at most every
    ``POD_EVENTS_EVERY`` seconds per namespace, however many roles roll up there."""
    _pod_event_reads: dict[str, asyncio.Task[list[PodEvent]]] = field(default_factory=dict)
    """Namespace → the read of its pods' Events in flight (one at a time per namespace)."""
    status_writes: StatusWrites = field(init=False)
    """When status patches are due: state at once, figures within a budget shared by all objects."""

    def __post_init__(self) -> None:
        if self.started < 0:
            self.started = self.clock.monotonic()
        self.status_writes = StatusWrites(self.clock.monotonic)

    async def push_config(self, swarm_id: str, role: str, instance: str, data: dict[str, Any], *, reason: str) -> None:
        """Publish one config-update and remember when and in which signal, so the workers' acks can be timed and
        an answer that names no generation is matched to it (remembered first: the answer may come back before
        the publish returns)."""
        correlation_id = env.new_id()
        generation = int(data["configGeneration"])
        self.observations.pushed(
            swarm_id, role, instance, generation, self.clock.monotonic(), correlation_id=correlation_id
        )
        await self.broker.signal(swarm_id, role, instance, data, correlation_id=correlation_id)
        metrics.CONFIG_PUSHES.labels(reason).inc()

    async def event(self, involved: ObjectRef, type_: EventType, reason: str, message: str) -> None:
        """Record a Kubernetes Event about ``involved`` (``type_`` Normal or Warning, a CamelCase ``reason``) as the
        built-in controllers do: a repeat bumps the count of the Event already written; never raises."""
        note = Note(involved, type_, reason, message)
        await self.events.record(self.cluster, note, self.clock.monotonic(), self.clock.utc_text())

    async def pod_disruptions(self, namespace: str) -> list[PodEvent]:
        """The eviction and preemption Events of the pods of ``namespace`` (``pod_failures.EVENT_REASONS``), read
        again when older than ``POD_EVENTS_EVERY``; on an API error the last ones read (a roll-up never fails
        for them). One read per namespace at a time, whatever the number of roles rolling up there: the others
        wait for it, at most ``POD_EVENTS_WAIT`` seconds, then go on with the last ones read (listing Events is a
        scan of the namespace's Events on the API server, slow where thousands of pods are Pending)."""
        held = self.pod_event_cache.get(namespace)
        if held is not None and self.clock.monotonic() - held[0] < POD_EVENTS_EVERY:
            return held[1]
        reading = self._pod_event_reads.get(namespace)
        if reading is None:
            reading = asyncio.get_running_loop().create_task(self._read_pod_events(namespace))
            self._pod_event_reads[namespace] = reading
            reading.add_done_callback(lambda _: self._pod_event_reads.pop(namespace, None))
        try:
            return await asyncio.wait_for(asyncio.shield(reading), POD_EVENTS_WAIT)
        except TimeoutError:
            return held[1] if held is not None else []

    async def _read_pod_events(self, namespace: str) -> list[PodEvent]:
        held = self.pod_event_cache.get(namespace)
        try:
            found = [e for reason in EVENT_REASONS for e in await self.cluster.pod_events(namespace, reason)]
        except Exception as exc:  # an Event list is a hint for the status, never a reason to fail a roll-up
            log.warning(
                "namespace %s: cannot list pod Events (%s: %s); failures keep what pods say",
                namespace,
                type(exc).__name__,
                exc,
            )
            found = held[1] if held is not None else []
        if len(self.pod_event_cache) >= MAX_NAMESPACES and namespace not in self.pod_event_cache:
            self.pod_event_cache.pop(next(iter(self.pod_event_cache)))
        self.pod_event_cache[namespace] = (self.clock.monotonic(), found[:MAX_POD_EVENTS])
        return found[:MAX_POD_EVENTS]

    async def manage(self, swarm_id: str, role: WorkerRoleBody) -> None:
        """Keep the workers' reports of ``role``. A PocketHive role newly managed is asked for its status where
        its workers listen (``<swarm>.<role>.ALL``): they never hear the ``ALL.ALL.ALL`` request the operator
        sends at start, and would otherwise be unknown until their next periodic report."""
        if self.observations.manage(swarm_id, role.role) and role.spec.protocol == "pockethive":
            await self.broker.request_status(*pockethive.status_request_scope(swarm_id, role.role))

    async def swarm_lives(self, role: WorkerRoleBody) -> bool:
        """False when the Swarm that owns this WorkerRole is gone or being deleted.

        Deleting a Swarm pauses its WorkerRoles (an update the role's reconcile sees) and then deletes the
        queues; a reconcile or roll-up that ran late would declare them again and leave them behind.
        Hand-written WorkerRoles, owned by no Swarm, always declare what they use.
        """
        owner = role.swarm_owner_uid()
        if owner is None:
            return True
        return await self.cluster.live_swarm_uid(role.namespace, role.spec.swarmRef) == owner
