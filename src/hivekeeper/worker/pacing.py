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


@dataclass
class SinePacer:
    """Next-slot reservation for a rate that follows a sine wave in time (the moderator's sine mode).

    ``rate(t) = mid + amp * sin(2 pi (t - origin + phase) / period)``. Slots are spaced by the integral of
    the rate, not by ``1/rate`` at one instant: the item count up to any time follows the wave exactly,
    and a trough at 0/s delays the next slot to where the wave has let one more item through instead
    of stalling forever.
    """

    min_rate: float
    max_rate: float
    period: float
    phase: float = 0.0
    origin: float = 0.0
    """Loop time at which the wave's t = 0 is (kept across config changes of the same wave)."""
    _next: float = field(default=0.0, repr=False)

    @property
    def _mid(self) -> float:
        return (self.max_rate + self.min_rate) / 2

    @property
    def _amp(self) -> float:
        return (self.max_rate - self.min_rate) / 2

    def rate_at(self, now: float) -> float:
        return self._mid + self._amp * math.sin(2 * math.pi * (now - self.origin + self.phase) / self.period)

    def _count(self, at: float) -> float:
        """Items the wave lets through from the origin to ``at`` (up to a constant)."""
        turn = 2 * math.pi / self.period
        return self._mid * at - self._amp / turn * math.cos(turn * (at - self.origin + self.phase))

    def reserve(self, now: float) -> float:
        """Reserve the next slot; return how many seconds the caller must wait for it."""
        slot = max(self._next, now)
        target = self._count(slot) + 1.0
        # count(x) - count(slot) >= mid (x - slot) - amp * period / pi, so this bound is past the target.
        low, high = slot, slot + (1.0 + self._amp * self.period / math.pi) / self._mid
        for _ in range(60):
            middle = (low + high) / 2
            if self._count(middle) < target:
                low = middle
            else:
                high = middle
        self._next = high
        return slot - now
