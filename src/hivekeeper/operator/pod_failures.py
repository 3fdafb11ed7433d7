"""Pod failures, named (pure): what went wrong with a worker pod, in words a person can act on.

:func:`failures` reads one pod (:mod:`hivekeeper.operator.pods`) and names each failure it shows with a kind, a
message and the time it happened (so the roll-up recognises the same failure on its next tick and counts it once,
:mod:`hivekeeper.operator.failure_history`). :func:`blocking` names the one that stalls the role now.

Two sorts of kinds:

- *Events*, which Kubernetes heals by itself (it restarts the container or replaces the pod): a container's run
  ended (``OOMKilled``, ``Unresponsive``, ``FatalError``, ``Crashed``, ``Exited``, from its
  ``state``/``lastState.terminated``), or the pod ended (``Evicted``, ``Preempted``, ``Rejected``, ``Disrupted``,
  from its phase, reason and ``DisruptionTarget`` condition). Each has a time: ``finishedAt``, or the condition's
  transition.
- *States*, which last until a person acts: ``Unschedulable`` (the scheduler's reason), ``ImagePullBackOff``,
  ``InvalidImageName``, ``CreateContainerConfigError``, ``CreateContainerError``. They stall the role while they
  last; so does a container in ``CrashLoopBackOff`` (named with the cause of its last run's end) or one just
  ``OOMKilled``.

Why a run ended comes from the container's termination message (the pod contract in
:mod:`hivekeeper.protocol.health`): one starting with ``unhealthy:`` was written by the worker's health check just
before its liveness probe failed; one starting with ``fatal:`` names the error the worker stopped on; anything
else is the tail of its log (``terminationMessagePolicy: FallbackToLogsOnError``), whose last line is shown (the
``message`` of a JSON log line). Every text from the cluster is redacted and cut to a bound.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import orjson

from hivekeeper.operator.pods import ContainerStatus, Pod, PodEvent, Terminated
from hivekeeper.protocol.health import FATAL_PREFIX, UNHEALTHY_PREFIX
from hivekeeper.protocol.redaction import redact_text

MAX_REASON = 300
"""Characters kept of a reason read from the cluster (a log line, the scheduler's or the kubelet's message)."""
MAX_KIND = 64
"""Characters kept of a kind taken from the kubelet (a pod's ``status.reason`` it refused it with)."""

TERMINATIONS = frozenset({"OOMKilled", "Unresponsive", "FatalError", "Crashed", "Exited"})
"""A container's run ended: the kubelet restarts it (with a growing back-off, ``CrashLoopBackOff``)."""
DISRUPTIONS = frozenset({"Evicted", "Preempted", "Rejected", "Disrupted"})
"""The pod ended (phase Failed, or deleted): its Deployment puts a new pod in its place."""
EVENTS = TERMINATIONS | DISRUPTIONS
REPEATING = EVENTS - {"Disrupted"}
"""The events that stall the role when they keep happening (:mod:`~hivekeeper.operator.failure_history`).
``Disrupted`` (a node drained, shut down, tainted or gone) is the cluster's own business, never the role's."""

BLOCKING_REASONS = frozenset(
    {
        "ImagePullBackOff",
        "ErrImagePull",
        "InvalidImageName",
        "CrashLoopBackOff",
        "CreateContainerConfigError",
        "CreateContainerError",
    }
)
"""Container waiting reasons that stall the role: nothing gets better until a person acts."""

_PREEMPTED = "the scheduler preempted it to make room for a pod of higher priority"
_KUBELET_PREEMPTED = "its node's kubelet preempted it to admit a critical pod"
_SIGNALS = {130: "SIGINT", 134: "SIGABRT", 137: "SIGKILL", 139: "SIGSEGV", 143: "SIGTERM"}

# The JSON log line of a worker (hivekeeper.worker.logs.JsonFormatter, which the operator may not import): what it
# says is under "message", a traceback under "exception".
_LOG_MESSAGE = "message"
_LOG_EXCEPTION = "exception"


@dataclass(frozen=True)
class Failure:
    """One failure one pod shows."""

    pod: str
    kind: str
    """``OOMKilled``, ``Unresponsive``, ``FatalError``, ``Crashed``, ``Exited``, ``Evicted``, ``Preempted``,
    ``Rejected``, ``Disrupted``, ``Unschedulable``, ``ImagePullBackOff``, ``InvalidImageName``,
    ``CreateContainerConfigError`` or ``CreateContainerError``."""
    message: str
    time: str = ""
    """When it happened (RFC 3339: the run's ``finishedAt``, the condition's ``lastTransitionTime``); '' for a
    state that says no time (a waiting container): then it is the same failure as long as it lasts."""


def clip(text: str, limit: int = MAX_REASON) -> str:
    """``text`` on one line, redacted, cut to ``limit`` characters (the cut marked with an ellipsis)."""
    flat = redact_text(" ".join(text.split()))
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def log_reason(tail: str) -> str:
    """The reason a log tail gives: its last non-empty line, or that line's ``message`` when it is a worker's
    JSON log line (with the last line of its ``exception``, when it has one the message does not already say)."""
    lines = [line.strip() for line in tail.splitlines() if line.strip()]
    if not lines:
        return ""
    line = lines[-1]
    if not line.startswith("{"):
        return clip(line)
    try:
        record = orjson.loads(line)
    except orjson.JSONDecodeError:
        return clip(line)  # cut by the kubelet's bound (2048 bytes), or not ours: shown as it is
    said = record.get(_LOG_MESSAGE) if isinstance(record, dict) else None
    if not isinstance(said, str):
        return clip(line)
    trace = record.get(_LOG_EXCEPTION)
    last = trace.strip().splitlines()[-1].strip() if isinstance(trace, str) and trace.strip() else ""
    return clip(f"{said}: {last}" if last and last not in said else said)


def _oom(limit: str) -> str:
    at = f" at its memory limit {limit}" if limit else ""
    return f"its worker was OOMKilled{at}; raise resources.limits.memory of the role"


def _exit(ended: Terminated) -> str:
    signal = _SIGNALS.get(ended.exitCode) or (f"signal {ended.signal}" if ended.signal else "")
    killed = f", {signal}" if signal else ""
    kubelet = f", {ended.reason}" if ended.reason not in ("", "Error", "Completed") else ""
    return f"exit code {ended.exitCode}{killed}{kubelet}"


def termination(pod: Pod, status: ContainerStatus, ended: Terminated) -> Failure:
    """Why one run of a container ended, named."""
    text = ended.message.strip()
    if ended.reason == "OOMKilled":
        kind, message = "OOMKilled", _oom(pod.memory_limit(status.name))
    elif text.startswith(UNHEALTHY_PREFIX.strip()):
        reason = clip(text[len(UNHEALTHY_PREFIX.strip()) :])
        kind, message = "Unresponsive", f"its liveness probe failed and the kubelet restarted it: {reason}"
    elif text.startswith(FATAL_PREFIX.strip()):
        reason = clip(text[len(FATAL_PREFIX.strip()) :])
        kind, message = "FatalError", f"its worker stopped on an error ({_exit(ended)}): {reason}"
    else:
        said = log_reason(text) or f"no termination message; see kubectl logs --previous {pod.name}"
        if ended.exitCode == 0:
            kind, message = "Exited", f"its worker exited by itself ({_exit(ended)}): {said}"
        else:
            kind, message = "Crashed", f"its worker exited ({_exit(ended)}): {said}"
    if len(pod.status.containerStatuses) > 1:
        message = f"container {status.name}: {message}"
    return Failure(pod.name, kind, message, ended.finishedAt or "")


def _said(what: str, said: str) -> str:
    return f"{what}: {said}" if said else what


def _ended_at(pod: Pod) -> str:
    """When the containers of an ended pod stopped (the latest ``finishedAt``), '' when none says."""
    times = [s.state.terminated.finishedAt for s in pod.status.containerStatuses if s.state.terminated is not None]
    return max((t for t in times if t), default="")


_DISRUPTED = {
    "EvictionByEvictionAPI": (
        "evicted through the Eviction API (a node drain, the descheduler or the cluster autoscaler)"
    ),
    "DeletionByTaintManager": (
        "deleted because its node has a NoExecute taint it does not tolerate (node not ready or unreachable?)"
    ),
    "DeletionByPodGC": "deleted by the pod garbage collector: its node is gone",
}
"""``DisruptionTarget`` reasons of the control plane (not the kubelet's, not the scheduler's), said in words."""


def _ended_by_kubelet(reason: str, said: str) -> tuple[str, str]:
    """The kind and message of a pod its kubelet ended, from the pod's ``status.reason``: evicted under node
    pressure, preempted for a critical pod, stopped by a node shutdown, or refused at admission."""
    if reason == "Evicted":
        return "Evicted", _said("the kubelet evicted it", said)
    if reason == "Preempting":
        return "Preempted", _KUBELET_PREEMPTED
    if reason in ("", "Terminated", "Shutdown"):
        return "Disrupted", f"its node's kubelet stopped it: {said or 'node shutdown'}"
    return "Rejected", _said(f"its node refused to run it ({reason[:MAX_KIND]})", said)


def _disruption(pod: Pod) -> Failure | None:
    """Why the pod itself ended (or is being ended), from its ``DisruptionTarget`` condition (Kubernetes 1.26+),
    else from its phase and reason (older clusters, and pods refused at admission)."""
    status = pod.status
    said = clip(status.message)
    target = pod.condition("DisruptionTarget")
    if target is not None and target.status == "True":
        if target.reason == "PreemptionByScheduler":
            kind, message = "Preempted", _PREEMPTED
        elif target.reason == "TerminationByKubelet":
            kind, message = _ended_by_kubelet(status.reason, said or clip(target.message))
        else:
            kind, message = "Disrupted", _DISRUPTED.get(target.reason) or clip(f"{target.reason}: {target.message}")
        return Failure(pod.name, kind, message, target.lastTransitionTime or _ended_at(pod))
    if status.phase != "Failed" or not status.reason:
        return None
    kind, message = _ended_by_kubelet(status.reason, said)
    return Failure(pod.name, kind, message, _ended_at(pod))


def _waiting(pod: Pod, status: ContainerStatus) -> Failure | None:
    waiting = status.state.waiting
    if waiting is None or waiting.reason not in BLOCKING_REASONS or waiting.reason == "CrashLoopBackOff":
        return None
    kind = "ImagePullBackOff" if waiting.reason == "ErrImagePull" else waiting.reason
    return Failure(pod.name, kind, clip(waiting.message) or waiting.reason)


def _unschedulable(pod: Pod) -> Failure | None:
    scheduled = pod.condition("PodScheduled")
    if scheduled is None or scheduled.status != "False" or scheduled.reason != "Unschedulable":
        return None
    reason = clip(scheduled.message) or "no node fits"
    return Failure(pod.name, "Unschedulable", reason, scheduled.lastTransitionTime or "")


def failures(pod: Pod) -> list[Failure]:
    """Every failure ``pod`` shows now: why the pod ended; why it cannot be scheduled; each container's last run's
    end (and its current one's, while the pod lives: a run that ended in a pod being deleted or already ended is
    the deletion's or the disruption's doing, not a failure of its own); each container's blocked start."""
    found: list[Failure] = []
    disruption = _disruption(pod)
    if disruption is not None:
        found.append(disruption)
    unschedulable = _unschedulable(pod) if pod.alive else None
    if unschedulable is not None:
        found.append(unschedulable)
    for status in pod.status.containerStatuses:
        if status.lastState.terminated is not None:
            found.append(termination(pod, status, status.lastState.terminated))
        if pod.alive and status.state.terminated is not None:
            found.append(termination(pod, status, status.state.terminated))
        blocked = _waiting(pod, status) if pod.alive else None
        if blocked is not None:
            found.append(blocked)
    return found


def blocking(pods: list[Pod]) -> str:
    """The first failure that needs a person now (the pods by name), or '': a pod that cannot be scheduled, an image
    that cannot be pulled, a container config that cannot be made, a container in ``CrashLoopBackOff`` (named with
    why its last run ended: out of memory at its limit, unresponsive, the error or last log line it ended on), or a
    container just ``OOMKilled``."""
    for pod in sorted((p for p in pods if p.alive), key=lambda p: p.name):
        unschedulable = _unschedulable(pod)
        if unschedulable is not None:
            return f"pod {pod.name} is Unschedulable: {unschedulable.message}"
        for status in pod.status.containerStatuses:
            waiting, last, current = status.state.waiting, status.lastState.terminated, status.state.terminated
            if waiting is not None and waiting.reason == "CrashLoopBackOff":
                cause = termination(pod, status, last).message if last is not None else clip(waiting.message)
                return f"pod {pod.name} is CrashLoopBackOff" + (f": {cause}" if cause else "")
            if waiting is not None and waiting.reason in BLOCKING_REASONS:
                said = clip(waiting.message)
                return f"pod {pod.name} is {waiting.reason}" + (f": {said}" if said else "")
            if waiting is None and current is not None and current.reason == "OOMKilled":
                return f"pod {pod.name} is OOMKilled: {termination(pod, status, current).message}"
    return ""


def restarts(pods: list[Pod]) -> int:
    """Container restarts of the role's live pods (what ``kubectl get pods`` shows as RESTARTS, summed)."""
    return sum(status.restartCount for pod in pods if pod.alive for status in pod.status.containerStatuses)


EVENT_REASONS = ("Evicted", "Preempted")
"""The pod Events failure naming reads (``Cluster.pod_events``): the kubelet's eviction and the scheduler's
preemption. Measured on the bench's Kubernetes 1.36 node: a pod the kubelet evicts for its emptyDir limit whose
worker then exits cleanly ends ``Succeeded``, with no ``status.reason`` and no ``DisruptionTarget``; a preempted
worker is gone within a second or two. Only the Event says what happened."""


def role_pods(deployment: str) -> re.Pattern[str]:
    """The names of the pods of Deployment ``deployment`` (``<deployment>-<replicaset hash>-<5 characters>``), not
    of a role whose name only starts the same (``caller`` against ``caller-b``)."""
    return re.compile(rf"^{re.escape(deployment)}-[a-z0-9]{{1,10}}-[a-z0-9]{{5}}$")


def from_events(events: Sequence[PodEvent], deployment: str, seen: list[Failure]) -> list[Failure]:
    """The evictions and preemptions of Deployment ``deployment``'s pods the Events say and the pods' own status
    (``seen``) does not: one per pod and kind."""
    pods = role_pods(deployment)
    known = {(f.pod, f.kind) for f in seen}
    found: dict[tuple[str, str], Failure] = {}
    for event in events:
        if event.reason not in EVENT_REASONS or not pods.match(event.pod) or (event.pod, event.reason) in known:
            continue
        said = clip(event.message)
        message = _said("the kubelet evicted it", said) if event.reason == "Evicted" else _said(_PREEMPTED, said)
        failure = Failure(event.pod, event.reason, message, event.time)
        held = found.get((event.pod, event.reason))
        if held is None or failure.time > held.time:
            found[(event.pod, event.reason)] = failure
    return sorted(found.values(), key=lambda f: (f.time, f.pod))
