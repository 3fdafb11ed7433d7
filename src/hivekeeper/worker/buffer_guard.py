"""The buffer guard's decisions (pure; no clock, no broker): when a producer is slowed and at what rate.

The guard watches one queue's depth (``bufferGuard``, :mod:`hivekeeper.api.roles.buffer_guard`). It closes
when the depth reaches ``high`` and opens again only at or below ``low``: between the two bounds it keeps the
state it is in, so a depth hovering at one bound does not flap the producer's rate (hysteresis). Closed, the
producer runs at ``minRatePerSec`` (never faster than its configured rate); open, at its configured rate.
"""

from __future__ import annotations

from dataclasses import dataclass

from hivekeeper.api.roles.buffer_guard import BufferGuard


def throttled_after(throttled: bool, depth: int, high: int, low: int) -> bool:
    """Whether the guard is closed after reading ``depth``, given whether it was closed before."""
    if throttled:
        return depth > low
    return depth >= high


def guarded_rate(configured: float, throttled: bool, min_rate: float) -> float:
    """The rate a producer runs at: its configured rate, or ``min_rate`` (if lower) while the guard is closed."""
    return min(configured, min_rate) if throttled else configured


@dataclass
class GuardState:
    """What the guard knows: whether it holds the producer back, the last depth read, and its counts."""

    throttled: bool = False
    depth: int | None = None
    """The watched queue's depth at the last read (None before the first, or after a failed read)."""
    trips: int = 0
    """How many times the guard closed (the producer was slowed)."""
    read_errors: int = 0
    """Depth reads that failed (the state is kept as it was meanwhile)."""
    changed_at: str | None = None
    """When the guard last closed or opened (ISO time)."""
    last_error: str | None = None

    def observe(self, depth: int, guard: BufferGuard, at: str) -> bool:
        """Take a depth reading; True when the guard closed or opened because of it."""
        self.depth = depth
        throttled = throttled_after(self.throttled, depth, guard.high, guard.low)
        if throttled == self.throttled:
            return False
        self.throttled = throttled
        self.changed_at = at
        if throttled:
            self.trips += 1
        return True

    def failed(self, reason: str) -> None:
        """A read failed: the guard stays as it is (a broker hiccup neither slows nor releases the producer)."""
        self.depth = None
        self.read_errors += 1
        self.last_error = reason

    def release(self, at: str) -> bool:
        """Open the guard (it was disabled or removed); True when it was closed."""
        if not self.throttled:
            return False
        self.throttled = False
        self.changed_at = at
        return True
