"""The ``WorkerRole`` resource: one stage of a swarm, scaled and configured on its own.

The operator creates one per ``Swarm.spec.roles[]`` entry (owned by the Swarm, like a ReplicaSet under
a Deployment); a hand-written one with ``spec.swarmRef`` attaches a stage to an existing swarm. It has
a ``/scale`` subresource, so ``kubectl scale``, an HPA or KEDA's RabbitMQ scaler can drive it.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from hivekeeper.api.call_template import MAX_NAME
from hivekeeper.api.status import MAX_FAILURES, Condition, FailureStatus, InstanceStatus, LatencyMs
from hivekeeper.api.swarm import _ALIAS_PATTERN, ObjectMeta, SecretRef, StageSpec


class WorkerRoleSpec(StageSpec):
    """Desired state of one stage."""

    swarmRef: str = Field(
        pattern=_ALIAS_PATTERN, max_length=MAX_NAME, description="Name of the Swarm (same namespace) this stage joins."
    )

    paused: bool = Field(default=False, description="Disable work (set from the Swarm's spec.paused); live.")
    secretRef: SecretRef | None = Field(
        default=None,
        description=(
            "The Secret the workers read their broker and Redis URLs from (set from the Swarm's spec.secretRef); "
            "default: the operator's (Helm value workers.secret.name). Its name must match the operator "
            "policy's secretRefs."
        ),
    )

    def _label(self) -> str:
        return f"stage of swarm {self.swarmRef!r}"


class WorkerRoleStatus(BaseModel):
    """Observed state of one stage."""

    model_config = ConfigDict(extra="forbid")

    observedGeneration: int = Field(default=0, description="The metadata.generation last reconciled.")
    replicas: int = Field(default=0, description="Worker pods that exist.")
    readyReplicas: int = Field(default=0, description="Worker instances running and reporting.")
    selector: str = Field(default="", description="Label selector of the pods, as a string (for /scale).")
    configGeneration: int = Field(default=0, description="The config generation the operator wants.")
    configDigest: str = Field(default="", description="Fingerprint of the config pushed as configGeneration.")
    rolloutDigest: str = Field(default="", description="Fingerprint of the pod template fields last rolled out.")
    appliedGeneration: int = Field(default=0, description="The lowest generation every ready instance acknowledged.")
    tps: float = Field(default=0.0, description="Items per second over all instances.")
    errors: int = Field(default=0, description="Errors over all instances.")
    processed: int = Field(default=0, description="Items handled over all live instances, since each started.")
    dropped: int = Field(default=0, description="Items dropped over all live instances, since each started.")
    statusCodes: dict[str, int] = Field(
        default_factory=dict, description="HTTP answers by status code over all live instances, since each started."
    )
    errorKinds: dict[str, int] = Field(
        default_factory=dict,
        max_length=33,
        description=(
            "Errors by kind over all live instances, since each started: `connect`, `timeout`, `tcp-closed`, "
            "`business` (an answer its resultRules call a failure), ...; the 32 largest, the rest as `(other)`."
        ),
    )
    businessCodes: dict[str, int] = Field(
        default_factory=dict,
        max_length=33,
        description=(
            "Answers by business code (the processor's resultRules) over all live instances, since each started; "
            "the 32 largest, the rest as `(other)`."
        ),
    )
    latencyMs: LatencyMs = Field(
        default_factory=LatencyMs,
        description=(
            "Request latency over the workers' last status interval (5 s by default): the percentiles of all "
            "the live instances' requests (their histograms merged); 0 when no request completed in it."
        ),
    )
    instances: list[InstanceStatus] = Field(default_factory=list, description="Each instance as it last reported.")
    restarts: int = Field(default=0, description="Container restarts of the role's live pods (as kubectl get pods).")
    failures: list[FailureStatus] = Field(
        default_factory=list,
        max_length=MAX_FAILURES,
        description=(
            "The role's last pod failures, newest first (at most 10), each counted once however many times the "
            "operator looked: OOM kills, liveness restarts, crashes, evictions, preemptions, scheduling and image "
            'pull failures. Kept across pod replacements (docs/operator.md, "Pod failures").'
        ),
    )
    conditions: list[Condition] = Field(
        default_factory=list, description="Ready, Reconciling, Stalled, WorkersAvailable, ConfigApplied, Paused."
    )


class WorkerRole(BaseModel):
    """One stage of a swarm: a Deployment of workers running one role, wired to the swarm's queues."""

    model_config = ConfigDict(extra="forbid")

    apiVersion: Literal["hivekeeper.io/v1alpha1"] = "hivekeeper.io/v1alpha1"
    kind: Literal["WorkerRole"] = "WorkerRole"
    metadata: ObjectMeta
    spec: WorkerRoleSpec
    status: WorkerRoleStatus | None = None
