"""A worker's health: is its event loop turning, is its control connection up, does it run.

The facts are set on the event loop (a heartbeat task every :data:`HEARTBEAT_INTERVAL`, the control
connection's close and reconnect callbacks, start, the first config applied, stop) and read by the HTTP
server's threads, which answer ``/livez`` and ``/readyz`` (``worker.health_server``) from
:func:`verdict`. A thread, not the loop: a loop that does not turn still gets its 503, with the reason,
instead of a probe timeout.

- **live** while the loop turned within :attr:`Bounds.loop_stall` and the control connection is up or was
  lost for less than :attr:`Bounds.control_loss` (past it, a restart opens a fresh one);
- **ready** while live, started (listening on its control queue, with its bootstrap config), not stopping, and
  the control connection up. Not "a config-update applied": the bootstrap config is the operator's config when
  the pod was made, and a readiness that waited for the operator would stall rollouts (and the pod-start bench)
  whenever no operator runs.

Nothing here is on the hot path: no item touches it.
"""

from __future__ import annotations

from dataclasses import dataclass

HEARTBEAT_INTERVAL = 1.0
"""Seconds between two beats of the event loop's heartbeat task."""

LOOP_STALL_VARIABLE = "HIVEKEEPER_LOOP_STALL_SECONDS"
DEFAULT_LOOP_STALL = 10.0
LOOP_STALL_RANGE = (2.0, 3600.0)
"""Above the heartbeat's own second, so that a healthy loop never looks stalled."""

CONTROL_LOSS_VARIABLE = "HIVEKEEPER_CONTROL_LOSS_SECONDS"
DEFAULT_CONTROL_LOSS = 60.0
CONTROL_LOSS_RANGE = (1.0, 86400.0)


def seconds_in(text: str, bounds: tuple[float, float]) -> float | None:
    """``text`` as seconds when it is a number within ``bounds`` (inclusive), else None."""
    try:
        seconds = float(text)
    except ValueError:
        return None
    low, high = bounds
    return seconds if low <= seconds <= high else None


@dataclass(frozen=True)
class Bounds:
    loop_stall: float = DEFAULT_LOOP_STALL
    """Seconds the event loop may go without turning before the worker is not live."""
    control_loss: float = DEFAULT_CONTROL_LOSS
    """Seconds the control connection may stay lost before the worker is not live."""


DEFAULT_BOUNDS = Bounds()


@dataclass(frozen=True)
class Facts:
    """What the verdict is drawn from; times are ``time.monotonic()`` seconds."""

    heartbeat: float
    """When the event loop last turned."""
    control_lost_since: float | None = None
    """When the control connection was lost (the first drop of an outage); None while it is up."""
    started: bool = False
    """The worker listens on its control queue and said so (``status-full``)."""
    stopping: bool = False
    """The worker is stopping (SIGTERM): letting items in flight finish, then closing."""


@dataclass(frozen=True)
class Verdict:
    live: bool
    ready: bool
    live_reason: str
    """``ok``, or why the worker is not live."""
    ready_reason: str
    """``ok``, or why the worker is not ready."""


OK = "ok"


def verdict(facts: Facts, bounds: Bounds, now: float) -> Verdict:
    """Live and ready at ``now`` (monotonic seconds), each with the reason when it is not."""
    problems: list[str] = []
    stalled = now - facts.heartbeat
    if stalled > bounds.loop_stall:
        problems.append(
            f"event loop has not turned for {stalled:.1f} s (bound {bounds.loop_stall:g} s, {LOOP_STALL_VARIABLE}): "
            "something blocks it, a blocking call in a custom worker say"
        )
    lost = None if facts.control_lost_since is None else max(0.0, now - facts.control_lost_since)
    if lost is not None and lost > bounds.control_loss:
        problems.append(
            f"control connection lost {lost:.1f} s ago (bound {bounds.control_loss:g} s, {CONTROL_LOSS_VARIABLE}): "
            "a restart opens a fresh one"
        )
    if problems:
        reason = "; ".join(problems)
        return Verdict(live=False, ready=False, live_reason=reason, ready_reason=reason)
    if facts.stopping:
        not_ready = "stopping"
    elif not facts.started:
        not_ready = "starting: not yet listening on its control queue"
    elif lost is not None:
        not_ready = f"control connection lost {lost:.1f} s ago; reconnecting"
    else:
        return Verdict(live=True, ready=True, live_reason=OK, ready_reason=OK)
    return Verdict(live=True, ready=False, live_reason=OK, ready_reason=not_ready)


class Health:
    """The facts of one worker as they change. The event loop writes them, one attribute at a time; the HTTP
    server's threads read them (:meth:`check`): each attribute is read once, whole, under the GIL."""

    def __init__(self, bounds: Bounds, now: float) -> None:
        self.bounds = bounds
        self.heartbeat = now
        self.control_lost_since: float | None = None
        self.started = False
        self.stopping = False

    def beat(self, now: float) -> None:
        self.heartbeat = now

    def control_lost(self, now: float) -> None:
        """The control connection dropped (again): the outage counts from its first drop."""
        if self.control_lost_since is None:
            self.control_lost_since = now

    def control_restored(self) -> None:
        self.control_lost_since = None

    def facts(self) -> Facts:
        return Facts(
            heartbeat=self.heartbeat,
            control_lost_since=self.control_lost_since,
            started=self.started,
            stopping=self.stopping,
        )

    def check(self, now: float) -> Verdict:
        return verdict(self.facts(), self.bounds, now)
