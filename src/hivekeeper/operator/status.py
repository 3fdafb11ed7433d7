"""Status (pure): conditions and figures of a WorkerRole from what the operator observed.

One function per condition, each from observed facts and the previous condition to a new one, with
a CamelCase reason and a sentence (the RabbitMQ operators' ``status/`` package is the model). The
previous condition matters only for ``lastTransitionTime``: it moves when the status changes, not
on every patch, so GitOps tools and ``kubectl wait`` see stable objects.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hivekeeper.api.status import Condition, InstanceStatus, IoState
from hivekeeper.protocol.latency import LatencyHistogram, LatencyReport

STALE_AFTER_SECONDS = 20.0
"""An instance silent for this long (four status intervals) no longer counts as ready."""


@dataclass(frozen=True)
class InstanceReport:
    """The last thing one worker said about itself (from status-full/delta and outcomes)."""

    name: str
    enabled: bool
    config_generation: int
    seen_at: float
    seen_at_text: str = ""
    tps: float = 0.0
    errors: int = 0
    processed: int = 0
    dropped: int = 0
    status_codes: dict[str, int] = field(default_factory=dict)
    """HTTP answers by status code since it started (bounded: :data:`~hivekeeper.operator.reports.MAX_CODES`)."""
    error_kinds: dict[str, int] = field(default_factory=dict)
    """Errors by kind since it started (``connect``, ``tcp-timeout``, ``business``, ...; bounded)."""
    business_codes: dict[str, int] = field(default_factory=dict)
    """Answers by business code (its ``resultRules``) since it started (bounded)."""
    dimensions: dict[str, dict[str, int]] = field(default_factory=dict)
    """Answers by each result-rule dimension's value since it started (bounded)."""
    io_input: str = "unknown"
    io_output: str = "unknown"
    rejected_generation: int | None = None
    rejected_reason: str = ""
    latency_ms: tuple[float, float, float] | None = None
    """(p50, p95, p99) of its requests over its last status interval, as it reported them; None for roles
    that send none. Used only when no instance sends a histogram (``operator/latency.py``)."""
    latency_since_start: LatencyReport | None = None
    """Its latency histograms since it started (the role's and its steps'), as last reported."""
    latency_window: LatencyHistogram | None = None
    """The role's requests between its previous report and this one; None when unknown (first report heard,
    or the worker restarted)."""
    latency_baseline: LatencyHistogram | None = None
    """The role's histogram at its last status-delta (or first report): where the next window starts."""
    published_messages: int = 0
    """Messages its RabbitMQ output sent since it started (a batch counts once); 0 when unknown."""
    published_items: int = 0
    """Items those messages carried."""
    latency_known: bool = True
    """False when this report's histograms were not kept (it waited for its role to become managed)."""


@dataclass(frozen=True)
class Observed:
    """Everything the status of one WorkerRole is computed from."""

    generation: int
    desired_replicas: int
    desired_config_generation: int
    paused: bool
    now: float
    pods_ready: int = 0
    pod_problem: str = ""
    """A pod failure that needs a person (Unschedulable, ImagePullBackOff, CrashLoopBackOff with its cause, OOMKilled
    with the limit; failures that keep happening), or '' (:mod:`~hivekeeper.operator.pod_failures`)."""
    recent_failure: str = ""
    """The role's last pod failure while it is recent (an eviction, a restart...), named; '' when none."""
    policy_problem: str = ""
    """The operator policy rules the spec breaks ('' when none): nothing of the spec is applied until fixed."""
    queues_ready: bool = True
    queue_reason: str = "BrokerUnavailable"
    """Why the queues are not ready: ``QueueMissing`` (deleted behind our back; declared again at once, so it
    passes) or ``BrokerUnavailable`` (nothing we can fix from here: the role is stalled)."""
    queue_problem: str = ""
    instances: list[InstanceReport] = field(default_factory=list)


