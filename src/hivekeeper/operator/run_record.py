"""A cluster run's recording, carried through the roll-up ticks: found (in memory, or picked up from its
ConfigMap after an operator restart), fed with the workers' reports, written to its ConfigMap at the start, about
once a minute and with the verdict, and pruned with the history (decision 0012).

:mod:`~hivekeeper.operator.run_series` does the folding and :mod:`~hivekeeper.operator.run_store` the record's
content; this module is the I/O around them, through the ports.
"""

from __future__ import annotations

import logging

from hivekeeper.api.run_status import RunStatus
from hivekeeper.operator import events, plan, run_series, run_store
from hivekeeper.operator.bodies import SwarmBody, WorkerRoleBody
from hivekeeper.operator.run_play import RunStep, parse_time
from hivekeeper.operator.runtime import Runtime
from hivekeeper.protocol import naming

log = logging.getLogger("hivekeeper.operator")


def _playing(state: RunStatus | None) -> bool:
    """Whether the run has started and has no verdict yet (Running, or ended and settling)."""
    return state is not None and state.phase == "Running" and state.startedAt is not None


async def recording_for(runtime: Runtime, swarm: SwarmBody) -> run_series.RunRecording | None:
    """The recording of the Swarm's run in progress: the one in memory, or the one its ConfigMap kept (an operator
    restarted mid-run), or a new one that adopts what it hears from now on (no record: the verdict then judges
    the worst status intervals, as its recording misses the start). None when no run is in progress."""
    run, state, uid = swarm.spec.run, swarm.status.run, swarm.metadata.uid
    if run is None or not _playing(state) or state is None or state.id != run.id or state.startedAt is None:
        runtime.recordings.pop(uid, None)
        return None
    held = runtime.recordings.get(uid)
    if held is not None and held.run_id == run.id and held.started_at == state.startedAt:
        return held
    now_mono, now_text = runtime.clock.monotonic(), runtime.clock.utc_text()
    name = run_store.configmap_name(swarm.metadata.name, run.id)
    recording: run_series.RunRecording | None = None
    try:
        data = await runtime.cluster.configmap_data(swarm.namespace, name)
        if data is not None:
            doc = run_store.read_document(name, data)
            if doc.runId == run.id and doc.startedAt == state.startedAt:
                recording = run_store.restored(doc, now_mono, now_text)
    except Exception as exc:  # unreadable or unreachable: the run goes on, judged on what is heard from now
        log.warning("swarm %s/%s: cannot pick up the record of run %s (%s)", swarm.namespace, name, run.id, exc)
    if recording is None:
        elapsed = max((parse_time(now_text) - parse_time(state.startedAt)).total_seconds(), 0.0)
        recording = run_series.RunRecording(
            run_id=run.id, started_at=state.startedAt, start=now_mono - elapsed, whole=False, adopt=True
        )
    runtime.recordings[uid] = recording
    return recording


def feed(runtime: Runtime, swarm: SwarmBody, recording: run_series.RunRecording, depths: dict[str, int]) -> None:
    """Fold every role's new reports into the recording; ``depths``: queue name → messages waiting."""
    swarm_id = plan.swarm_id(swarm)
    for role in swarm.spec.roles:
        queue = naming.work_queue(swarm_id, role.work.in_) if role.work.in_ else None
        depth = depths.get(queue) if queue else None
        recording.observe(role.name, runtime.observations.instances(swarm_id, role.name), depth)


def started(runtime: Runtime, swarm: SwarmBody, step: RunStep) -> run_series.RunRecording | None:
    """A new recording when the run started at this tick (its baseline: every instance's figures now)."""
    state, run = step.status, swarm.spec.run
    if run is None or state is None or not _playing(state) or state.startedAt is None:
        return None
    before = swarm.status.run
    if before is not None and before.id == run.id and before.phase == "Running":
        return None  # it was running before this tick: not a start
    recording = run_series.RunRecording(run_id=run.id, started_at=state.startedAt, start=runtime.clock.monotonic())
    swarm_id = plan.swarm_id(swarm)
    for role in swarm.spec.roles:
        recording.begin(role.name, runtime.observations.instances(swarm_id, role.name))
    runtime.recordings[swarm.metadata.uid] = recording
    return recording


async def write(
    runtime: Runtime,
    swarm: SwarmBody,
    children: list[WorkerRoleBody],
    recording: run_series.RunRecording,
    step: RunStep,
) -> RunStatus | None:
    """Write the run's record when due (its start, a minute since the last write, the verdict); returns the run's
    state with the record's name (``series``), or None when there is no state."""
    state, run = step.status, swarm.spec.run
    if state is None or run is None:
        return state
    name = run_store.configmap_name(swarm.metadata.name, run.id)
    state = state.model_copy(update={"series": name})
    now_mono = runtime.clock.monotonic()
    judged = state.verdict is not None
    due = recording.written_at is None or now_mono - recording.written_at >= run_store.WRITE_EVERY or judged
    if not due:
        return state
    if judged:
        recording.close()
    finished = state.finishedAt or runtime.clock.utc_text()
    elapsed = max((parse_time(finished) - parse_time(state.startedAt or finished)).total_seconds(), 0.0)
    rows = run_store.rows(step.figures or [], children, elapsed, recording)
    doc = run_store.document(swarm, run, state, recording, rows, runtime.clock.utc_text())
    try:
        await runtime.cluster.apply(run_store.manifest(swarm, doc))
    except Exception as exc:  # the record is a report, not a step the run depends on: try again next minute
        log.warning("swarm %s/%s: cannot write the record of run %s (%s)", swarm.namespace, name, run.id, exc)
        if judged:
            return state.model_copy(update={"series": None})
    recording.written_at = now_mono
    if judged:
        runtime.recordings.pop(swarm.metadata.uid, None)
    return state


async def prune(runtime: Runtime, swarm: SwarmBody, keep: set[str]) -> None:
    """Delete the Swarm's run records that neither the history nor the current run names any more."""
    namespace = swarm.namespace
    gone: list[str] = []
    try:
        names = await runtime.cluster.configmaps(namespace, run_store.record_labels(swarm.metadata.name))
        for name in names:
            if name not in keep:
                await runtime.cluster.delete_configmap(namespace, name)
                gone.append(name)
    except Exception as exc:
        log.warning("swarm %s/%s: cannot prune old run records (%s)", namespace, swarm.metadata.name, exc)
    if gone:
        message = f"deleted the run records no longer in status.runs: ConfigMap {', '.join(gone)}"
        await runtime.event(events.swarm_ref(swarm), "Normal", "DataRemoved", message)
