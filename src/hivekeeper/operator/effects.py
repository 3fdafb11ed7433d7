"""The operator's effects: the Kubernetes API (lightkube) and RabbitMQ (aio-pika). Nothing else talks to them.

Small and boring on purpose: the core (reconciles and roll-ups, over :mod:`hivekeeper.operator.ports`) decides;
this module carries it out and turns what it reads into the typed bodies of :mod:`~hivekeeper.operator.bodies`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import time
import uuid
from collections.abc import Iterator
from typing import Any

import aio_pika
from aio_pika.abc import (
    AbstractChannel,
    AbstractExchange,
    AbstractIncomingMessage,
    AbstractRobustConnection,
)
from lightkube import ApiError, AsyncClient
from lightkube.codecs import from_dict
from lightkube.generic_resource import create_namespaced_resource
from lightkube.resources.core_v1 import Pod

from hivekeeper.api.status import QueueStatus
from hivekeeper.operator import metrics
from hivekeeper.operator.bodies import WorkerRoleBody, parse
from hivekeeper.operator.events import KubeEvent
from hivekeeper.operator.kube_pods import LightkubePods
from hivekeeper.operator.observations import MalformedEvent, Observations
from hivekeeper.operator.pod_watch import PodWatch
from hivekeeper.operator.pods import Pod as PodView
from hivekeeper.operator.pods import PodEvent
from hivekeeper.operator.queue_stats import QueueStats
from hivekeeper.operator.topology import Topology
from hivekeeper.protocol import envelope as env
from hivekeeper.protocol import naming
from hivekeeper.protocol.signing import SIGNATURE_HEADER, Signer
from hivekeeper.worker.transports.rabbit import control as rabbit_control
from hivekeeper.worker.transports.rabbit.amqp.url import parse as parse_broker_url

log = logging.getLogger("hivekeeper.operator")
FIELD_MANAGER = "hivekeeper-operator"
WorkerRoleResource = create_namespaced_resource("hivekeeper.io", "v1alpha1", "WorkerRole", "workerroles")
SwarmResource = create_namespaced_resource("hivekeeper.io", "v1alpha1", "Swarm", "swarms")


class LightkubeCluster:
    """:class:`hivekeeper.operator.ports.Cluster` on the Kubernetes API, through lightkube."""

    def __init__(self, client: AsyncClient) -> None:
        self.client = client
        self.pod_watch = PodWatch(LightkubePods(client), self._list_pods)

    async def apply(self, manifest: dict[str, Any]) -> None:
        """Server-side apply: the operator owns exactly the fields it sets."""
        await self.client.apply(from_dict(manifest), field_manager=FIELD_MANAGER, force=True)

    async def patch_workerrole_status(self, namespace: str, name: str, status: dict[str, Any]) -> None:
        """A status patch for an object deleted meanwhile is dropped: there is nothing left to report on."""
        metrics.STATUS_PATCHES.labels("WorkerRole").inc()
        with _unless_gone():
            await self.client.patch(
                WorkerRoleResource.Status, name, {"status": status}, namespace=namespace, patch_type=_merge()
            )

    async def scale_deployment(self, namespace: str, name: str, replicas: int) -> None:
        """Only the replica count: the pod template (and so the pods) stay as they are."""
        from lightkube.resources.apps_v1 import Deployment

        with contextlib.suppress(ApiError):
            await self.client.patch(
                Deployment, name, {"spec": {"replicas": replicas}}, namespace=namespace, patch_type=_merge()
            )

    async def patch_swarm_status(self, namespace: str, name: str, status: dict[str, Any]) -> None:
        metrics.STATUS_PATCHES.labels("Swarm").inc()
        with _unless_gone():
            await self.client.patch(
                SwarmResource.Status, name, {"status": status}, namespace=namespace, patch_type=_merge()
            )

    async def workerroles(self, namespace: str, swarm: str) -> list[WorkerRoleBody]:
        return [
            parse(WorkerRoleBody, dict(item), f"WorkerRole {namespace}/{item.metadata.name if item.metadata else '?'}")
            async for item in self.client.list(
                WorkerRoleResource, namespace=namespace, labels={"hivekeeper.io/swarm": swarm}
            )
        ]

    async def live_swarm_uid(self, namespace: str, name: str) -> str | None:
        """The uid of Swarm ``name`` if it exists and is not being deleted; ``None`` otherwise."""
        try:
            swarm = await self.client.get(SwarmResource, name, namespace=namespace)
        except ApiError as exc:
            if exc.status.code == 404:
                return None
            raise
        metadata = swarm.metadata
        if metadata is None or metadata.deletionTimestamp is not None:
            return None
        return metadata.uid

    async def delete_workerrole(self, namespace: str, name: str) -> None:
        with contextlib.suppress(ApiError):
            await self.client.delete(WorkerRoleResource, name, namespace=namespace)

    async def delete_swarm(self, namespace: str, name: str) -> None:
        with _unless_gone():
            await self.client.delete(SwarmResource, name, namespace=namespace)

    async def configmap_data(self, namespace: str, name: str) -> dict[str, str] | None:
        from lightkube.resources.core_v1 import ConfigMap

        try:
            found = await self.client.get(ConfigMap, name, namespace=namespace)
        except ApiError as exc:
            if exc.status.code == 404:
                return None
            raise
        return dict(found.data or {})

    async def configmaps(self, namespace: str, labels: dict[str, str]) -> list[str]:
        from lightkube.resources.core_v1 import ConfigMap

        found = self.client.list(ConfigMap, namespace=namespace, labels=dict(labels.items()))
        return sorted([item.metadata.name async for item in found if item.metadata and item.metadata.name])

    async def delete_configmap(self, namespace: str, name: str) -> None:
        from lightkube.resources.core_v1 import ConfigMap

        with _unless_gone():
            await self.client.delete(ConfigMap, name, namespace=namespace)

    async def create_event(self, event: KubeEvent) -> None:
        """A core/v1 Event (``kubectl describe``, ``kubectl get events``), as client-go's recorder writes one."""
        from lightkube.models.core_v1 import EventSource, ObjectReference
        from lightkube.models.meta_v1 import ObjectMeta
        from lightkube.resources.core_v1 import Event

        ref = event.involved
        await self.client.create(
            Event(
                metadata=ObjectMeta(name=event.name, namespace=event.namespace),
                involvedObject=ObjectReference(
                    apiVersion=ref.api_version, kind=ref.kind, name=ref.name, namespace=ref.namespace, uid=ref.uid
                ),
                type=event.type,
                reason=event.reason,
                message=event.message,
                source=EventSource(component=FIELD_MANAGER),
                firstTimestamp=_moment(event.first_timestamp),
                lastTimestamp=_moment(event.last_timestamp),
                count=event.count,
            )
        )

    async def patch_event(self, event: KubeEvent) -> bool:
        """A repeat: only count, lastTimestamp and message change (client-go patches the same three)."""
        from lightkube.resources.core_v1 import Event

        patch = {"count": event.count, "lastTimestamp": event.last_timestamp, "message": event.message}
        try:
            await self.client.patch(Event, event.name, patch, namespace=event.namespace, patch_type=_merge())
        except ApiError as exc:
            if exc.status.code == 404:
                return False
            raise
        return True

    async def pod_events(self, namespace: str, reason: str) -> list[PodEvent]:
        from lightkube.resources.core_v1 import Event

        found = []
        async for event in self.client.list(
            Event, namespace=namespace, fields={"involvedObject.kind": "Pod", "reason": reason}
        ):
            seen = event.lastTimestamp or event.eventTime or event.metadata.creationTimestamp
            found.append(
                PodEvent(
                    pod=event.involvedObject.name or "",
                    reason=event.reason or reason,
                    message=event.message or "",
                    time=_rfc3339(seen),
                )
            )
        return found

    async def pods(self, namespace: str, swarm: str, role: str) -> list[PodView]:
        return await self.pod_watch.pods(namespace, swarm, role)  # listed directly until the watch has answered

    async def _list_pods(self, namespace: str, swarm: str, role: str) -> list[PodView]:
        return [
            PodView.model_validate(pod.to_dict())
            async for pod in self.client.list(
                Pod, namespace=namespace, labels={"hivekeeper.io/swarm": swarm, "hivekeeper.io/role": role}
            )
        ]


