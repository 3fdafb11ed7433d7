"""A Swarm's reconcile and deletion: which WorkerRoles to apply, in which order, and what goes when it is deleted.

The decisions are pure functions (:func:`plan_swarm`, :func:`plan_deletion`, :func:`all_applied`,
:func:`still_enabled`); :func:`reconcile_swarm` and :func:`delete_swarm` carry them out through the
:class:`~hivekeeper.operator.ports.Cluster` and :class:`~hivekeeper.operator.ports.Broker` ports.

Order matters twice:

- **Pause and resume.** Consumers are resumed before producers, and producers paused before consumers,
  so that no queue fills while nobody reads it: the first group is applied and awaited (bounded) before
  the second is applied. Any other edit goes to every role at once.
- **Deletion.** The workers are stopped first (a worker still publishing would declare a queue that was
  just deleted), then the queues go, unless ``deletionPolicy: Retain`` or the escape-hatch annotation.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from hivekeeper.operator import config_events, events, plan, run_play, topology
from hivekeeper.operator.bodies import SwarmBody, WorkerRoleBody
from hivekeeper.operator.errors import RetryLater
from hivekeeper.operator.events import Note
from hivekeeper.operator.observations import Observations
from hivekeeper.operator.pods import Pod
from hivekeeper.operator.runtime import Runtime
from hivekeeper.protocol import naming

log = logging.getLogger("hivekeeper.operator")

FINALIZER = "hivekeeper.io/queue-cleanup"
"""The finalizer that holds a Swarm until :func:`delete_swarm` has dealt with its queues (kopf's, named so)."""
SKIP_CLEANUP = "hivekeeper.io/skip-queue-cleanup"
"""Annotate a Swarm with this set to "true" to let its deletion finish without deleting queues (an escape
hatch for when the broker is gone for good)."""


@dataclass(frozen=True)
class SwarmPlan:
    """What one reconcile of a Swarm applies and deletes, in order."""

    first: list[plan.ChildPlan]
    """Applied first (all at once)."""
    second: list[plan.ChildPlan]
    """Applied after the first group (all at once)."""
    wait_for_first: bool
    """Wait until the first group's workers run their new config before applying the second (a pause or
    resume); otherwise the second group follows at once."""
    orphans: list[str]
    """WorkerRoles the Swarm owns but no longer lists: deleted last."""


def plan_swarm(
    swarm: SwarmBody, existing: list[WorkerRoleBody], control: run_play.RunControl | None = None
) -> SwarmPlan:
    """The WorkerRoles of ``swarm`` split into the two groups a pause or resume needs, and the orphans.

    ``control`` is what the Swarm's bounded run asks of its roles now (stopped producers, staged rates), so
    that an edit of the Swarm during a run neither restarts stopped producers nor resets a staged rate."""
    control = control or run_play.RunControl()
    current = {role.metadata.name: role.spec.replicas for role in existing}
    children = plan.plan_children(
        swarm, uid=swarm.metadata.uid, current_replicas=current, stopped=control.stopped, rates=control.rates
    )
    by_name = {child.name: child for child in children}
    consumers = [by_name[plan.workerrole_name(swarm, r)] for r in swarm.spec.roles if r.work.in_]
    producers = [by_name[plan.workerrole_name(swarm, r)] for r in swarm.spec.roles if not r.work.in_]
    first, second = (producers, consumers) if swarm.spec.paused else (consumers, producers)
    return SwarmPlan(
        first=first,
        second=second,
        wait_for_first=any(
            role.metadata.name in by_name and role.spec.paused != by_name[role.metadata.name].manifest["spec"]["paused"]
            for role in existing
        ),
        orphans=plan.orphans([role.metadata.name for role in existing], children),
    )


def all_applied(children: list[plan.ChildPlan], roles: list[WorkerRoleBody]) -> bool:
    """Whether every child's workers acknowledged the config the child plan carries."""
    statuses = {role.metadata.name: role.status for role in roles}
    for child in children:
        status = statuses.get(child.name)
        if status is None or status.configDigest != child.digest:
            return False
        if status.appliedGeneration != status.configGeneration:
            return False
    return True


def _role_of(child: plan.ChildPlan) -> str:
    return str(child.manifest["metadata"]["labels"][plan.LABEL_ROLE])


def _roles(names: list[str]) -> str:
    return ("role " if len(names) == 1 else "roles ") + ", ".join(names)


def config_changed(decided: SwarmPlan, existing: list[WorkerRoleBody]) -> list[plan.ChildPlan]:
    """The existing WorkerRoles whose config this reconcile changes (a pause alone is not a config change)."""
    held = {role.metadata.name: role for role in existing}
    return [c for c in [*decided.first, *decided.second] if c.name in held and held[c.name].spec.config != c.config]


def reconcile_notes(
    swarm: SwarmBody, existing: list[WorkerRoleBody], decided: SwarmPlan, *, late_after: float | None = None
) -> list[Note]:
    """What a reconcile that carried out ``decided`` says on the Swarm: WorkerRoles created, scaled and deleted, a
    new config written into them, a pause or a resume (``late_after``: the seconds its first group was waited for in
    vain; None when it applied the change in time)."""
    ref = events.swarm_ref(swarm)
    held = {role.metadata.name: role for role in existing}
    notes = []
    for child in [*decided.first, *decided.second]:
        replicas = child.manifest["spec"]["replicas"]
        before = held.get(child.name)
        if before is None:
            message = f"created WorkerRole {child.name} (role {_role_of(child)}, {events.counted(replicas, 'replica')})"
            notes.append(Note(ref, "Normal", "Created", message))
        elif before.spec.replicas != replicas:
            message = (
                f"scaled role {_role_of(child)} from {before.spec.replicas} to {events.counted(replicas, 'replica')}"
            )
            notes.append(Note(ref, "Normal", "Scaled", message))
    changed = sorted(_role_of(child) for child in config_changed(decided, existing))
    if changed:
        message = (
            f"new config of {_roles(changed)} (Swarm generation {swarm.metadata.generation}) written to "
            "their WorkerRoles: their workers get it live, the pods stay"
        )
        notes.append(Note(ref, "Normal", "ConfigPushed", message))
    if decided.wait_for_first:
        first = ", ".join(_role_of(c) for c in decided.first) or "none"
        second = ", ".join(_role_of(c) for c in decided.second) or "none"
        if swarm.spec.paused:
            message = f"paused the producers ({first}) first, then the consumers ({second})"
            notes.append(Note(ref, "Normal", "Paused", message))
        else:
            message = f"resumed the consumers ({first}) first, then the producers ({second})"
            notes.append(Note(ref, "Normal", "Resumed", message))
        if late_after is not None:
            message = f"{first} did not apply the change within {late_after:.0f}s; went on with {second}"
            notes.append(Note(ref, "Warning", "OrderingTimedOut", message))
    for orphan in decided.orphans:
        message = f"deleted WorkerRole {orphan}: its role is no longer in spec.roles"
        notes.append(Note(ref, "Normal", "Deleted", message))
    return notes


async def reconcile_swarm(runtime: Runtime, swarm: SwarmBody) -> None:
    """Apply the Swarm's WorkerRoles (in pause/resume order when ``paused`` changes) and delete orphans."""
    cluster = runtime.cluster
    existing = await cluster.workerroles(swarm.namespace, swarm.metadata.name)
    now = run_play.parse_time(runtime.clock.utc_text())
    decided = plan_swarm(swarm, existing, run_play.plan_run(swarm, existing, now).control)
    await asyncio.gather(*(cluster.apply(child.manifest) for child in decided.first))
    in_time = True
    if decided.wait_for_first:
        in_time = await _until_applied(runtime, swarm, decided.first)
    await asyncio.gather(*(cluster.apply(child.manifest) for child in decided.second))
    for orphan in decided.orphans:
        await cluster.delete_workerrole(swarm.namespace, orphan)
    changed = config_changed(decided, existing)
    if changed:
        config_events.swarm_pushed(runtime, swarm, changed)
    late_after = None if in_time else runtime.timing.ordering_timeout
    for note in reconcile_notes(swarm, existing, decided, late_after=late_after):
        await runtime.event(note.involved, note.type, note.reason, note.message)


async def _until_applied(runtime: Runtime, swarm: SwarmBody, children: list[plan.ChildPlan]) -> bool:
    """Wait (bounded) until every child's workers run the config the child plan carries; False when they did not
    within ``timing.ordering_timeout``."""
    if not children:
        return True
    timing, clock = runtime.timing, runtime.clock
    deadline = clock.monotonic() + timing.ordering_timeout
    while clock.monotonic() < deadline:
        if all_applied(children, await runtime.cluster.workerroles(swarm.namespace, swarm.metadata.name)):
            return True
        await clock.sleep(timing.ordering_poll)
    log.warning(
        "%d role(s) did not apply their config within %.0fs; continuing", len(children), timing.ordering_timeout
    )
    return False


@dataclass(frozen=True)
class DeletionPlan:
    """What deleting a Swarm does before its finalizer goes (its WorkerRoles go by owner reference)."""

    keep_queues: str
    """Why the queues stay ('' when they are deleted): ``Retain`` or the skip annotation."""
    paused_children: list[plan.ChildPlan]
    """The WorkerRoles applied paused first: level-based, so a pod starting meanwhile is paused too."""
    roles: list[str]
    """The roles whose workers must report themselves disabled before the queues go."""
    topology: topology.Topology
    """The exchange and queues to delete."""


def plan_deletion(swarm: SwarmBody) -> DeletionPlan:
    """Stop the workers, then delete the queues, unless the Swarm keeps them."""
    keep = ""
    if swarm.spec.deletionPolicy == "Retain":
        keep = "deletionPolicy: Retain"
    elif swarm.metadata.annotations.get(SKIP_CLEANUP) == "true":
        keep = SKIP_CLEANUP
    paused = swarm.model_copy(update={"spec": swarm.spec.model_copy(update={"paused": True})})
    aliases = {a for r in swarm.spec.roles for a in (r.work.in_, r.work.out) if a}
    return DeletionPlan(
        keep_queues=keep,
        paused_children=plan.plan_children(paused, uid=swarm.metadata.uid),
        roles=[r.name for r in swarm.spec.roles],
        topology=topology.topology(plan.swarm_id(swarm), aliases),
    )


def still_enabled(pods: list[Pod], observations: Observations, swarm_id: str, role: str) -> list[str]:
    """The pods of ``role`` whose worker has not reported itself disabled (or not reported at all)."""
    reports = {r.name: r for r in observations.instances(swarm_id, role)}
    pending = []
    for pod in pods:
        report = reports.get(pod.name)
        if report is None or report.enabled:
            pending.append(pod.name)
    return pending


async def delete_swarm(runtime: Runtime, swarm: SwarmBody, *, attempt: int) -> None:
    """Pause the workers, wait until they say so, delete the queues; :class:`RetryLater` while the broker
    fails, until ``timing.cleanup_attempts`` (``attempt`` counts from 0), then give up and keep them. Each step is
    an Event on the Swarm; the last says the finalizer goes."""
    decided = plan_deletion(swarm)
    namespace, name = swarm.namespace, swarm.metadata.name
    ref = events.swarm_ref(swarm)
    if decided.keep_queues:
        if decided.keep_queues == SKIP_CLEANUP:
            log.warning("swarm %s/%s: queues left in place (%s)", namespace, name, SKIP_CLEANUP)
        await runtime.event(ref, "Normal", "QueuesRetained", f"the queues stay on the broker ({decided.keep_queues})")
        await runtime.event(ref, "Normal", "FinalizerReleased", _RELEASED)
        return
    try:
        for child in decided.paused_children:
            await runtime.cluster.apply(child.manifest)
        await runtime.broker.signal(plan.swarm_id(swarm), naming.ALL, naming.ALL, {"enabled": False})
        pending = await _until_disabled(runtime, swarm, decided.roles)
        if pending:
            message = (
                f"{events.counted(len(pending), 'worker')} still enabled after {runtime.timing.disable_timeout:.0f}s "
                f"({', '.join(pending[:5])}); deleting the queues anyway"
            )
            await runtime.event(ref, "Warning", "WorkersStillEnabled", message)
        await runtime.broker.delete(decided.topology)
    except Exception as exc:
        if attempt + 1 >= runtime.timing.cleanup_attempts:
            log.error(
                "swarm %s/%s: gave up deleting its queues after %d attempts (%s); they stay on the broker",
                namespace,
                name,
                attempt + 1,
                exc,
            )
            message = f"gave up deleting the queues after {attempt + 1} attempts ({exc}); they stay on the broker"
            await runtime.event(ref, "Warning", "QueueCleanupAbandoned", message)
            await runtime.event(ref, "Normal", "FinalizerReleased", _RELEASED)
            return
        retry = RetryLater(
            f"cannot delete the swarm's queues yet ({exc}); retrying. To finish without them, annotate the "
            f"Swarm with {SKIP_CLEANUP}=true",
            delay=runtime.timing.cleanup_retry_delay,
        )
        await runtime.event(ref, "Warning", "QueueCleanupFailed", str(retry))
        raise retry from exc
    await runtime.event(ref, "Normal", "QueuesDeleted", _deleted(decided.topology))
    await runtime.event(ref, "Normal", "FinalizerReleased", _RELEASED)


_RELEASED = (
    f"cleanup done: the finalizer {FINALIZER} goes, and with it the Swarm; its WorkerRoles, Deployments and run "
    "records follow by owner reference"
)


def _deleted(gone: topology.Topology) -> str:
    names = [queue.name for queue in gone.queues]
    shown = ", ".join(names[:10]) + (f" and {len(names) - 10} more" if len(names) > 10 else "")
    return f"deleted the swarm's work exchange and its {events.counted(len(names), 'queue')}: {shown or 'none'}"


async def _until_disabled(runtime: Runtime, swarm: SwarmBody, roles: list[str]) -> list[str]:
    """Wait (bounded) until the worker of every existing pod of the swarm has reported itself disabled; the pods
    whose worker still had not when the time was up."""
    swarm_id, namespace, name = plan.swarm_id(swarm), swarm.namespace, swarm.metadata.name
    timing, clock = runtime.timing, runtime.clock
    deadline = clock.monotonic() + timing.disable_timeout
    pending: list[str] = []
    while clock.monotonic() < deadline:
        pending = []
        for role in roles:
            pods = await runtime.cluster.pods(namespace, name, role)
            pending += still_enabled(pods, runtime.observations, swarm_id, role)
        if not pending:
            return []
        await clock.sleep(timing.disable_poll)
    log.warning(
        "swarm %s/%s: workers still enabled after %.0fs; deleting its queues anyway",
        namespace,
        name,
        timing.disable_timeout,
    )
    return pending
