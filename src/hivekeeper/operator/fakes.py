"""In-memory twins of the operator's ports, and a clock that never sleeps: the unit tests drive the core on them.

:class:`FakeCluster` keeps WorkerRoles, Deployments and pods in dicts and records every call in order
(``calls``), so a test can assert what was applied, patched and deleted, and in which order.
:class:`FakeBroker` keeps declared queues and records signals; ``on_signal`` lets a test play the
workers (answer a config-update with a status, say). :class:`FakeClock` moves time forward by the
amount each sleep asks for.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from hivekeeper.api.status import QueueStatus
from hivekeeper.operator.bodies import WorkerRoleBody
from hivekeeper.operator.events import KubeEvent
from hivekeeper.operator.pods import Pod, PodEvent
from hivekeeper.operator.ports import Broker, Cluster, Manifest
from hivekeeper.operator.runtime import Clock
from hivekeeper.operator.topology import Topology
from hivekeeper.protocol import naming


@dataclass
class FakeCluster:
    """:class:`~hivekeeper.operator.ports.Cluster` in memory."""

    workerrole_bodies: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    """(namespace, name) → the WorkerRole as the API server would hold it."""
    deployments: dict[tuple[str, str], Manifest] = field(default_factory=dict)
    pod_list: dict[tuple[str, str, str], list[Pod]] = field(default_factory=dict)
    pod_event_list: dict[str, list[PodEvent]] = field(default_factory=dict)
    """Namespace → the Events about its pods (``pod_events``)."""
    """(namespace, swarm, role) → its pods."""
    swarms: dict[tuple[str, str], str] = field(default_factory=dict)
    """(namespace, name) → uid of each live Swarm."""
    swarm_statuses: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    configmap_bodies: dict[tuple[str, str], Manifest] = field(default_factory=dict)
    """(namespace, name) → each ConfigMap as applied (the runs' records)."""
    calls: list[tuple[str, ...]] = field(default_factory=list)
    """Every call, in order: ("apply", kind, name), ("scale", name, replicas), ("patch-status", kind, name),
    ("delete", name), ("list-workerroles", swarm), ("get-swarm", name), ("list-pods", role),
    ("delete-swarm", name), ("create-event", kind, name, reason), ("patch-event", kind, name, reason),
    ("get-configmap", name), ("list-configmaps", *labels), ("delete-configmap", name)."""
    events: list[tuple[str, str, str, str]] = field(default_factory=list)
    """(object name, type, reason, message) of every Event created, in order."""
    event_bodies: dict[tuple[str, str], KubeEvent] = field(default_factory=dict)
    """(namespace, name) → each Event as the API server holds it (count and message as last patched)."""
    failing_events: Exception | None = None
    """When set, every create and patch of an Event raises it (an API server that refuses them)."""
    on_apply: Callable[[Manifest], None] | None = None

    async def apply(self, manifest: Manifest) -> None:
        meta = manifest["metadata"]
        key = (meta["namespace"], meta["name"])
        self.calls.append(("apply", manifest["kind"], meta["name"]))
        if manifest["kind"] == "WorkerRole":
            held = self.workerrole_bodies.setdefault(key, {"status": {}})
            held.update({k: copy.deepcopy(v) for k, v in manifest.items() if k != "status"})
        elif manifest["kind"] == "Deployment":
            self.deployments[key] = copy.deepcopy(manifest)
        elif manifest["kind"] == "ConfigMap":
            self.configmap_bodies[key] = copy.deepcopy(manifest)
        if self.on_apply is not None:
            self.on_apply(manifest)

    async def scale_deployment(self, namespace: str, name: str, replicas: int) -> None:
        self.calls.append(("scale", name, str(replicas)))
        if (namespace, name) in self.deployments:
            self.deployments[(namespace, name)]["spec"]["replicas"] = replicas

    async def patch_workerrole_status(self, namespace: str, name: str, status: dict[str, Any]) -> None:
        self.calls.append(("patch-status", "WorkerRole", name))
        if (namespace, name) in self.workerrole_bodies:
            self.workerrole_bodies[(namespace, name)].setdefault("status", {}).update(copy.deepcopy(status))

    async def patch_swarm_status(self, namespace: str, name: str, status: dict[str, Any]) -> None:
        self.calls.append(("patch-status", "Swarm", name))
        self.swarm_statuses.setdefault((namespace, name), {}).update(copy.deepcopy(status))

    async def workerroles(self, namespace: str, swarm: str) -> list[WorkerRoleBody]:
        self.calls.append(("list-workerroles", swarm))
        return [
            WorkerRoleBody.model_validate(copy.deepcopy(body))
            for (ns, _), body in sorted(self.workerrole_bodies.items())
            if ns == namespace and body["metadata"].get("labels", {}).get("hivekeeper.io/swarm") == swarm
        ]

    async def live_swarm_uid(self, namespace: str, name: str) -> str | None:
        self.calls.append(("get-swarm", name))
        return self.swarms.get((namespace, name))

    async def delete_workerrole(self, namespace: str, name: str) -> None:
        self.calls.append(("delete", name))
        self.workerrole_bodies.pop((namespace, name), None)

    async def pods(self, namespace: str, swarm: str, role: str) -> list[Pod]:
        self.calls.append(("list-pods", role))
        return list(self.pod_list.get((namespace, swarm, role), []))

    async def pod_events(self, namespace: str, reason: str) -> list[PodEvent]:
        self.calls.append(("list-pod-events", reason))
        return [e for e in self.pod_event_list.get(namespace, []) if e.reason == reason]

    async def delete_swarm(self, namespace: str, name: str) -> None:
        self.calls.append(("delete-swarm", name))
        self.swarms.pop((namespace, name), None)

    async def configmap_data(self, namespace: str, name: str) -> dict[str, str] | None:
        self.calls.append(("get-configmap", name))
        held = self.configmap_bodies.get((namespace, name))
        return dict(held.get("data") or {}) if held is not None else None

    async def configmaps(self, namespace: str, labels: dict[str, str]) -> list[str]:
        self.calls.append(("list-configmaps", *sorted(labels.values())))
        return sorted(
            name
            for (ns, name), body in self.configmap_bodies.items()
            if ns == namespace and labels.items() <= (body["metadata"].get("labels") or {}).items()
        )

    async def delete_configmap(self, namespace: str, name: str) -> None:
        self.calls.append(("delete-configmap", name))
        self.configmap_bodies.pop((namespace, name), None)

    async def create_event(self, event: KubeEvent) -> None:
        self.calls.append(("create-event", event.involved.kind, event.involved.name, event.reason))
        if self.failing_events is not None:
            raise self.failing_events
        self.event_bodies[(event.namespace, event.name)] = event
        self.events.append((event.involved.name, event.type, event.reason, event.message))

    async def patch_event(self, event: KubeEvent) -> bool:
        self.calls.append(("patch-event", event.involved.kind, event.involved.name, event.reason))
        if self.failing_events is not None:
            raise self.failing_events
        if (event.namespace, event.name) not in self.event_bodies:
            return False
        self.event_bodies[(event.namespace, event.name)] = event
        return True

    def said(self, kind: str = "", name: str = "") -> list[tuple[str, str, str]]:
        """(type, reason, message) of each Event created about ``kind``/``name`` (any when not given), in order:
        what ``kubectl describe`` would list (a test's view; not a recorded call)."""
        return [
            (e.type, e.reason, e.message)
            for e in self.event_bodies.values()
            if kind in ("", e.involved.kind) and name in ("", e.involved.name)
        ]

    def workerrole(self, namespace: str, name: str) -> WorkerRoleBody:
        """The WorkerRole as held now (a test's view; not a recorded call)."""
        return WorkerRoleBody.model_validate(copy.deepcopy(self.workerrole_bodies[(namespace, name)]))

    def object_calls(self) -> list[tuple[str, ...]]:
        """The calls but the Events' (what a test of the objects' handling looks at)."""
        return [call for call in self.calls if call[0] not in ("create-event", "patch-event")]

    def api_calls(self) -> list[tuple[str, ...]]:
        """The calls that cost an API round trip (all of them: the fake records nothing else)."""
        return list(self.calls)


@dataclass
class FakeBroker:
    """:class:`~hivekeeper.operator.ports.Broker` in memory."""

    queues: dict[str, QueueStatus] = field(default_factory=dict)
    signals: list[tuple[str, str, str, dict[str, Any]]] = field(default_factory=list)
    """(swarm id, role, instance, data) of every signal, in order."""
    correlation_ids: list[str | None] = field(default_factory=list)
    """The correlation id each of ``signals`` was sent with (None: a new one), in the same order."""
    status_requests: list[tuple[str, str, str]] = field(default_factory=list)
    """(swarm id, role, instance) of every status-request, in order."""
    deleted: list[Topology] = field(default_factory=list)
    calls: list[tuple[str, ...]] = field(default_factory=list)
    failing: Exception | None = None
    """When set, every call raises it (a broker that is down)."""
    on_signal: Callable[[str, str, str, dict[str, Any]], None] | None = None
    exchanges: naming.Exchanges = naming.DEFAULT_EXCHANGES
    """Names the work exchange a declare or delete records, as :class:`~.effects.AmqpBroker` names it."""

    def _check(self, call: tuple[str, ...]) -> None:
        self.calls.append(call)
        if self.failing is not None:
            raise self.failing

    async def declare(self, topology: Topology) -> None:
        self._check(("declare", self.exchanges.work_exchange(topology.swarm_id)))
        for queue in topology.queues:
            self.queues.setdefault(queue.name, QueueStatus(name=queue.name))

    async def delete(self, topology: Topology) -> None:
        self._check(("delete", self.exchanges.work_exchange(topology.swarm_id)))
        self.deleted.append(topology)
        for queue in topology.queues:
            self.queues.pop(queue.name, None)

    async def signal(
        self, swarm_id: str, role: str, instance: str, data: dict[str, Any], *, correlation_id: str | None = None
    ) -> None:
        self._check(("signal", role, instance))
        self.signals.append((swarm_id, role, instance, copy.deepcopy(data)))
        self.correlation_ids.append(correlation_id)
        if self.on_signal is not None:
            self.on_signal(swarm_id, role, instance, data)

    async def request_status(self, swarm_id: str, role: str, instance: str) -> None:
        self._check(("status-request", swarm_id, role, instance))
        self.status_requests.append((swarm_id, role, instance))

    async def queue_stats(self, names: list[str]) -> list[QueueStatus]:
        self._check(("queue-stats", *names))
        return [self.queues[name] for name in names if name in self.queues]


@dataclass
class FakeClock:
    """Monotonic time that only moves when the code sleeps (or a test calls :meth:`advance`)."""

    now: float = 1000.0
    wall: str = "2026-01-01T00:00:00Z"
    slept: list[float] = field(default_factory=list)

    def advance(self, seconds: float) -> None:
        self.now += seconds

    async def _sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds

    def clock(self) -> Clock:
        return Clock(monotonic=lambda: self.now, sleep=self._sleep, utc_text=lambda: self.wall)


def _twins_of_the_ports(cluster: FakeCluster, broker: FakeBroker) -> tuple[Cluster, Broker]:
    """Never called: mypy checks here that the twins keep up with the Protocols."""
    return cluster, broker