def _rfc3339(moment: Any) -> str:
    """A lightkube time (datetime, or the text it could not parse) as RFC 3339 in UTC, '' when there is none."""
    if isinstance(moment, dt.datetime):
        return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return str(moment or "")


@contextlib.contextmanager
def _unless_gone() -> Iterator[None]:
    """Swallow the API server's 404 (the object was deleted between reading and writing it); raise the rest."""
    try:
        yield
    except ApiError as exc:
        if exc.status.code != 404:
            raise


def _check_routing(event: env.Envelope, routing_key: str) -> None:
    """An event's scope must be the one its routing key names: the broker's topic permissions check the key
    (a team's user may publish only its own swarms' events), so a body claiming another swarm is a forgery."""
    try:
        _, _, _, swarm, role, instance = naming.parse_routing_key(routing_key)
    except naming.InvalidName as exc:
        raise MalformedEvent(str(exc)) from exc
    scope = event.scope
    if (scope.swarmId, scope.role, scope.instance) != (swarm, role, instance):
        raise MalformedEvent(
            f"the event's scope {scope.swarmId}/{scope.role}/{scope.instance} is not the one its routing key "
            f"{routing_key!r} names"
        )


class _Throttled:
    """A logger that writes at most one warning per ``every`` seconds and says how many it held back."""

    def __init__(self, logger: logging.Logger, every: float) -> None:
        self._logger = logger
        self._every = every
        self._next = 0.0
        self._held = 0

    def warn(self, message: str, *args: object) -> None:
        now = time.monotonic()
        if now < self._next:
            self._held += 1
            return
        held, self._held, self._next = self._held, 0, now + self._every
        suffix = f" ({held} more since the last report)" if held else ""
        self._logger.warning(message + suffix, *args)


