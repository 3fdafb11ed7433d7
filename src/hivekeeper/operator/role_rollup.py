"""A WorkerRole's status roll-up: the workers' reports, its pods and its queues folded into one status.

It runs on a timer (and right after a reconcile whose push every worker acknowledged). It is
level-based: an instance that reports an older config generation gets the current config again, so new
and restarted pods converge by themselves; a queue deleted behind the operator's back is reported and
declared again in the same tick.

Pure parts: :func:`target_generation`, :func:`missing_queues` and :func:`status_patch`; :func:`roll_up_role`
gathers the inputs through the ports and writes the patch when :mod:`~hivekeeper.operator.status_writes` says it
is due (a change of state at once, figures within a budget).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from hivekeeper.api.status import QueueStatus
from hivekeeper.operator import (
    config_events,
    counts,
    events,
    failure_history,
    latency,
    plan,
    pod_failures,
    policy,
    topology,
)
from hivekeeper.operator import status as rules
from hivekeeper.operator.bodies import WorkerRoleBody
from hivekeeper.operator.pods import Pod, PodEvent
from hivekeeper.operator.runtime import Runtime
from hivekeeper.protocol import naming

log = logging.getLogger("hivekeeper.operator")


@dataclass(frozen=True)
class Target:
    """The config generation the workers should run, and whether the reconcile has pushed it yet."""

    generation: int
    unpushed: bool


def target_generation(role: WorkerRoleBody) -> Target:
    """The generation to judge the workers by.

    The timer may run on a body older than the reconcile's last status patch, or before the reconcile has
    pushed this spec's config at all: then the status's generation is not this config's. Such a roll-up must
    neither call the workers "applied" (a Swarm Ready before its config reached them) nor re-send this config
    under the old generation number; it waits for the reconcile's push (one generation up).
    """
    digest = plan.config_digest(dict(role.spec.config), not role.spec.paused)
    unpushed = role.status.configDigest != digest
    return Target(role.status.configGeneration + (1 if unpushed else 0), unpushed)


def resend_data(role: WorkerRoleBody, generation: int) -> dict[str, Any]:
    """The config-update that brings an instance behind to ``generation`` (the same the reconcile pushed)."""
    return {**role.spec.config, "replace": True, "enabled": not role.spec.paused, "configGeneration": generation}


def missing_queues(wanted: list[str], present: list[QueueStatus]) -> list[str]:
    names = {queue.name for queue in present}
    return [queue for queue in wanted if queue not in names]


@dataclass(frozen=True)
class QueueHealth:
    """('', '') when every queue the role reads or writes exists; else the QueuesReady reason and message."""

    reason: str = ""
    problem: str = ""


async def queue_health(runtime: Runtime, role: WorkerRoleBody) -> QueueHealth:
    """Whether the role's queues exist; a missing one is declared again (while its Swarm lives).

    A queue deleted behind the operator's back (by hand, or a broker that lost it) is reported and declared
    again in the same tick, so ``QueuesReady`` shows False once and comes back at the next roll-up. Before
    the role's first reconcile (no ``configGeneration`` yet) the queues are not expected: nothing is reported.
    """
    swarm_id = naming.swarm_id(role.spec.swarmRef, role.namespace)
    aliases = topology.role_aliases(role.spec.work.in_, role.spec.work.out)
    if not aliases or "configGeneration" not in role.status.model_fields_set:
        return QueueHealth()
    wanted = [naming.work_queue(swarm_id, alias) for alias in sorted(aliases)]
    try:
        present = await runtime.broker.queue_stats(wanted)
    except Exception as exc:  # any broker failure is a status to show, not a timer traceback every tick
        return QueueHealth("BrokerUnavailable", f"cannot reach the broker to check the queues: {exc}")
    missing = missing_queues(wanted, present)
    if not missing or not await runtime.swarm_lives(role):
        return QueueHealth()
    log.warning(
        "WorkerRole %s/%s: queue %s missing on the broker; declaring it again",
        role.namespace,
        role.metadata.name,
        missing[0],
    )
    problem = f"queue {', '.join(missing)} was missing on the broker (deleted?); the operator declared it again"
    try:
        await runtime.broker.declare(topology.topology(swarm_id, aliases))
    except Exception as exc:
        return QueueHealth("BrokerUnavailable", f"queue {', '.join(missing)} is missing and cannot be declared: {exc}")
    await runtime.event(events.role_ref(role), "Warning", "QueueMissing", problem)
    return QueueHealth("QueueMissing", problem)


def status_patch(
    role: WorkerRoleBody,
    *,
    generation: int,
    instances: list[rules.InstanceReport],
    pods: list[Pod],
    refused: str,
    queues: QueueHealth,
    now: float,
    now_text: str,
    pod_events: Sequence[PodEvent] = (),
) -> dict[str, Any]:
    """The WorkerRole's status from the workers' reports, its pods (and the Events about them), the policy and its
    queues; its pods' failures are merged into the ones the status remembers
    (:mod:`~hivekeeper.operator.failure_history`)."""
    seen = [failure for pod in pods for failure in pod_failures.failures(pod)]
    seen += pod_failures.from_events(pod_events, role.metadata.name, seen)
    history = failure_history.merged(list(role.status.failures), seen, now_text)
    observed = rules.Observed(
        generation=role.metadata.generation,
        desired_replicas=role.spec.replicas,
        desired_config_generation=generation,
        paused=role.spec.paused,
        now=now,
        instances=instances,
        pod_problem=pod_failures.blocking(pods) or failure_history.repeating(history, now_text),
        recent_failure=failure_history.latest(history, now_text),
        policy_problem=refused,
        queues_ready=not queues.problem,
        queue_reason=queues.reason or "BrokerUnavailable",
        queue_problem=queues.problem,
    )
    live = rules.live_instances(observed)
    return {
        "replicas": len([p for p in pods if p.alive]),
        "readyReplicas": len(live),
        "appliedGeneration": rules.applied_generation(observed),
        "tps": round(sum(r.tps for r in live), 2),
        "errors": sum(r.errors for r in live),
        "processed": sum(r.processed for r in live),
        "dropped": sum(r.dropped for r in live),
        "statusCodes": _codes(live),
        "errorKinds": counts.summed(r.error_kinds for r in live),
        "businessCodes": counts.summed(r.business_codes for r in live),
        "latencyMs": latency.recent_latency(rules.live_instances(observed)).model_dump(mode="json"),
        "instances": [i.model_dump(mode="json") for i in rules.instance_statuses(observed)],
        "restarts": pod_failures.restarts(pods),
        "failures": [f.model_dump(mode="json") for f in history],
        "conditions": [c.model_dump(mode="json") for c in rules.conditions(observed, role.status.conditions, now_text)],
    }


def _codes(instances: list[rules.InstanceReport]) -> dict[str, int]:
    total: dict[str, int] = {}
    for instance in instances:
        for code, n in instance.status_codes.items():
            total[code] = total.get(code, 0) + n
    return dict(sorted(total.items()))


async def roll_up_role(runtime: Runtime, role: WorkerRoleBody) -> None:
    """Fold the workers' last reports into the WorkerRole's status; re-send config to instances behind."""
    swarm_id = naming.swarm_id(role.spec.swarmRef, role.namespace)
    observations, clock = runtime.observations, runtime.clock
    await runtime.manage(swarm_id, role)
    pods = await runtime.cluster.pods(role.namespace, role.spec.swarmRef, role.role)
    alive = {p.name for p in pods if p.alive}
    reported = {r.name for r in observations.instances(swarm_id, role.role)}
    if clock.monotonic() - runtime.started < runtime.timing.startup_grace and not alive <= reported:
        return  # a restarted operator has not heard from every worker yet: keep the last status, don't flap
    observations.forget(swarm_id, role.role, keep={n for n in alive if n})
    target = target_generation(role)
    refused = "; ".join(policy.violations(role.spec, runtime.policy))
    if not refused and not target.unpushed:
        for instance in observations.behind(swarm_id, role.role, target.generation):
            data = resend_data(role, target.generation)
            await runtime.push_config(swarm_id, role.role, instance, data, reason="resend")
    queues = await queue_health(runtime, role)
    patch = status_patch(
        role,
        generation=target.generation,
        instances=observations.instances(swarm_id, role.role),
        pods=pods,
        refused=refused,
        queues=queues,
        now=clock.monotonic(),
        now_text=clock.utc_text(),
        pod_events=await runtime.pod_disruptions(role.namespace),
    )
    key = ("WorkerRole", role.namespace, role.metadata.name)
    if runtime.status_writes.due(key, role.status.model_dump(mode="json", exclude_unset=True), patch):
        await runtime.cluster.patch_workerrole_status(role.namespace, role.metadata.name, patch)
        runtime.status_writes.written(key)
    await config_events.say_role(runtime, role, patch, target.generation)
