"""``status.failures``: a WorkerRole's recent pod failures, remembered across roll-ups (pure).

A pod shows only its latest failures (a container's last run, the pod's own end), and the pods that had them are
replaced: the previous status is the memory. Every roll-up merges what the pods show now into it (:func:`merged`):
one entry per pod and kind, newest first, at most :data:`~hivekeeper.api.status.MAX_FAILURES`. A failure is known
again by its time (a run's ``finishedAt``, a condition's transition): the same one seen on every tick is counted
once, a later one of the same pod and kind counts one more. A failure that says no time (a waiting container) is
one failure for as long as it lasts.

From the list, :func:`repeating` says when failures that Kubernetes heals by itself (restarts, evictions,
preemptions) keep happening, which stalls the role, and :func:`latest` names the last one for the
``WorkersAvailable`` condition while it is recent.
"""

from __future__ import annotations

import datetime as dt

from hivekeeper.api.status import MAX_FAILURE_MESSAGE, MAX_FAILURES, FailureStatus
from hivekeeper.operator.pod_failures import EVENTS, REPEATING, Failure

RECENT_SECONDS = 600.0
"""How long a failure counts as recent: named in ``WorkersAvailable``, and counted towards :data:`REPEATED`."""
REPEATED = 3
"""Failures within :data:`RECENT_SECONDS` that stall the role although Kubernetes heals each one by itself."""

_NEVER = dt.datetime.min.replace(tzinfo=dt.UTC)


def _moment(text: str) -> dt.datetime:
    """An RFC 3339 time; one that does not parse counts as long ago."""
    try:
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return _NEVER
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)


def _entry(failure: Failure, when: str) -> FailureStatus:
    return FailureStatus(
        pod=failure.pod[:253],
        reason=failure.kind[:64],
        message=failure.message[:MAX_FAILURE_MESSAGE],
        count=1,
        firstSeen=when,
        lastSeen=when,
    )


def merged(previous: list[FailureStatus], seen: list[Failure], now_text: str) -> list[FailureStatus]:
    """``previous`` (the status's list) with the failures the pods show now folded in, newest first, bounded.

    A failure of a pod and kind not in the list is added (at its own time, or ``now_text`` when it says none); one
    later than the entry's ``lastSeen`` counts once more and gives the entry its message and time; the same one
    again changes only its message (the scheduler rewords its reason as nodes come and go); an earlier one changes
    nothing."""
    entries = {(entry.pod, entry.reason): entry for entry in previous}
    for failure in seen:
        key = (failure.pod[:253], failure.kind[:64])
        old = entries.get(key)
        message = failure.message[:MAX_FAILURE_MESSAGE]
        if old is None:
            entries[key] = _entry(failure, failure.time or now_text)
        elif failure.time and _moment(failure.time) > _moment(old.lastSeen):
            entries[key] = old.model_copy(update={"message": message, "count": old.count + 1, "lastSeen": failure.time})
        elif (not failure.time or failure.time == old.lastSeen) and message != old.message:
            entries[key] = old.model_copy(update={"message": message})
    newest = sorted(entries.values(), key=lambda entry: _moment(entry.lastSeen), reverse=True)
    return newest[:MAX_FAILURES]


def _recent(entry: FailureStatus, now: dt.datetime) -> bool:
    return (now - _moment(entry.lastSeen)).total_seconds() <= RECENT_SECONDS


def recent_count(history: list[FailureStatus], now_text: str) -> int:
    """How many times the role's pods failed in the last :data:`RECENT_SECONDS` by failures Kubernetes heals by
    itself (:data:`~hivekeeper.operator.pod_failures.REPEATING`), at least. An entry counts in full when it first
    happened within the window; one that began earlier counts its last time only (when that is within)."""
    now = _moment(now_text)
    if now == _NEVER:
        return 0
    total = 0
    for entry in history:
        if entry.reason not in REPEATING or not _recent(entry, now):
            continue
        began_within = (now - _moment(entry.firstSeen)).total_seconds() <= RECENT_SECONDS
        total += entry.count if began_within else 1
    return total


def _named(entry: FailureStatus) -> str:
    times = f" ({entry.count} times)" if entry.count > 1 else ""
    return f"pod {entry.pod} {entry.reason}{times} at {entry.lastSeen}: {entry.message}"


def repeating(history: list[FailureStatus], now_text: str) -> str:
    """Why the role is stalled although each failure heals by itself ('' when it is not): at least :data:`REPEATED`
    of them within :data:`RECENT_SECONDS`, the last one named."""
    count = recent_count(history, now_text)
    if count < REPEATED:
        return ""
    last = next(entry for entry in history if entry.reason in REPEATING)
    minutes = round(RECENT_SECONDS / 60)
    return (
        f"its pods failed {count} times in the last {minutes} minutes (Kubernetes restarts or replaces them, but it "
        f"keeps happening); the last: {_named(last)}"
    )


def latest(history: list[FailureStatus], now_text: str) -> str:
    """The role's most recent failure that Kubernetes heals by itself, named, while it is recent; else ''."""
    now = _moment(now_text)
    last = next((entry for entry in history if entry.reason in EVENTS), None)
    if last is None or now == _NEVER or not _recent(last, now):
        return ""
    return f"last failure: {_named(last)}"