def _condition(
    previous: list[Condition], type_: str, status: bool, reason: str, message: str, generation: int, now_text: str
) -> Condition:
    value = "True" if status else "False"
    old = next((c for c in previous if c.type == type_), None)
    since = old.lastTransitionTime if old is not None and old.status == value else now_text
    return Condition(
        type=type_,
        status=value,
        reason=reason,
        message=message,
        lastTransitionTime=since,
        observedGeneration=generation,
    )


def live_instances(observed: Observed) -> list[InstanceReport]:
    return [i for i in observed.instances if observed.now - i.seen_at <= STALE_AFTER_SECONDS]


def applied_generation(observed: Observed) -> int:
    """The lowest config generation among the live instances (0 when none reports)."""
    live = live_instances(observed)
    return min((i.config_generation for i in live), default=0)


def conditions(observed: Observed, previous: list[Condition], now_text: str) -> list[Condition]:
    """Ready, Reconciling, Stalled, QueuesReady, WorkersAvailable, ConfigApplied and Paused."""
    gen = observed.generation
    live = live_instances(observed)
    ready = len(live)
    want = observed.desired_replicas
    target = observed.desired_config_generation

    workers_ok = ready >= want
    workers = _condition(
        previous,
        "WorkersAvailable",
        workers_ok,
        "AllWorkersReporting" if workers_ok else "WorkersMissing",
        f"{ready}/{want} workers reporting" + (f"; {observed.recent_failure}" if observed.recent_failure else ""),
        gen,
        now_text,
    )

    rejected = [i for i in live if i.rejected_generation == target]
    behind = [i for i in live if i.config_generation < target]
    if rejected:
        config = _condition(
            previous,
            "ConfigApplied",
            False,
            "WorkerRejectedConfig",
            f"{rejected[0].name} rejected config generation {target}: {rejected[0].rejected_reason} "
            f"(workers keep generation {rejected[0].config_generation})",
            gen,
            now_text,
        )
    elif behind or not live:
        waiting = ", ".join(sorted(i.name for i in behind)) or "no worker has reported yet"
        config = _condition(
            previous,
            "ConfigApplied",
            False,
            "ConfigPending",
            f"waiting for generation {target}: {waiting}",
            gen,
            now_text,
        )
    else:
        config = _condition(
            previous,
            "ConfigApplied",
            True,
            "AllAcknowledged",
            f"all {ready} workers run config generation {target}",
            gen,
            now_text,
        )

    queues = _condition(
        previous,
        "QueuesReady",
        observed.queues_ready,
        "Declared" if observed.queues_ready else observed.queue_reason,
        "exchange, queues and bindings are declared" if observed.queues_ready else observed.queue_problem,
        gen,
        now_text,
    )

    stalled_reason = ""
    if observed.policy_problem:
        stalled_reason = observed.policy_problem
    elif observed.pod_problem:
        stalled_reason = observed.pod_problem
    elif rejected:
        stalled_reason = "a worker rejected the config"
    elif not observed.queues_ready and observed.queue_reason == "BrokerUnavailable":
        stalled_reason = observed.queue_problem
    stalled = _condition(
        previous,
        "Stalled",
        bool(stalled_reason),
        ("PolicyViolation" if observed.policy_problem else "Blocked") if stalled_reason else "NotStalled",
        stalled_reason,
        gen,
        now_text,
    )

    paused_active = observed.paused and all(not i.enabled for i in live)
    paused = _condition(
        previous,
        "Paused",
        observed.paused,
        ("Paused" if paused_active else "Pausing") if observed.paused else "Running",
        "work is disabled; pods and queues stay" if observed.paused else "",
        gen,
        now_text,
    )

    settled = workers_ok and config.status == "True" and observed.queues_ready
    reconciling = _condition(
        previous,
        "Reconciling",
        not settled and not stalled_reason,
        "Progressing" if not settled else "Settled",
        "" if settled else f"{ready}/{want} workers, config {applied_generation(observed)}/{target}",
        gen,
        now_text,
    )
    ready_ok = settled and not stalled_reason
    ready_message = (
        f"{ready}/{want} workers at config generation {target}" if ready_ok else stalled_reason or reconciling.message
    )
    ready_condition = _condition(
        previous,
        "Ready",
        ready_ok,
        "Ready" if ready_ok else ("Stalled" if stalled_reason else "Progressing"),
        ready_message,
        gen,
        now_text,
    )
    return [ready_condition, reconciling, stalled, queues, workers, config, paused]


