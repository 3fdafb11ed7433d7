"""The operator core on its in-memory twins: a Runtime on FakeCluster/FakeBroker/FakeClock, bodies to feed it,
and workers that answer config-updates the way real ones do (through the Observations the event consumer fills).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hivekeeper.api.manifests import load_swarm
from hivekeeper.operator import plan
from hivekeeper.operator.bodies import SwarmBody, WorkerRoleBody
from hivekeeper.operator.fakes import FakeBroker, FakeClock, FakeCluster
from hivekeeper.operator.observations import Observations
from hivekeeper.operator.pods import Pod
from hivekeeper.operator.runtime import Runtime
from hivekeeper.operator.settings import Timing
from hivekeeper.protocol import envelope as env
from hivekeeper.protocol import naming

REPO = Path(__file__).resolve().parents[2]
NAMESPACE = "perf"
SWARM_UID = "swarm-uid-1"


def swarm_body(*, uid: str = SWARM_UID, generation: int = 1, **spec_changes: Any) -> SwarmBody:
    """The quickstart Swarm (feeder → builder → caller (2 replicas) → stats) in namespace perf."""
    data = load_swarm(REPO / "examples" / "quickstart.yaml").model_dump(mode="json", by_alias=True, exclude_none=True)
    data["metadata"].update(namespace=NAMESPACE, uid=uid, generation=generation)
    data["spec"].update(spec_changes)
    return SwarmBody.model_validate(data)


def pod(name: str, **status: Any) -> Pod:
    return Pod.model_validate({"metadata": {"name": name}, **status})


@dataclass
class Workers:
    """Worker instances that report to the operator and answer its config-updates (or stay silent)."""

    observations: Observations
    clock: FakeClock
    answering: bool = True
    refuse: dict[int, str] = field(default_factory=dict)
    """generation → reason: the workers refuse that generation."""
    instances: dict[tuple[str, str], list[str]] = field(default_factory=dict)

    def start(self, swarm_id: str, role: str, names: list[str], *, generation: int = 0, enabled: bool = True) -> None:
        self.instances[(swarm_id, role)] = names
        for name in names:
            self.status(swarm_id, role, name, generation=generation, enabled=enabled)

    def status(
        self,
        swarm_id: str,
        role: str,
        name: str,
        *,
        generation: int,
        enabled: bool = True,
        context: dict[str, Any] | None = None,
        kind: str = "status-full",
    ) -> None:
        """One status report; ``context`` as a worker's ``RoleStats.snapshot()`` gives it (default: no errors)."""
        scope = env.Scope(swarmId=swarm_id, role=role, instance=name)
        details = {"configGeneration": generation, **(context or {"errors": 0})}
        data = {"enabled": enabled, "tps": 10, "context": details}
        self.observations.record(env.metric(kind, scope, data, origin=name), self.clock.now)

    def on_signal(self, swarm_id: str, role: str, instance: str, data: dict[str, Any]) -> None:
        if not self.answering:
            return
        for (sid, name_of_role), names in self.instances.items():
            if sid != swarm_id or role not in (naming.ALL, name_of_role):
                continue
            for name in names if instance == naming.ALL else [n for n in names if n == instance]:
                self.answer(swarm_id, name_of_role, name, data)

    def answer(self, swarm_id: str, role: str, name: str, data: dict[str, Any]) -> None:
        scope = env.Scope(swarmId=swarm_id, role=role, instance=name)
        signal = env.signal("config-update", scope, data, origin="hivekeeper-operator")
        generation = data.get("configGeneration")
        if isinstance(generation, int) and generation in self.refuse:
            extra = {"requestedGeneration": generation}
            outcome = env.outcome(
                signal, "Failed", scope, origin=name, context={"reason": self.refuse[generation]}, extra=extra
            )
        else:
            extra = {"enabled": data.get("enabled", True)}
            if isinstance(generation, int):
                extra["configGeneration"] = generation
            outcome = env.outcome(signal, "Applied", scope, origin=name, extra=extra)
        self.observations.record(outcome, self.clock.now)


@dataclass
class Operator:
    """One operator core on fakes."""

    cluster: FakeCluster = field(default_factory=FakeCluster)
    broker: FakeBroker = field(default_factory=FakeBroker)
    clock: FakeClock = field(default_factory=FakeClock)
    observations: Observations = field(default_factory=Observations)
    timing: Timing = field(default_factory=lambda: Timing(startup_grace=0.0))
    runtime: Runtime = field(init=False)
    workers: Workers = field(init=False)

    def __post_init__(self) -> None:
        self.runtime = Runtime(
            cluster=self.cluster,
            broker=self.broker,
            observations=self.observations,
            timing=self.timing,
            clock=self.clock.clock(),
        )
        self.workers = Workers(self.observations, self.clock)
        self.broker.on_signal = self.workers.on_signal

    def add_swarm(self, swarm: SwarmBody) -> None:
        self.cluster.swarms[(NAMESPACE, swarm.metadata.name)] = swarm.metadata.uid

    def add_workerrole(self, manifest: dict[str, Any], *, uid: str = "", generation: int = 1) -> WorkerRoleBody:
        """A WorkerRole as the API server holds it after the Swarm applied ``manifest`` (a child plan's)."""
        body = copy.deepcopy(manifest)
        body["metadata"].update(uid=uid or f"uid-{body['metadata']['name']}", generation=generation)
        body.setdefault("status", {})
        self.cluster.workerrole_bodies[(NAMESPACE, body["metadata"]["name"])] = body
        return self.workerrole(body["metadata"]["name"])

    def workerrole(self, name: str) -> WorkerRoleBody:
        return self.cluster.workerrole(NAMESPACE, name)

    def child(self, swarm: SwarmBody, role: str) -> plan.ChildPlan:
        [found] = [
            c for c in plan.plan_children(swarm, swarm.metadata.uid) if c.name == f"{swarm.metadata.name}-{role}"
        ]
        return found

    def pods(self, swarm: str, role: str, *pods: Pod) -> None:
        self.cluster.pod_list[(NAMESPACE, swarm, role)] = list(pods)

    def start_workers(self, role: str, *names: str, generation: int = 0, enabled: bool = True) -> None:
        """Pods of ``role`` of the quickstart swarm whose workers report ``generation``."""
        self.pods("quickstart", role, *(pod(name) for name in names))
        swarm_id = naming.swarm_id("quickstart", NAMESPACE)
        self.observations.manage(swarm_id, role)  # as the role's reconcile does
        self.workers.start(swarm_id, role, list(names), generation=generation, enabled=enabled)
