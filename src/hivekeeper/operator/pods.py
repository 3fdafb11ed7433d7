"""Worker pods as the operator reads them (typed, only the fields it uses) and what status needs of them."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from hivekeeper.operator.status import PodState


class _View(BaseModel):
    model_config = ConfigDict(extra="ignore")


class PodMeta(_View):
    name: str = "?"
    deletionTimestamp: str | None = None


class Resources(_View):
    limits: dict[str, str] = Field(default_factory=dict)


class Container(_View):
    resources: Resources = Field(default_factory=Resources)


class PodSpec(_View):
    containers: list[Container] = Field(default_factory=list)


class Waiting(_View):
    reason: str = ""
    message: str = ""


class Terminated(_View):
    reason: str = ""


class ContainerState(_View):
    waiting: Waiting | None = None
    terminated: Terminated | None = None


class ContainerStatus(_View):
    state: ContainerState = Field(default_factory=ContainerState)
    lastState: ContainerState = Field(default_factory=ContainerState)


class PodCondition(_View):
    type: str = ""
    status: str = ""
    reason: str = ""
    message: str = ""


class PodStatus(_View):
    containerStatuses: list[ContainerStatus] = Field(default_factory=list)
    conditions: list[PodCondition] = Field(default_factory=list)


class Pod(_View):
    """A worker pod: its name, whether it is going away, and what its containers and scheduler say."""

    metadata: PodMeta = Field(default_factory=PodMeta)
    spec: PodSpec = Field(default_factory=PodSpec)
    status: PodStatus = Field(default_factory=PodStatus)

    @property
    def name(self) -> str:
        return self.metadata.name

    @property
    def alive(self) -> bool:
        """Not being deleted: a terminating pod's worker is on its way out and is not counted."""
        return self.metadata.deletionTimestamp is None


def pod_state(pod: Pod) -> PodState:
    """What status needs of one pod: why it waits, why its last run ended, whether it can be scheduled."""
    waiting_reason = waiting_message = unschedulable = terminated_reason = memory_limit = ""
    for container in pod.spec.containers:
        if container.resources.limits.get("memory"):
            memory_limit = container.resources.limits["memory"]
    for status in pod.status.containerStatuses:
        waiting = status.state.waiting
        if waiting is not None and waiting.reason:
            waiting_reason, waiting_message = waiting.reason, waiting.message
        # The current run's end if it has ended, else, while the kubelet backs off restarting it, the last
        # run's. A container running again after one kill is not a problem to report here.
        ended = status.state.terminated
        if ended is None and waiting is not None:
            ended = status.lastState.terminated
        if ended is not None and ended.reason:
            terminated_reason = ended.reason
    for condition in pod.status.conditions:
        if condition.type == "PodScheduled" and condition.status == "False" and condition.reason == "Unschedulable":
            unschedulable = condition.message or "no node fits"
    return PodState(
        name=pod.name,
        waiting_reason=waiting_reason,
        waiting_message=waiting_message,
        unschedulable=unschedulable,
        terminated_reason=terminated_reason,
        memory_limit=memory_limit,
    )