def instance_statuses(observed: Observed) -> list[InstanceStatus]:
    return [
        InstanceStatus(
            name=i.name,
            enabled=i.enabled,
            tps=round(i.tps, 2),
            lastSeen=i.seen_at_text,
            configGeneration=i.config_generation,
            ioState=IoState(input=i.io_input, output=i.io_output),
        )
        for i in sorted(observed.instances, key=lambda i: i.name)
    ]


@dataclass(frozen=True)
class ChildState:
    """One WorkerRole as the Swarm sees it."""

    role: str
    desired: int
    ready: int
    conditions: list[Condition]


def swarm_conditions(
    children: list[ChildState], *, paused: bool, generation: int, previous: list[Condition], now_text: str
) -> list[Condition]:
    """The Swarm's conditions: every child's condition of the same type, summarised with the role named."""

    def child(type_: str) -> list[tuple[str, Condition]]:
        return [(c.role, cond) for c in children for cond in c.conditions if cond.type == type_]

    def all_true(type_: str) -> tuple[bool, str]:
        found = child(type_)
        bad = [(role, cond) for role, cond in found if cond.status != "True"]
        if len(found) < len(children):
            return False, "waiting for every role to report"
        if bad:
            role, cond = bad[0]
            return False, f"{role}: {cond.message}"
        return True, ""

    stalled = [(role, cond) for role, cond in child("Stalled") if cond.status == "True"]
    stalled_message = f"{stalled[0][0]}: {stalled[0][1].message}" if stalled else ""
    out = []
    for type_, ok_reason, bad_reason in (
        ("QueuesReady", "Declared", "QueuesNotReady"),
        ("WorkersAvailable", "AllWorkersReporting", "WorkersMissing"),
        ("ConfigApplied", "AllAcknowledged", "ConfigNotApplied"),
    ):
        ok, message = all_true(type_)
        reason = ok_reason if ok else bad_reason
        refused = [cond for _, cond in child(type_) if cond.reason == "WorkerRejectedConfig" and cond.status == "False"]
        if refused:
            # A refusal is the one reason a person must act on: carry it up (GitOps tools show the Swarm).
            reason = "WorkerRejectedConfig"
            message = next(f"{r}: {c.message}" for r, c in child(type_) if c is refused[0])
        out.append(_condition(previous, type_, ok, reason, message, generation, now_text))
    ready_ok, ready_message = all_true("Ready")
    ready = sum(c.ready for c in children)
    desired = sum(c.desired for c in children)
    summary = f"{ready}/{desired} workers ready" if ready_ok else (stalled_message or ready_message)
    out.insert(
        0,
        _condition(
            previous,
            "Ready",
            ready_ok,
            "Ready" if ready_ok else ("Stalled" if stalled else "Progressing"),
            summary,
            generation,
            now_text,
        ),
    )
    out.insert(
        1,
        _condition(
            previous,
            "Reconciling",
            not ready_ok and not stalled,
            "Progressing" if not ready_ok else "Settled",
            "" if ready_ok else ready_message,
            generation,
            now_text,
        ),
    )
    out.insert(
        2,
        _condition(
            previous,
            "Stalled",
            bool(stalled),
            "Blocked" if stalled else "NotStalled",
            stalled_message,
            generation,
            now_text,
        ),
    )
    out.append(
        _condition(
            previous,
            "Paused",
            paused,
            "Paused" if paused else "Running",
            "work is disabled; pods and queues stay" if paused else "",
            generation,
            now_text,
        )
    )
    return out
