"""A `protocol: pockethive` role on a real RabbitMQ: the operator core (its real broker adapter; the Kubernetes API
in memory) plans the Deployment, a stand-in for a PocketHive worker image (tests/support/pockethive_stand_in,
speaking exactly the measured facts) starts from that Deployment's environment as the kubelet would resolve it,
and the operator pushes configs it applies or refuses, asks it for its status where it binds, and our next role
consumes its WorkItems."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit

import aio_pika
import orjson
import pytest

from hivekeeper.api.status import Condition
from hivekeeper.operator.bodies import WorkerRoleBody
from hivekeeper.operator.effects import AmqpBroker
from hivekeeper.operator.fakes import FakeCluster
from hivekeeper.operator.observations import Observations
from hivekeeper.operator.pods import Pod
from hivekeeper.operator.policy import Policy
from hivekeeper.operator.role_reconcile import reconcile_role
from hivekeeper.operator.role_rollup import roll_up_role
from hivekeeper.operator.runtime import Runtime
from hivekeeper.operator.settings import Timing
from hivekeeper.protocol import naming, workitem
from hivekeeper.worker.runtime.worker import Worker
from hivekeeper.worker.transports.rabbit import control as rabbit_control
from hivekeeper.worker.transports.rabbit.transports import RabbitTransports
from pockethive_stand_in.worker import PocketHiveWorker
from testbench.waiting import eventually
from testbench.work_messages import items as carried
from testbench.workers import first_instance

pytestmark = pytest.mark.integration
IMAGE = "pockethive/generator:test"


def _moment(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def _secret(url: str) -> dict[str, str]:
    """The workers' Secret as the chart writes it: the URL and its parts."""
    parts = urlsplit(url)
    return {
        "amqpUrl": url,
        "amqpHost": parts.hostname or "localhost",
        "amqpPort": str(parts.port or 5672),
        "amqpUsername": unquote(parts.username or "guest"),
        "amqpPassword": unquote(parts.password or "guest"),
        "amqpVhost": unquote(parts.path[1:]) if len(parts.path) > 1 else "/",
    }


def _kubelet_env(deployment: dict[str, Any], pod: str, secret: dict[str, str]) -> dict[str, str]:
    """The container's environment as the kubelet resolves it: values, the pod's name, the Secret's keys."""
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    resolved = {}
    for var in container["env"]:
        source = var.get("valueFrom", {})
        if "value" in var:
            resolved[var["name"]] = var["value"]
        elif source.get("fieldRef", {}).get("fieldPath") == "metadata.name":
            resolved[var["name"]] = pod
        elif "secretKeyRef" in source:
            resolved[var["name"]] = secret[source["secretKeyRef"]["key"]]
    return resolved


@dataclass
class Stage:
    """The operator core on the real broker, one PocketHive WorkerRole, and its running stand-in workers."""

    url: str
    namespace: str = field(default_factory=lambda: f"ph{uuid.uuid4().hex[:6]}")
    cluster: FakeCluster = field(default_factory=FakeCluster)
    observations: Observations = field(default_factory=Observations)
    workers: list[PocketHiveWorker] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.broker = AmqpBroker(self.url, self.observations)
        self.runtime = self.fresh_runtime(self.observations, self.broker)
        self.swarm_id = naming.swarm_id("cards", self.namespace)

    def fresh_runtime(self, observations: Observations, broker: AmqpBroker) -> Runtime:
        return Runtime(
            cluster=self.cluster,
            broker=broker,
            observations=observations,
            policy=Policy(allowedImages=("pockethive/*",)),
            timing=Timing(startup_grace=0.0),
        )

    def put(self, config: dict[str, Any], *, work: dict[str, str] | None = None) -> None:
        """Write the WorkerRole (a hand-written one: stage `feeder` of swarm `cards`) with ``config``."""
        key = (self.namespace, "feeder")
        held = self.cluster.workerrole_bodies.get(key, {"status": {}})
        generation = held.get("metadata", {}).get("generation", 0) + 1
        spec = {"swarmRef": "cards", "image": IMAGE, "protocol": "pockethive", "config": config}
        spec["work"] = work or {"out": "results"}
        held.update(
            {
                "apiVersion": "hivekeeper.io/v1alpha1",
                "kind": "WorkerRole",
                "metadata": {"name": "feeder", "namespace": self.namespace, "uid": "u-1", "generation": generation},
                "spec": spec,
            }
        )
        self.cluster.workerrole_bodies[key] = held

    def role(self) -> WorkerRoleBody:
        return self.cluster.workerrole(self.namespace, "feeder")

    async def reconcile(self) -> None:
        await reconcile_role(self.runtime, self.role())

    async def start_pod(self, name: str) -> PocketHiveWorker:
        deployment = self.cluster.deployments[(self.namespace, "feeder")]
        worker = PocketHiveWorker(_kubelet_env(deployment, name, _secret(self.url)), delta_interval=0.5)
        await worker.start()
        self.workers.append(worker)
        pods = self.cluster.pod_list.setdefault((self.namespace, "cards", "feeder"), [])
        pods.append(Pod.model_validate({"metadata": {"name": name}}))
        return worker

    async def condition(self, type_: str, status: str, reason: str) -> Condition:
        """Roll the role up (as the operator's timer does) until its ``type_`` condition is as asked."""

        async def rolled_up() -> Condition | None:
            await roll_up_role(self.runtime, self.role())
            found = next((c for c in self.role().status.conditions if c.type == type_), None)
            return found if found is not None and (found.status, found.reason) == (status, reason) else None

        return await eventually(rolled_up, timeout=15, what=f"{type_}={status} ({reason})", interval=0.2)

    async def stop(self) -> None:
        for worker in self.workers:
            await worker.stop()
        await self.broker.close()


