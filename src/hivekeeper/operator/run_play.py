"""``spec.run`` played on the cluster (pure): when a run starts and ends, the input rate each staged role runs at,
which roles the run holds stopped, the verdict, the Event, and when a finished Swarm goes.

The Swarm's 2-second roll-up calls :func:`plan_run` with the Swarm, its WorkerRoles and the time; the answer is
carried out by :mod:`~hivekeeper.operator.run_apply`. Everything here is level-based: the run's state lives in
``status.run`` (written by the roll-up), so a restarted operator picks the run up where it was.

- **Pending** until every role has its workers reporting (a run must not spend its minutes pulling images);
  the producing roles (no ``work.in``) are held stopped meanwhile, so no load reaches the SUT before the start.
  Then the producers are released at their start rate, and the run starts once their workers acknowledged it.
- **Running** from ``startedAt``: each staged role gets the rate :func:`~hivekeeper.api.run.rate_at` gives for
  the time elapsed, written into its WorkerRole's config (the WorkerRole reconcile pushes it live); a rate that
  moved by 1 % or less of the one the WorkerRole holds is not written (bounded API traffic).
- **Succeeded / Failed** once the duration is over, the item budget is made, or (``abort.onFail``) a threshold
  fails after ``graceSeconds``: the producers are stopped (Stop, not Remove: consumers drain, pods, queues and
  data stay) and the verdict is judged on the figures of the WorkerRoles' statuses, with each role's latency over
  the whole run from the run's recording (``measured``, :mod:`~hivekeeper.operator.run_series`).

A new ``spec.run.id`` starts the run again (Pending, then Running), without deleting anything.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from hivekeeper.api.run import RATE_BLOCKS, RunSpec, mean_rate, rate_at, rate_input
from hivekeeper.api.run_status import RunCounters, RunStatus
from hivekeeper.api.verdict import Figures, RoleFigures, Verdict, judge, verdict
from hivekeeper.operator import plan
from hivekeeper.operator.bodies import SwarmBody, WorkerRoleBody
from hivekeeper.operator.plan import LABEL_ROLE
from hivekeeper.operator.run_series import RunLatency

RATE_TOLERANCE = 0.01
"""A staged rate is written only when it moved by more than this fraction of the rate the WorkerRole holds."""
LOOK_AHEAD = 1.0
"""Seconds ahead of now the staged rate is taken at: the rate written holds until the next roll-up (2 s), so
the rate of the middle of that interval follows a ramp best."""
SETTLE_SECONDS = 8.0
"""After the end, the verdict waits this long for the workers' last figures: a worker reports every 5 s, and a
roll-up every 2 s folds the reports into its WorkerRole's status."""


