"""Carrying out a Swarm's bounded run on every roll-up tick: the decisions of :mod:`~hivekeeper.operator.run_play`
applied through the ports.

Only WorkerRoles whose config or pause the run changes are applied (a staged rate that moved by more than 1 %,
producers stopped at the end or started at the start), so a steady run costs no API call beyond the roll-up's
own. The WorkerRole reconcile then pushes the new config to the running workers, as for any edit.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from hivekeeper.api.run_status import RunStatus
from hivekeeper.api.status import Condition
from hivekeeper.operator import events, plan, run_play, run_record
from hivekeeper.operator.bodies import SwarmBody, WorkerRoleBody
from hivekeeper.operator.run_series import RunLatency
from hivekeeper.operator.runtime import Runtime

log = logging.getLogger("hivekeeper.operator")


def changed_children(
    swarm: SwarmBody, children: list[WorkerRoleBody], control: run_play.RunControl
) -> list[plan.ChildPlan]:
    """The WorkerRoles the run must write now: those whose config or pause differs from what it asks."""
    current = {child.metadata.name: child for child in children}
    replicas = {name: child.spec.replicas for name, child in current.items()}
    wanted = plan.plan_children(
        swarm, uid=swarm.metadata.uid, current_replicas=replicas, stopped=control.stopped, rates=control.rates
    )
    out = []
    for child in wanted:
        held = current.get(child.name)
        if held is None:
            continue  # not created yet: the Swarm's reconcile creates it, with the run's control
        if held.spec.config != child.config or held.spec.paused != child.manifest["spec"]["paused"]:
            out.append(child)
    return out


def completed_condition(
    state: RunStatus | None, previous: list[Condition], generation: int, now_text: str
) -> Condition | None:
    """``Completed``: True once the run ended (reason Passed or Failed, the verdict's reason as message);
    False while it is Pending or Running. None for a Swarm without a run."""
    if state is None:
        return None
    done = state.phase in ("Succeeded", "Failed")
    value = "True" if done else "False"
    reason: str = state.phase
    if done and state.verdict is not None:
        reason = state.verdict.result
        message = f"run {state.id} {reason.lower()}: {state.verdict.reason}"
    else:
        message = f"run {state.id} is {state.phase.lower()}" + (
            "" if state.phase == "Running" else ": waiting for every worker to report"
        )
        if state.endedBecause is not None:
            reason = "Ending"
            message = f"run {state.id} ended ({state.endedBecause}); the verdict follows the workers' last figures"
    old = next((c for c in previous if c.type == "Completed"), None)
    since = old.lastTransitionTime if old is not None and old.status == value and old.reason == reason else now_text
    return Condition(
        type="Completed",
        status=value,
        reason=reason,
        message=message[:1024],
        lastTransitionTime=since,
        observedGeneration=generation,
    )


async def play_run(
    runtime: Runtime, swarm: SwarmBody, children: list[WorkerRoleBody], depths: dict[str, int] | None = None
) -> dict[str, Any] | None:
    """One tick of the Swarm's run: fold the workers' reports into the run's recording, apply what the run asks
    of the WorkerRoles, write the run's record when due, emit the Event when it just ended, delete the Swarm
    whose time to live is over. ``depths``: queue name → messages waiting. Returns ``status.run`` to write
    (None: no run)."""
    now_text = runtime.clock.utc_text()
    recording = await run_record.recording_for(runtime, swarm)
    measured: dict[str, RunLatency] = {}
    if recording is not None:
        run_record.feed(runtime, swarm, recording, depths or {})
        measured = {r.name: known for r in swarm.spec.roles if (known := recording.latency(r.name)) is not None}
    step = run_play.plan_run(swarm, children, run_play.parse_time(now_text), measured)
    if swarm.spec.run is None:
        return None
    namespace, name = swarm.namespace, swarm.metadata.name
    if step.delete:
        log.info(
            "swarm %s/%s: its run finished %s ago; deleting it (ttlSecondsAfterFinished)",
            namespace,
            name,
            dt.timedelta(seconds=swarm.spec.run.ttlSecondsAfterFinished or 0),
        )
        await runtime.cluster.delete_swarm(namespace, name)
        return None
    for child in changed_children(swarm, children, step.control):
        await runtime.cluster.apply(child.manifest)
    if step.event is not None:
        event = step.event
        log.info("swarm %s/%s: %s", namespace, name, event.message)
        await runtime.event(events.swarm_ref(swarm), event.type, event.reason, event.message)
    recording = recording or run_record.started(runtime, swarm, step)
    state = step.status
    if recording is not None:
        state = await run_record.write(runtime, swarm, children, recording, step)
    return run_play.status_dump(state, swarm.status.run) if state is not None else None
