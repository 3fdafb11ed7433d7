"""The operator's Kubernetes Events on Swarms and WorkerRoles: notes correlated by :mod:`~hivekeeper.operator.events`
and written through the :class:`~hivekeeper.operator.ports.Cluster` port.

One :class:`EventRecorder` per operator process (on the :class:`~hivekeeper.operator.runtime.Runtime`). An Event is
a notice, not a step anything depends on: a failure to write one is logged (at most once a minute, with how many
were held back) and never raised. :meth:`EventRecorder.first_time` lets a roll-up that runs every 2 seconds say a
transition once (config generation 7 applied) rather than on every tick.
"""

from __future__ import annotations

import logging

from hivekeeper.operator import metrics
from hivekeeper.operator.events import Correlator, Lru, Note
from hivekeeper.operator.ports import Cluster

log = logging.getLogger("hivekeeper.operator")


class EventRecorder:
    """The correlator's state, what was said of each transition, and the throttle of the failure log."""

    KEPT = 4096
    """Transitions remembered (one or two per object): the least recently said go first."""
    LOG_EVERY = 60.0
    """Seconds between two warnings about Events that could not be written."""

    def __init__(self, correlator: Correlator | None = None) -> None:
        self.correlator = correlator or Correlator()
        self._said: Lru[tuple[str, ...], object] = Lru(self.KEPT)
        self._log_at = float("-inf")
        self._held = 0

    def first_time(self, key: tuple[str, ...], value: object) -> bool:
        """Whether ``value`` is news under ``key`` (not what was last said there); remembers it."""
        if self._said.get(key) == value:
            return False
        self._said.put(key, value)
        return True

    def remember(self, key: tuple[str, ...], value: object) -> None:
        """Keep ``value`` under ``key`` (None: nothing is held there any more)."""
        if value is None:
            self._said.pop(key)
        else:
            self._said.put(key, value)

    def last(self, key: tuple[str, ...]) -> object:
        """What was last remembered under ``key`` (None: nothing)."""
        return self._said.get(key)

    async def record(self, cluster: Cluster, note: Note, now: float, now_text: str) -> None:
        """Write ``note`` as the correlator decides (create, patch or drop); never raises."""
        decision = self.correlator.correlate(note, now, now_text)
        if decision is None:
            metrics.KUBE_EVENTS.labels("dropped").inc()
            return
        try:
            if decision.patch and await cluster.patch_event(decision.event):
                metrics.KUBE_EVENTS.labels("patched").inc()
                return
            # New, or the Event to patch is gone (the API server keeps Events an hour): create it, count and all.
            await cluster.create_event(decision.event)
            metrics.KUBE_EVENTS.labels("created").inc()
        except Exception as exc:  # a notice: whatever the API server says, the reconcile goes on
            metrics.KUBE_EVENTS.labels("failed").inc()
            self.correlator.forget(decision.event)
            self._failed(note, exc, now)

    def _failed(self, note: Note, exc: Exception, now: float) -> None:
        if now < self._log_at + self.LOG_EVERY:
            self._held += 1
            return
        held, self._held, self._log_at = self._held, 0, now
        ref = note.involved
        log.warning(
            "cannot record the Event %s on %s %s/%s (%s)%s",
            note.reason,
            ref.kind,
            ref.namespace,
            ref.name,
            exc,
            f" ({held} more since the last report)" if held else "",
        )