def parse_time(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def time_text(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class RunControl:
    """What the run asks of the Swarm's WorkerRoles now (empty: the Swarm runs as its spec says)."""

    stopped: frozenset[str] = frozenset()
    """Roles the run holds paused: the producers while Pending and after the end."""
    rates: dict[str, tuple[str, float]] = field(default_factory=dict)
    """Staged role → (the ``inputs`` block holding its rate, the rate it should run at)."""


@dataclass(frozen=True)
class RunEvent:
    """A Kubernetes Event about the Swarm."""

    type: Literal["Normal", "Warning"]
    reason: str
    message: str


@dataclass(frozen=True)
class RunStep:
    """One look at the run: its new status (None: no run), what the children should do, an Event to emit
    (when the run just ended), and whether the Swarm's time to live is over."""

    status: RunStatus | None
    control: RunControl = field(default_factory=RunControl)
    event: RunEvent | None = None
    delete: bool = False
    figures: list[RoleFigures] | None = None
    """The run's figures as judged at this look (None: not Running); the run's record shows them."""


def producers(swarm: SwarmBody) -> frozenset[str]:
    return frozenset(r.name for r in swarm.spec.roles if not r.work.in_)


def _by_role(children: list[WorkerRoleBody]) -> dict[str, WorkerRoleBody]:
    return {child.metadata.labels.get(LABEL_ROLE) or child.metadata.name: child for child in children}


def all_reporting(swarm: SwarmBody, children: list[WorkerRoleBody]) -> bool:
    """Whether every role's WorkerRole exists and has as many workers reporting as it asks for."""
    by_role = _by_role(children)
    for role in swarm.spec.roles:
        child = by_role.get(role.name)
        if child is None or child.status.readyReplicas < role.replicas:
            return False
    return True


def producers_running(swarm: SwarmBody, children: list[WorkerRoleBody], control: RunControl) -> bool:
    """Whether every producer's WorkerRole holds the config ``control`` asks (enabled, at its staged rate) and its
    workers acknowledged it: the run's clock starts then, not when the operator asked (a push takes a moment,
    which would count against a short run's achieved rate)."""
    wanted = plan.plan_children(swarm, uid=swarm.metadata.uid, stopped=control.stopped, rates=control.rates)
    by_name = {child.metadata.name: child for child in children}
    for child in wanted:
        if child.manifest["metadata"]["labels"][LABEL_ROLE] not in producers(swarm):
            continue
        held = by_name.get(child.name)
        if held is None or held.spec.paused or held.spec.config != child.config:
            return False
        status = held.status  # the digest as the WorkerRole reconcile computes it: from the config as stored
        digest = plan.config_digest(dict(held.spec.config), True)
        if status.configDigest != digest or status.appliedGeneration != status.configGeneration:
            return False
    return True


def counters(children: list[WorkerRoleBody]) -> dict[str, RunCounters]:
    """Each role's counters now (since its workers started): the baseline of a run that starts now."""
    return {
        role: RunCounters(
            processed=child.status.processed,
            errors=child.status.errors,
            dropped=child.status.dropped,
            statusCodes=dict(child.status.statusCodes),
        )
        for role, child in _by_role(children).items()
    }


def _since(now: int, before: int) -> int:
    """A counter's growth since the run started; a counter that went down (a worker restarted) counts whole."""
    return now - before if now >= before else now


def worst_latency(held: dict[str, dict[str, float]], children: list[WorkerRoleBody]) -> dict[str, dict[str, float]]:
    """``held`` (role → p50/p95/p99 in ms) with each percentile raised to what the roles' statuses show now (their
    last status interval, merged over the live instances): the worst interval of the run, an upper bound of the
    whole run's percentile."""
    out = {role: dict(values) for role, values in held.items()}
    for role, child in _by_role(children).items():
        now = child.status.latencyMs
        values = out.setdefault(role, {})
        for name, value in (("p50", now.p50), ("p95", now.p95), ("p99", now.p99)):
            if value > values.get(name, 0.0):
                values[name] = value
    return {role: values for role, values in out.items() if values}


def figures(
    swarm: SwarmBody,
    children: list[WorkerRoleBody],
    state: RunStatus,
    elapsed: float,
    measured: Mapping[str, RunLatency] | None = None,
) -> list[RoleFigures]:
    """Each role's figures over the run: the counters of its WorkerRole's status since the run's start; the
    latency of the whole run (``measured``: the run's recording, its steps' too) or, for a role it does not
    hold (an operator restarted without the run's record), the worst status interval of the run
    (``state.latencyMs``, see :func:`worst_latency`)."""
    run, baseline = swarm.spec.run, state.baseline
    by_role = _by_role(children)
    out = []
    for role in swarm.spec.roles:
        child = by_role.get(role.name)
        if child is None:
            out.append(RoleFigures(role=role.name, kind=role.role))
            continue
        status, before = child.status, baseline.get(role.name, RunCounters())
        codes = {
            code: _since(n, before.statusCodes.get(code, 0))
            for code, n in status.statusCodes.items()
            if _since(n, before.statusCodes.get(code, 0))
        }
        processed = _since(status.processed, before.processed)
        whole = (measured or {}).get(role.name)
        latency = whole.role if whole is not None else state.latencyMs.get(role.name, {})
        steps = {step: Figures(latencyMs=values) for step, values in whole.steps.items()} if whole else {}
        stages = next((s for s in run.stages if s.role == role.name), None) if run else None
        target = mean_rate(stages, elapsed) if stages is not None else None
        out.append(
            RoleFigures(
                role=role.name,
                kind=role.role,
                processed=processed,
                errors=_since(status.errors, before.errors),
                dropped=_since(status.dropped, before.dropped),
                statusCodes=codes,
                latencyMs=dict(latency) if processed else {},
                targetRate=target,
                achievedRate=processed / elapsed if target is not None and elapsed > 0 else None,
                steps=steps,
            )
        )
    return out


def current_rate(child: WorkerRoleBody | None, input_type: str) -> float | None:
    """The rate the WorkerRole's config holds now (None when it holds none)."""
    if child is None:
        return None
    inputs = child.spec.config.get("inputs")
    block = inputs.get(rate_block(input_type)) if isinstance(inputs, dict) else None
    rate = block.get("ratePerSec") if isinstance(block, dict) else None
    return float(rate) if isinstance(rate, int | float) and not isinstance(rate, bool) else None


def rate_block(input_type: str) -> str:
    """The config block under ``inputs`` that holds the rate of ``input_type``."""
    return RATE_BLOCKS[input_type]


def staged_rates(swarm: SwarmBody, children: list[WorkerRoleBody], elapsed: float) -> dict[str, tuple[str, float]]:
    """Each staged role's rate ``elapsed`` seconds into the run, or the rate its WorkerRole holds when that is
    within :data:`RATE_TOLERANCE` of it (the WorkerRole is then left alone)."""
    run, by_role = swarm.spec.run, _by_role(children)
    kinds = {r.name: (r.role, r.config) for r in swarm.spec.roles}
    out: dict[str, tuple[str, float]] = {}
    for stage in run.stages if run else []:
        input_type = rate_input(*kinds[stage.role]) if stage.role in kinds else None
        if input_type is None:
            continue
        wanted = round(rate_at(stage, elapsed + LOOK_AHEAD), 6)
        held = current_rate(by_role.get(stage.role), input_type)
        if held is not None and abs(wanted - held) <= RATE_TOLERANCE * held:
            wanted = held
        out[stage.role] = (rate_block(input_type), wanted)
    return out


def why_it_ends(run: RunSpec, figures_now: list[RoleFigures], made: int, elapsed: float) -> str | None:
    """Why the run is over now (None: it goes on)."""
    end = run.seconds
    if end is not None and elapsed >= end:
        return f"the run's {end:g} s are over"
    if run.maxItems is not None and made >= run.maxItems:
        return f"the item budget of {run.maxItems:,} is made"
    if run.abort.onFail and elapsed >= run.abort.graceSeconds:
        by_role = {f.role: f for f in figures_now}
        failing = [
            r.message for r in (judge(t, by_role) for t in run.thresholds) if not r.passed and r.observed is not None
        ]
        if failing:
            return f"aborted after {elapsed:.0f} s: {failing[0]}"
    return None


def event_of(run_id: str, judged: Verdict) -> RunEvent:
    failed = [r.message for r in judged.thresholds if not r.passed]
    if judged.passed:
        return RunEvent("Normal", "RunPassed", f"run {run_id} passed: {judged.reason}")
    detail = "; ".join(failed) if failed else judged.reason
    return RunEvent("Warning", "RunFailed", f"run {run_id} failed: {detail}"[:1024])


def _start(swarm: SwarmBody, children: list[WorkerRoleBody], state: RunStatus, now: dt.datetime) -> RunStep | RunStatus:
    """A pending run: what to do while it waits (a step), or its state as it starts now."""
    if swarm.spec.paused or not all_reporting(swarm, children):
        return RunStep(status=state, control=RunControl(stopped=producers(swarm)))
    released = RunControl(rates=staged_rates(swarm, children, 0.0))
    if not producers_running(swarm, children, released):
        return RunStep(status=state, control=released)
    return state.model_copy(update={"phase": "Running", "startedAt": time_text(now), "baseline": counters(children)})


def plan_run(
    swarm: SwarmBody,
    children: list[WorkerRoleBody],
    now: dt.datetime,
    measured: Mapping[str, RunLatency] | None = None,
) -> RunStep:
    """The run's next step (see the module docstring); ``measured``: each role's latency over the run so far
    (the operator's recording of it), where known."""
    run, state = swarm.spec.run, swarm.status.run
    if run is None:
        return RunStep(status=state)
    if state is None or state.id != run.id:
        state = RunStatus(id=run.id)
    stop = producers(swarm)
    if state.phase == "Pending":
        waiting = _start(swarm, children, state, now)
        if isinstance(waiting, RunStep):
            return waiting
        state = waiting
    if state.phase == "Running" and state.finishedAt is None:
        elapsed = max((now - parse_time(state.startedAt or time_text(now))).total_seconds(), 0.0)
        state = state.model_copy(update={"latencyMs": worst_latency(state.latencyMs, children)})
        now_figures = figures(swarm, children, state, elapsed, measured)
        made = sum(f.processed for f in now_figures if f.role in stop)
        ended = why_it_ends(run, now_figures, made, elapsed)
        if ended is None:
            control = RunControl(rates=staged_rates(swarm, children, elapsed))
            return RunStep(status=state, control=control, figures=now_figures)
        state = state.model_copy(update={"finishedAt": time_text(now), "endedBecause": ended})
    if state.phase == "Running":  # ended: the items in the queues at the end drain meanwhile, and count
        state = state.model_copy(update={"latencyMs": worst_latency(state.latencyMs, children)})
        finished = parse_time(state.finishedAt or time_text(now))
        elapsed = max((finished - parse_time(state.startedAt or time_text(now))).total_seconds(), 0.0)
        end_figures = figures(swarm, children, state, elapsed, measured)
        if (now - finished).total_seconds() < SETTLE_SECONDS:
            return RunStep(status=state, control=RunControl(stopped=stop), figures=end_figures)
        judged = verdict(run, end_figures)
        made = sum(f.processed for f in end_figures if f.role in stop)
        update = {"phase": "Succeeded" if judged.passed else "Failed", "verdict": judged, "items": made}
        state = state.model_copy(update=update)
        event = event_of(run.id, judged)
        return RunStep(status=state, control=RunControl(stopped=stop), event=event, figures=end_figures)
    ttl = run.ttlSecondsAfterFinished
    expired = (
        ttl is not None
        and state.finishedAt is not None
        and now >= parse_time(state.finishedAt) + dt.timedelta(seconds=ttl)
    )
    return RunStep(status=state, control=RunControl(stopped=stop), delete=expired)


def status_dump(state: RunStatus, held: RunStatus | None) -> dict[str, Any]:
    """``status.run`` as a merge patch: the fields ``state`` has, and null for those ``held`` (the stored
    ``status.run``) has and ``state`` no longer has (a run started again drops the last run's end and verdict)."""
    dump = state.model_dump(mode="json", exclude_none=True)
    for empty in [key for key in ("baseline", "latencyMs") if not dump[key]]:
        del dump[empty]
    stored = held.model_dump(mode="json", exclude_none=True) if held is not None else {}
    for key, value in stored.items():
        if key not in dump and value not in (None, {}):
            dump[key] = None
    return dump
