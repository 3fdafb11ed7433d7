"""Pacing maths: how many items are due, and when the next request slot opens. Pure; no clock.

Callers pass ``now`` (monotonic seconds) in, so the maths is testable without sleeping. Two
strategies, in the spirit of Locust's ``wait_time`` factories:

* :class:`RatePacer` for inputs (SCHEDULER, datasets): an exact long-run rate. Fractions carry over
  between ticks, so 2.5/s emits 5 items every 2 s, not 2 or 3 per second. A stall (backpressure,
  a paused worker) does not turn into a flood afterwards: credit is capped at ``burst_seconds``.
* :class:`SlotPacer` for the processor's RATE_PER_SEC mode: each call reserves the next free slot,
  ``max(next, now) + 1/rate``, and waits for it; the wait is not part of the request's latency.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field


@dataclass
class RatePacer:
    """Items due at an exact long-run rate, with fractional carry-over and an optional total cap."""

    rate_per_sec: float
    max_messages: int = 0
    """Stop after this many items in total; 0 means no limit."""
    burst_seconds: float = 1.0
    """At most this many seconds of items may pile up while the consumer is slow."""
    dispatched: int = 0
    _credit: float = field(default=0.0, repr=False)
    _last: float | None = field(default=None, repr=False)

    def due(self, now: float) -> int:
        """How many items to emit at ``now`` (they are counted as dispatched)."""
        if self._last is None:
            self._last = now
        elapsed = max(0.0, now - self._last)
        self._last = now
        self._credit = min(self._cap(), self._credit + self.rate_per_sec * elapsed)
        count = math.floor(self._credit + 1e-9)
        if self.max_messages:
            count = min(count, self.remaining)
        self._credit -= count
        self.dispatched += count
        return count

    def _cap(self) -> float:
        # One burst of items plus one, so that the fractional carry is never what gets cut.
        return self.rate_per_sec * self.burst_seconds + 1.0

    def seconds_until_next(self) -> float:
        """How long until at least one more item is due (``inf`` when the rate is 0 or the cap is hit)."""
        if self.rate_per_sec <= 0 or self.exhausted:
            return math.inf
        return max(0.0, (1.0 - self._credit) / self.rate_per_sec)

    def set_rate(self, rate_per_sec: float, now: float) -> None:
        """Change the rate live: what was already due at the old rate is kept."""
        self.due_without_dispatch(now)
        self.rate_per_sec = rate_per_sec

    def due_without_dispatch(self, now: float) -> None:
        if self._last is not None:
            self._credit = min(self._cap(), self._credit + self.rate_per_sec * max(0.0, now - self._last))
        self._last = now

    def pause(self) -> None:
        """Forget accumulated credit (a disabled input does not catch up when enabled again)."""
        self._credit = 0.0
        self._last = None

    def reset(self) -> None:
        """Start counting ``max_messages`` again."""
        self.dispatched = 0
        self.pause()

    @property
    def remaining(self) -> int:
        return max(0, self.max_messages - self.dispatched) if self.max_messages else -1

    @property
    def exhausted(self) -> bool:
        return bool(self.max_messages) and self.dispatched >= self.max_messages


@dataclass
class SlotPacer:
    """Next-slot reservation for a target request rate shared by all concurrent callers."""

    rate_per_sec: float
    _next: float = field(default=0.0, repr=False)

    def reserve(self, now: float) -> float:
        """Reserve the next slot; return how many seconds the caller must wait for it."""
        if self.rate_per_sec <= 0:
            return 0.0
        slot = max(self._next, now)
        self._next = slot + 1.0 / self.rate_per_sec
        return slot - now

    def set_rate(self, rate_per_sec: float) -> None:
        self.rate_per_sec = rate_per_sec
        self._next = 0.0