@pytest.fixture
async def stage(rabbitmq_url: str) -> AsyncIterator[Stage]:
    running = Stage(rabbitmq_url)
    await running.broker.start()
    yield running
    await running.stop()


GENERATOR = {"inputs": {"type": "SCHEDULER", "scheduler": {"ratePerSec": 0}}, "message": {"body": "{}"}}


async def test_a_pushed_config_is_applied_by_the_pockethive_worker_and_the_role_shows_config_applied(
    stage: Stage,
) -> None:
    stage.put(GENERATOR)
    await stage.reconcile()
    worker = await stage.start_pod("cards-feeder-5d8-abcde")
    applied = await stage.condition("ConfigApplied", "True", "AllAcknowledged")
    assert applied.message == "all 1 workers run config generation 1"
    assert worker.config["inputs"]["scheduler"]["ratePerSec"] == 0
    assert worker.enabled is True
    stage.put({**GENERATOR, "inputs": {"type": "SCHEDULER", "scheduler": {"ratePerSec": 5}}})
    await stage.reconcile()
    applied = await stage.condition("ConfigApplied", "True", "AllAcknowledged")
    assert applied.message == "all 1 workers run config generation 2"
    assert worker.config["inputs"]["scheduler"]["ratePerSec"] == 5
    assert stage.role().status.appliedGeneration == 2
    assert not any("configGeneration" in m["data"] for m in worker.sent), "it never named a generation"


async def test_a_refused_config_shows_the_workers_exception_as_the_reason(stage: Stage) -> None:
    stage.put(GENERATOR)
    await stage.reconcile()
    worker = await stage.start_pod("cards-feeder-5d8-fghij")
    await stage.condition("ConfigApplied", "True", "AllAcknowledged")
    stage.put({**GENERATOR, "inputs": {"type": "SCHEDULER", "scheduler": {"ratePerSec": -1}}})
    await stage.reconcile()
    refused = await stage.condition("ConfigApplied", "False", "WorkerRejectedConfig")
    assert refused.message == (
        "cards-feeder-5d8-fghij rejected config generation 2: IllegalArgumentException: "
        "inputs.scheduler.ratePerSec must be >= 0, got -1 (workers keep generation 1)"
    )
    assert worker.config["inputs"]["scheduler"]["ratePerSec"] == 0, "the worker kept its config"
    failed = [m for m in worker.sent if m["kind"] == "outcome" and m["data"]["status"] == "Failed"]
    assert failed
    assert all("requestedGeneration" not in m["data"] for m in failed)