def _moment(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def _merge() -> Any:
    from lightkube.types import PatchType

    return PatchType.MERGE


def signal_message(signal: env.Envelope, signer: Signer | None) -> aio_pika.Message:
    """A signal as the operator publishes it: the envelope as the body and, with a signing key, the body's
    signature in a header beside it (the envelope keeps exactly the protocol's keys)."""
    body = signal.to_json()
    if signer is None:
        return aio_pika.Message(body, content_type="application/json")
    return aio_pika.Message(body, content_type="application/json", headers={SIGNATURE_HEADER: signer.sign(body)})


class AmqpBroker:
    """:class:`hivekeeper.operator.ports.Broker` on RabbitMQ through aio-pika: topology declarations, config
    pushes and status requests on one robust connection, and the consumer of the workers' events."""

    EVENTS_QUEUE = "hivekeeper.operator.events"

    def __init__(
        self,
        url: str,
        observations: Observations,
        signer: Signer | None = None,
        exchanges: naming.Exchanges = naming.DEFAULT_EXCHANGES,
    ) -> None:
        # One meaning of the URL's options for every connection (worker.transports.rabbit.amqp.url); a bad
        # option fails the operator's start with the option named, instead of being ignored by one connection only.
        self._url = parse_broker_url(url)
        self.observations = observations
        self._signer = signer
        self._exchanges = exchanges
        self._connection: AbstractRobustConnection | None = None
        self._channel: AbstractChannel | None = None
        self._control: AbstractExchange | None = None
        self._stats = QueueStats(lambda: rabbit_control.connect_plain(self._url, "hivekeeper-operator-stats"))
        # Anyone with a broker credential can publish garbage: say so, but not once per message.
        self._malformed_log = _Throttled(log, every=60.0)

    async def start(self) -> None:
        self._connection = await aio_pika.connect_robust(
            self._url.aio_pika_url(),
            client_properties={"connection_name": self._url.name or "hivekeeper-operator"},
            timeout=self._url.connection_timeout,
            ssl_context=self._url.ssl_context(),
        )
        self._channel = await self._connection.channel()
        self._control = await self._channel.declare_exchange(
            self._exchanges.control, aio_pika.ExchangeType.TOPIC, durable=True
        )
        # One queue per operator process: exclusive queues cannot be shared, and two operators on one broker
        # (peering replicas, or two namespaced releases) must each hear every worker.
        name = f"{self.EVENTS_QUEUE}.{uuid.uuid4().hex[:12]}"
        events = await self._channel.declare_queue(name, exclusive=True, auto_delete=True)
        await events.bind(self._control, "event.#")
        await events.consume(self._on_event)

    async def _on_event(self, message: AbstractIncomingMessage) -> None:
        async with message.process():
            try:
                event = env.parse(message.body)
                _check_routing(event, message.routing_key or "")
                latency = self.observations.record(event, time.monotonic())
            except (env.EnvelopeError, MalformedEvent) as exc:
                metrics.EVENTS.labels("malformed").inc()
                self._malformed_log.warn("ignored a malformed event: %s", exc)
                return
            metrics.EVENTS.labels(event.kind).inc()
            if latency is not None:
                metrics.CONFIG_ACK_SECONDS.observe(latency)
            elif event.kind == "outcome" and event.type == "config-update" and event.data.get("status") == "Failed":
                metrics.CONFIG_REFUSALS.inc()

    async def queue_stats(self, names: list[str]) -> list[QueueStatus]:
        """(name, depth, consumers) of each queue that exists: passive declares on a plain connection (a robust one
        reports 0 messages for them), one reused channel, answers reused within a second (``operator.queue_stats``)."""
        return await self._stats.stats(names)

    async def delete(self, topology: Topology) -> None:
        """Delete the swarm's queues (even if not empty) and its work exchange."""
        assert self._channel is not None
        for queue in topology.queues:
            await self._channel.queue_delete(queue.name, if_unused=False, if_empty=False)
        await self._channel.exchange_delete(self._exchanges.work_exchange(topology.swarm_id), if_unused=False)

    async def declare(self, topology: Topology) -> None:
        assert self._channel is not None
        exchange = await self._channel.declare_exchange(
            self._exchanges.work_exchange(topology.swarm_id), aio_pika.ExchangeType.TOPIC, durable=True
        )
        for queue in topology.queues:
            declared = await self._channel.declare_queue(queue.name, durable=True)
            await declared.bind(exchange, routing_key=queue.routing_key)

    async def signal(
        self, swarm_id: str, role: str, instance: str, data: dict[str, Any], *, correlation_id: str | None = None
    ) -> None:
        assert self._control is not None
        scope = env.Scope(swarmId=swarm_id, role=role, instance=instance)
        signal = env.signal("config-update", scope, data, origin="hivekeeper-operator", correlation_id=correlation_id)
        await self._control.publish(
            self._signed(signal),
            routing_key=naming.signal_key("config-update", swarm_id, role, instance),
        )

    def _signed(self, signal: env.Envelope) -> aio_pika.Message:
        return signal_message(signal, self._signer)

    async def request_status(self, swarm_id: str, role: str, instance: str) -> None:
        assert self._control is not None
        scope = env.Scope(swarmId=swarm_id, role=role, instance=instance)
        await self._control.publish(
            self._signed(env.signal("status-request", scope, {}, origin="hivekeeper-operator")),
            routing_key=naming.signal_key("status-request", swarm_id, role, instance),
        )

    async def close(self) -> None:
        await self._stats.close()
        if self._connection is not None:
            await self._connection.close()
