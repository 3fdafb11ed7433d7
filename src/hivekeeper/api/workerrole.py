"""The ``WorkerRole`` resource: one stage of a swarm, scaled and configured on its own.

The operator creates one per ``Swarm.spec.roles[]`` entry (owned by the Swarm, like a ReplicaSet under
a Deployment); a hand-written one with ``spec.swarmRef`` attaches a stage to an existing swarm. It has
a ``/scale`` subresource, so ``kubectl scale``, an HPA or KEDA's RabbitMQ scaler can drive it.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from hivekeeper.api.status import Condition, InstanceStatus, LatencyMs
from hivekeeper.api.swarm import _ALIAS_PATTERN, BuiltinRole, ObjectMeta, Work, _cel


class WorkerRoleSpec(BaseModel):
    """Desired state of one stage."""

    model_config = ConfigDict(
        extra="forbid",
        populate_by_name=True,
        json_schema_extra=_cel(
            (
                "has(self.role) != has(self.image)",
                "set exactly one of role (a built-in role) or image (a custom worker image)",
            )
        ),
    )

    swarmRef: str = Field(
        pattern=_ALIAS_PATTERN, description=("Name of the Swarm (same namespace) this stage belongs to.")
    )
    role: BuiltinRole | None = Field(default=None, description="Built-in role the workers run.")
    image: str | None = Field(default=None, max_length=512, description="Custom worker image speaking the protocol.")
    replicas: int = Field(default=1, ge=0, description="Worker instances; also driven through the /scale subresource.")
    work: Work = Field(default_factory=Work, description="Queue wiring by alias; an edit re-wires and rolls this role.")
    config: dict[str, Any] = Field(
        default_factory=dict,
        description="Role configuration (see docs/worker.md). Live: edits become config-updates, no restart.",
    )
    resources: dict[str, Any] | None = Field(default=None, description="Pod resources; an edit rolls this role.")
    env: list[dict[str, Any]] | None = Field(default=None, description="Extra EnvVars; an edit rolls this role.")


class WorkerRoleStatus(BaseModel):
    """Observed state of one stage."""

    model_config = ConfigDict(extra="forbid")

    observedGeneration: int = Field(default=0, description="The metadata.generation last reconciled.")
    replicas: int = Field(default=0, description="Worker pods that exist.")
    readyReplicas: int = Field(default=0, description="Worker instances running and reporting.")
    selector: str = Field(default="", description="Label selector of the pods, as a string (for /scale).")
    configGeneration: int = Field(default=0, description="The config generation the operator wants.")
    appliedGeneration: int = Field(default=0, description="The lowest generation every ready instance acknowledged.")
    tps: float = Field(default=0.0, description="Items per second over all instances.")
    errors: int = Field(default=0, description="Errors over all instances.")
    latencyMs: LatencyMs = Field(default_factory=LatencyMs, description="Request latency (processors).")
    instances: list[InstanceStatus] = Field(default_factory=list, description="Each instance as it last reported.")
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
