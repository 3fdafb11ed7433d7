"""A Swarm's status roll-up: its WorkerRoles' statuses and its queues' depths, summarised per role and in all.

:func:`swarm_status_patch` is pure; :func:`roll_up_swarm` reads the WorkerRoles and the queue depths
through the ports and writes the patch when anything changed. A missing queue is not reported here:
each WorkerRole reports (``QueuesReady``) and declares again the queues it uses.
"""

from __future__ import annotations

import logging
from typing import Any

from hivekeeper.api.run_status import RunStatus
from hivekeeper.api.status import QueueStatus, RoleStatus, Totals
from hivekeeper.operator import config_events, metrics, plan, run_apply, run_history, run_record
from hivekeeper.operator import status as rules
from hivekeeper.operator.bodies import SwarmBody, WorkerRoleBody, WorkerRoleStatusView
from hivekeeper.operator.runtime import Runtime
from hivekeeper.operator.status import InstanceReport
from hivekeeper.protocol import naming

log = logging.getLogger("hivekeeper.operator")


def queue_names(swarm: SwarmBody) -> list[str]:
    """The work queues of the swarm, sorted by alias."""
    aliases = sorted({a for r in swarm.spec.roles for a in (r.work.in_, r.work.out) if a})
    return [naming.work_queue(plan.swarm_id(swarm), alias) for alias in aliases]


def items_per_message(reports: list[InstanceReport]) -> float:
    """The mean items per message of a queue's publishers since they started (1.0 when none has sent any yet)."""
    messages = sum(r.published_messages for r in reports)
    return sum(r.published_items for r in reports) / messages if messages else 1.0


def in_items(
    swarm: SwarmBody, queues: list[QueueStatus], publishers: dict[str, list[InstanceReport]]
) -> list[QueueStatus]:
    """``queues`` (their ``messages`` as RabbitMQ counts them) with ``depth`` in items: a batch message holds many
    (decision 0013). ``publishers``: role name → its instances' last reports. A queue's mean batch size comes from
    the roles whose ``work.out`` it is."""
    swarm_id = plan.swarm_id(swarm)
    by_queue: dict[str, list[InstanceReport]] = {}
    for role in swarm.spec.roles:
        if role.work.out:
            by_queue.setdefault(naming.work_queue(swarm_id, role.work.out), []).extend(publishers.get(role.name, []))
    return [
        q.model_copy(update={"depth": round(q.messages * items_per_message(by_queue.get(q.name, [])))}) for q in queues
    ]


def swarm_status_patch(
    swarm: SwarmBody,
    children: list[WorkerRoleBody],
    queues: list[QueueStatus],
    now_text: str,
    run: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The Swarm's status from its WorkerRoles (matched to ``spec.roles`` by their role label) and its queues;
    with ``run`` (``status.run`` as the run's tick wrote it) also the run and its ``Completed`` condition, and
    ``runs`` (the history) once the run has its verdict."""
    by_role = {child.metadata.labels.get(plan.LABEL_ROLE): child.status for child in children}
    states: list[rules.ChildState] = []
    roles: list[RoleStatus] = []
    for role in swarm.spec.roles:
        status = by_role.get(role.name) or WorkerRoleStatusView()
        states.append(
            rules.ChildState(
                role=role.name, desired=role.replicas, ready=status.readyReplicas, conditions=status.conditions
            )
        )
        roles.append(
            RoleStatus(
                name=role.name,
                replicas=role.replicas,
                readyReplicas=status.readyReplicas,
                configGeneration=status.configGeneration,
                appliedGeneration=status.appliedGeneration,
                tps=status.tps,
                errors=status.errors,
                latencyMs=status.latencyMs,
                restarts=status.restarts,
                lastFailure=status.failures[0] if status.failures else None,
            )
        )
    last_stages = {r.name for r in swarm.spec.roles if not r.work.out}
    generation = swarm.metadata.generation
    totals = Totals(
        tps=round(sum(r.tps for r in roles if r.name in last_stages), 2),
        errors=sum(r.errors for r in roles),
        workers=f"{sum(s.ready for s in states)}/{sum(s.desired for s in states)}",
    )
    conditions = rules.swarm_conditions(
        states,
        paused=swarm.spec.paused,
        generation=generation,
        previous=swarm.status.conditions,
        now_text=now_text,
    )
    patch: dict[str, Any] = {
        "observedGeneration": generation,
        "roles": [r.model_dump(mode="json", exclude_none=True) for r in roles],
        "queues": [q.model_dump(mode="json") for q in queues],
        "totals": totals.model_dump(mode="json"),
    }
    if run is not None:
        state = RunStatus.model_validate({k: v for k, v in run.items() if v is not None})
        completed = run_apply.completed_condition(state, swarm.status.conditions, generation, now_text)
        conditions = [*conditions, completed] if completed is not None else conditions
        patch["run"] = run
        history = run_history.recorded(list(swarm.status.runs), state)
        if history is not None:  # the run just got its verdict: in front of the last runs
            patch["runs"] = [r.model_dump(mode="json", exclude_none=True) for r in history]
    elif swarm.spec.run is None and swarm.status.run is not None:
        patch["run"] = None  # spec.run removed: the Swarm runs on as without it, and its last run goes
    patch["conditions"] = [c.model_dump(mode="json") for c in conditions]
    return patch


async def roll_up_swarm(runtime: Runtime, swarm: SwarmBody) -> None:
    """Write the Swarm's status when it changed; nothing while it is being deleted (its queues are going away
    on purpose: nothing may declare them again)."""
    if swarm.metadata.deletionTimestamp:
        return
    metrics.ROLL_UPS.labels("Swarm").inc()
    namespace, name = swarm.namespace, swarm.metadata.name
    children = await runtime.cluster.workerroles(namespace, name)
    try:
        queues = await runtime.broker.queue_stats(queue_names(swarm))
        swarm_id = plan.swarm_id(swarm)
        publishers = {r.name: runtime.observations.instances(swarm_id, r.name) for r in swarm.spec.roles if r.work.out}
        queues = in_items(swarm, queues, publishers)
    except Exception as exc:
        log.info("swarm %s/%s: queue depths unavailable this tick (%s)", namespace, name, exc)
        queues = list(swarm.status.queues)
    run = await run_apply.play_run(runtime, swarm, children, {q.name: q.depth for q in queues})
    if swarm.spec.run is not None and run is None:
        return  # its time to live is over: deleted
    patch = swarm_status_patch(swarm, children, queues, runtime.clock.utc_text(), run)
    key = ("Swarm", namespace, name)
    if runtime.status_writes.due(key, swarm.status.model_dump(mode="json", exclude_unset=True), patch):
        await runtime.cluster.patch_swarm_status(namespace, name, patch)
        runtime.status_writes.written(key)
    await config_events.say_swarm(runtime, swarm, children)
    if "runs" in patch:  # a run got its verdict: the records the history no longer names go
        keep = {r["series"] for r in patch["runs"] if r.get("series")} | {str((run or {}).get("series") or "")}
        await run_record.prune(runtime, swarm, keep)