async def test_its_events_say_each_config_pushed_applied_once_and_refused_with_the_workers_reason(stage: Stage) -> None:
    stage.put(GENERATOR)
    await stage.reconcile()
    await stage.start_pod("cards-feeder-5d8-events")
    await stage.condition("ConfigApplied", "True", "AllAcknowledged")
    stage.put({**GENERATOR, "inputs": {"type": "SCHEDULER", "scheduler": {"ratePerSec": -1}}})
    await stage.reconcile()
    await stage.condition("ConfigApplied", "False", "WorkerRejectedConfig")
    for _ in range(3):  # more timer ticks: nothing new to say
        await roll_up_role(stage.runtime, stage.role())

    said = stage.cluster.said("WorkerRole", "feeder")
    assert [(kind, reason) for kind, reason, _ in said] == [
        ("Normal", "Created"),
        ("Normal", "QueuesDeclared"),
        ("Normal", "ConfigPushed"),
        ("Normal", "ConfigApplied"),
        ("Normal", "ConfigPushed"),
        ("Warning", "ConfigRefused"),
    ]
    assert said[3][2] == "all 1 workers run config generation 1"
    assert said[4][2].startswith("pushed config generation 2 to every worker")
    assert said[5][2] == (
        "cards-feeder-5d8-events rejected config generation 2: IllegalArgumentException: "
        "inputs.scheduler.ratePerSec must be >= 0, got -1 (workers keep generation 1)"
    )
    assert all(event.count == 1 for event in stage.cluster.event_bodies.values())


async def test_status_requests_reach_it_only_where_it_binds_and_a_restarted_operator_asks_there(
    stage: Stage, rabbitmq_url: str
) -> None:
    stage.put(GENERATOR)
    await stage.reconcile()
    worker = await stage.start_pod("cards-feeder-5d8-klmno")
    await stage.condition("ConfigApplied", "True", "AllAcknowledged")
    await stage.broker.request_status(naming.ALL, naming.ALL, naming.ALL)  # what the operator asks every worker
    # A restarted operator: nothing known, and the first time it manages the role it asks where the worker binds.
    restarted = AmqpBroker(rabbitmq_url, Observations())
    await restarted.start()
    try:
        stage.runtime = stage.fresh_runtime(restarted.observations, restarted)
        applied = await stage.condition("ConfigApplied", "True", "AllAcknowledged")
        assert applied.message == "all 1 workers run config generation 1"
    finally:
        await restarted.close()
    requests = [key for key in worker.received if key.startswith("signal.status-request.")]
    assert requests == [f"signal.status-request.{stage.swarm_id}.feeder.ALL"]


async def test_its_work_items_are_consumed_by_our_next_role(stage: Stage, rabbitmq_url: str) -> None:
    stage.put({**GENERATOR, "inputs": {"type": "SCHEDULER", "scheduler": {"ratePerSec": 50, "maxMessages": 20}}})
    await stage.reconcile()  # declares the work exchange and `results` before the pod starts
    connection = await aio_pika.connect(rabbitmq_url)
    transports = RabbitTransports(await rabbit_control.connect(rabbitmq_url), stage.swarm_id, rabbitmq_url)
    identity = first_instance(
        stage.swarm_id, "mover", "moderator", in_queue=naming.work_queue(stage.swarm_id, "results"), out_alias="moved"
    )
    ours = Worker(identity, {"mode": {"type": "pass-through"}}, transports, status_interval=1.0)
    started = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    try:
        channel = await connection.channel()
        moved = await rabbit_control.declare_work_queue(
            channel, stage.swarm_id, naming.work_queue(stage.swarm_id, "moved")
        )
        await ours.start()
        await stage.broker.signal(stage.swarm_id, "mover", naming.ALL, {"enabled": True})  # ours start disabled
        worker = await stage.start_pod("cards-feeder-5d8-pqrst")
        await stage.condition("ConfigApplied", "True", "AllAcknowledged")
        items: list[workitem.WorkItem] = []

        async def all_moved() -> bool:
            while (message := await moved.get(no_ack=True, fail=False)) is not None:
                items.extend(workitem.parse(body) for body in carried(message))
            return len(items) >= 20

        await eventually(all_moved, timeout=15, what="the 20 items the PocketHive worker made, moved on by ours")
        assert worker.published == 20
        assert len({item.messageId for item in items}) == 20
        for item in items:
            theirs, mine = item.observability.hops
            assert (theirs.service, mine.service) == ("feeder", "mover")
            made, moved_at = _moment(theirs.receivedAt), _moment(mine.receivedAt)
            assert started <= made <= moved_at, "their epoch milliseconds read as the moment they were made"
        assert orjson.loads(items[0].steps[0].payload) == {}
    finally:
        await ours.stop()
        await transports.close()
        await connection.close()
