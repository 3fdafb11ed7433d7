"""Worker pods as the operator reads them: typed views of only the fields it uses.

What the status makes of them (the failures they show, the restarts they count) is
:mod:`hivekeeper.operator.pod_failures`.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field


class _View(BaseModel):
    model_config = ConfigDict(extra="ignore")


class PodMeta(_View):
    name: str = "?"
    deletionTimestamp: str | None = None


class Resources(_View):
    limits: dict[str, str] = Field(default_factory=dict)


class Container(_View):
    name: str = ""
    resources: Resources = Field(default_factory=Resources)


class PodSpec(_View):
    containers: list[Container] = Field(default_factory=list)


class Waiting(_View):
    reason: str = ""
    message: str = ""


class Terminated(_View):
    """How a container's run ended: the kubelet's reason (``OOMKilled``, ``Error``, ``Completed``), its exit code,
    the termination message (what the worker wrote, else the tail of its log) and when."""

    reason: str = ""
    exitCode: int = 0
    signal: int = 0
    message: str = ""
    finishedAt: str | None = None


class ContainerState(_View):
    waiting: Waiting | None = None
    terminated: Terminated | None = None


class ContainerStatus(_View):
    name: str = ""
    restartCount: int = 0
    state: ContainerState = Field(default_factory=ContainerState)
    lastState: ContainerState = Field(default_factory=ContainerState)


class PodCondition(_View):
    type: str = ""
    status: str = ""
    reason: str = ""
    message: str = ""
    lastTransitionTime: str | None = None


class PodStatus(_View):
    phase: str = ""
    """Pending, Running, Succeeded, Failed or Unknown ('' when not reported yet)."""
    reason: str = ""
    """Why the pod is in its phase when the kubelet says: ``Evicted``, ``Terminated`` (node shutdown),
    ``Preempting``, or an admission refusal (``OutOfcpu``, ``NodeAffinity``...)."""
    message: str = ""
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
        """Neither being deleted nor ended: a terminating pod's worker is on its way out, and a pod in phase Failed
        (evicted, refused by its node) or Succeeded runs no worker any more; neither is counted."""
        return self.metadata.deletionTimestamp is None and self.status.phase not in ("Failed", "Succeeded")

    def condition(self, type_: str) -> PodCondition | None:
        return next((c for c in self.status.conditions if c.type == type_), None)

    def memory_limit(self, container: str) -> str:
        """The memory limit of ``container`` as written in the pod (``64Mi``), or '' when it has none."""
        found = next((c for c in self.spec.containers if c.name == container), None)
        return found.resources.limits.get("memory", "") if found is not None else ""


@dataclass(frozen=True)
class PodEvent:
    """One Kubernetes Event about a pod, as much as failure naming needs (``pod_failures.from_events``)."""

    pod: str
    reason: str
    message: str
    time: str
    """When it was last seen (RFC 3339): ``lastTimestamp``, else ``eventTime``, else when the Event was made."""
