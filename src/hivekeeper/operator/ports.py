"""What the operator core needs of the cluster and of the broker: two small Protocols, nothing more.

The real implementations are :class:`hivekeeper.operator.effects.LightkubeCluster` (the Kubernetes API
through lightkube) and :class:`hivekeeper.operator.effects.AmqpBroker` (RabbitMQ through aio-pika); the
in-memory twins the unit tests drive are in :mod:`hivekeeper.operator.fakes`. Every method is one API
call or one broker operation, so the core's decisions say exactly how many round trips an edit costs.
"""

from __future__ import annotations

from typing import Any, Protocol

from hivekeeper.api.status import QueueStatus
from hivekeeper.operator.bodies import WorkerRoleBody
from hivekeeper.operator.events import KubeEvent
from hivekeeper.operator.pods import Pod, PodEvent
from hivekeeper.operator.topology import Topology

Manifest = dict[str, Any]
"""A Kubernetes object as the API server takes it (apiVersion, kind, metadata, spec)."""


class Cluster(Protocol):
    """The Kubernetes API, as far as the operator uses it."""

    async def apply(self, manifest: Manifest) -> None:
        """Server-side apply: the operator owns exactly the fields it sets."""

    async def scale_deployment(self, namespace: str, name: str, replicas: int) -> None:
        """Set only a Deployment's replica count (its pod template, and so its pods, stay); a missing one is
        left alone."""

    async def patch_workerrole_status(self, namespace: str, name: str, status: dict[str, Any]) -> None:
        """Merge-patch a WorkerRole's status; one deleted meanwhile is skipped."""

    async def patch_swarm_status(self, namespace: str, name: str, status: dict[str, Any]) -> None:
        """Merge-patch a Swarm's status; one deleted meanwhile is skipped."""

    async def workerroles(self, namespace: str, swarm: str) -> list[WorkerRoleBody]:
        """The WorkerRoles labelled as stages of ``swarm``."""

    async def live_swarm_uid(self, namespace: str, name: str) -> str | None:
        """The uid of Swarm ``name`` if it exists and is not being deleted; None otherwise."""

    async def delete_workerrole(self, namespace: str, name: str) -> None:
        """Delete a WorkerRole; one already gone is fine."""

    async def pods(self, namespace: str, swarm: str, role: str) -> list[Pod]:
        """The worker pods of one role of ``swarm``."""

    async def pod_events(self, namespace: str, reason: str) -> list[PodEvent]:
        """The Events of ``reason`` about pods of ``namespace`` (``Evicted``, ``Preempted``): what the kubelet and the
        scheduler say of a pod they ended, which its status may not keep (or the pod is already gone)."""

    async def delete_swarm(self, namespace: str, name: str) -> None:
        """Delete a Swarm (its deletion then follows deletionPolicy); one already gone is fine."""

    async def configmap_data(self, namespace: str, name: str) -> dict[str, str] | None:
        """A ConfigMap's data (None when there is no such ConfigMap)."""

    async def configmaps(self, namespace: str, labels: dict[str, str]) -> list[str]:
        """The names of the ConfigMaps carrying all of ``labels``."""

    async def delete_configmap(self, namespace: str, name: str) -> None:
        """Delete a ConfigMap; one already gone is fine."""

    async def create_event(self, event: KubeEvent) -> None:
        """Create a core/v1 Event about a Swarm or WorkerRole (``event.involved``), with its count and timestamps."""

    async def patch_event(self, event: KubeEvent) -> bool:
        """Bring the existing Event ``event.name`` to ``event``'s count, lastTimestamp and message (a repeat);
        False when there is no such Event (the API server let it expire): the caller creates it instead."""


class Broker(Protocol):
    """RabbitMQ, as far as the operator core uses it (the event consumer is the adapter's own business)."""

    async def declare(self, topology: Topology) -> None:
        """Declare the exchange, queues and bindings (idempotent)."""

    async def delete(self, topology: Topology) -> None:
        """Delete the queues (even if not empty) and the exchange."""

    async def signal(
        self, swarm_id: str, role: str, instance: str, data: dict[str, Any], *, correlation_id: str | None = None
    ) -> None:
        """Publish one (signed) config-update to ``instance`` of ``role`` (or ``naming.ALL``), with
        ``correlation_id`` when given (else a new one)."""

    async def request_status(self, swarm_id: str, role: str, instance: str) -> None:
        """Publish one (signed) status-request to ``signal.status-request.<swarm_id>.<role>.<instance>`` (each may
        be ``naming.ALL``): the workers it reaches answer with a status-full."""

    async def queue_stats(self, names: list[str]) -> list[QueueStatus]:
        """Depth and consumers of each of ``names`` that exists; missing queues are left out."""
