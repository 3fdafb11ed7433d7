"""Status shapes shared by Swarm and WorkerRole (written by the operator, read by people and GitOps tools)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class _Status(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Condition(_Status):
    """A metav1.Condition: the state of one aspect, with why it is so."""

    type: str = Field(
        description=("Ready, Reconciling, Stalled, QueuesReady, WorkersAvailable, ConfigApplied or Paused.")
    )
    status: Literal["True", "False", "Unknown"] = Field(description="True, False or Unknown.")
    reason: str = Field(description="CamelCase reason, e.g. `AllAcknowledged` or `WorkerRejectedConfig`.")
    message: str = Field(default="", description="Human-readable details.")
    lastTransitionTime: str = Field(description="When the status last changed (RFC 3339).")
    observedGeneration: int = Field(default=0, description="The metadata.generation this condition is about.")


class LatencyMs(_Status):
    """Request latency percentiles in milliseconds."""

    p50: float = 0.0
    p95: float = 0.0
    p99: float = 0.0


MAX_FAILURES = 10
"""Failures a WorkerRole's status keeps (newest first)."""
MAX_FAILURE_MESSAGE = 1024


class FailureStatus(_Status):
    """A failure of one of the role's pods, as the operator last saw it (docs/operator.md, "Pod failures")."""

    pod: str = Field(max_length=253, description="The pod it happened to.")
    reason: str = Field(
        max_length=64,
        description=(
            "What happened: OOMKilled, Unresponsive (restarted by its liveness probe), FatalError, Crashed, Exited, "
            "Evicted, Preempted, Rejected (by its node), Disrupted (drain, node shutdown or loss), Unschedulable, "
            "ImagePullBackOff, InvalidImageName, CreateContainerConfigError or CreateContainerError."
        ),
    )
    message: str = Field(
        default="",
        max_length=MAX_FAILURE_MESSAGE,
        description=(
            "What a person needs to act: the memory limit, the kubelet's or the scheduler's reason, the error the "
            "worker named or the last line it logged, the exit code."
        ),
    )
    count: int = Field(default=1, ge=1, description="How many times the operator saw it happen to this pod.")
    firstSeen: str = Field(default="", description="When it first happened (RFC 3339).")
    lastSeen: str = Field(default="", description="When it last happened (RFC 3339).")


class RoleStatus(_Status):
    """One stage of the swarm, rolled up from its workers."""

    name: str = Field(description="The role name from spec.roles[].name.")
    replicas: int = Field(default=0, description="Desired worker instances.")
    readyReplicas: int = Field(default=0, description="Worker instances that are running and reporting.")
    configGeneration: int = Field(default=0, description="The config generation the operator wants.")
    appliedGeneration: int = Field(
        default=0, description=("The lowest config generation every ready instance acknowledged.")
    )
    tps: float = Field(default=0.0, description="Items per second over the last status interval.")
    errors: int = Field(default=0, description="Errors since the workers started.")
    latencyMs: LatencyMs = Field(
        default_factory=LatencyMs,
        description=(
            "Request latency over the workers' last status interval (5 s by default): the percentiles of all "
            "the live instances' requests (their histograms merged); 0 when no request completed in it."
        ),
    )
    restarts: int = Field(default=0, description="Container restarts of the role's live pods.")
    lastFailure: FailureStatus | None = Field(
        default=None, description="The role's most recent pod failure (its WorkerRole's status.failures[0])."
    )


class QueueStatus(_Status):
    """A work queue of the swarm."""

    name: str = Field(description="Queue name (`hivekeeper.<swarmId>.<alias>`).")
    depth: int = Field(
        default=0,
        description="Items waiting: messages waiting times the mean items per message its publishers report "
        "(batches, decision 0013); the same as `messages` when nothing is batched.",
    )
    messages: int = Field(default=0, description="Messages waiting, as RabbitMQ counts them (a batch is one).")
    consumers: int = Field(default=0, description="Consumers attached.")


class Totals(_Status):
    """Swarm-wide figures."""

    tps: float = Field(default=0.0, description="Items per second finished by the last stage(s).")
    errors: int = Field(default=0, description="Errors over all roles.")
    workers: str = Field(default="0/0", description="Ready/desired worker instances over all roles.")


class IoState(_Status):
    input: str = Field(default="unknown", description="ok, out-of-data, backpressure or upstream-error.")
    output: str = Field(default="unknown", description="ok, blocked, throttled or downstream-error.")


class InstanceStatus(_Status):
    """One worker instance (pod) as it last reported itself."""

    name: str = Field(description="Instance (pod) name.")
    enabled: bool = Field(default=False, description="Whether the worker is doing work.")
    tps: float = Field(default=0.0, description="Items per second in its last report.")
    lastSeen: str = Field(default="", description="Time of its last report (RFC 3339).")
    configGeneration: int = Field(default=0, description="The config generation it runs.")
    ioState: IoState = Field(default_factory=IoState, description="Its input and output state.")
