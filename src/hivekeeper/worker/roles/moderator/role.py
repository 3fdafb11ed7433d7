"""moderator: shapes the flow between two stages. Each item waits for its slot, then goes on unchanged.

``pass-through`` forwards at once; ``rate-per-sec`` spaces items ``1/ratePerSec`` apart
(:class:`~hivekeeper.worker.pacing.SlotPacer`); ``sine`` follows a rate that swings between two values
(:class:`~hivekeeper.worker.pacing.SinePacer`).

Items pass the gate one at a time: the next item reserves its slot only when the previous one has gone
through, so no item holds a slot far in the future. That is what makes ``mode`` live for the items
already waiting too: a config-update reshapes the one gate (it survives the role being rebuilt), and the
next item through uses the new rate. Waiting items hold the worker's in-flight slots, so at most that
many are held here and the rest of the backlog stays visible in the broker queue.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from hivekeeper.api.roles.common import CommonConfig
from hivekeeper.api.roles.moderator.config import ModeratorConfig, ModeratorMode
from hivekeeper.protocol.workitem import WorkItem
from hivekeeper.worker.pacing import SinePacer, SlotPacer
from hivekeeper.worker.roles.base import DropItem, Role, RoleDeps, RoleKind, Wiring


def _now() -> float:
    """The event loop's clock (pacers and sleeps use it); the same monotonic clock when there is no loop
    (``hivekeeper validate`` builds roles offline to check them)."""
    try:
        return asyncio.get_running_loop().time()
    except RuntimeError:
        return time.monotonic()


class Gate:
    """The moderator's pacer and the lock items pass one by one; shared by successive role configs."""

    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.pacer: SlotPacer | SinePacer | None = None
        self.forwarded = 0
        self.waiting = 0

    def reshape(self, mode: ModeratorMode, now: float) -> None:
        """Apply a mode; the next slot keeps its place when the rate stays steady, a wave keeps its phase
        when its period is unchanged."""
        before = self.pacer
        if mode.type == "rate-per-sec":
            if isinstance(before, SlotPacer):
                before.rate_per_sec = mode.ratePerSec
            else:
                self.pacer = SlotPacer(mode.ratePerSec)
        elif mode.type == "sine" and mode.sine is not None:
            wave = mode.sine
            same_period = isinstance(before, SinePacer) and before.period == wave.periodSeconds
            origin = before.origin if isinstance(before, SinePacer) and same_period else now
            self.pacer = SinePacer(
                wave.minRatePerSec, wave.maxRatePerSec, wave.periodSeconds, wave.phaseOffsetSeconds, origin=origin
            )
        else:
            self.pacer = None


class Moderator:
    def __init__(self, config: ModeratorConfig, deps: RoleDeps, previous: Moderator | None = None) -> None:
        self.config = config
        self.deps = deps
        self.gate: Gate = previous.gate if previous is not None else Gate()
        self.gate.reshape(config.mode, _now())

    async def handle(self, item: WorkItem | None, seq: int) -> WorkItem | None:
        if item is None:
            raise DropItem("moderator.no-item", "moderator needs items from work.in, not a SCHEDULER")
        gate = self.gate
        if gate.pacer is not None:
            gate.waiting += 1
            try:
                async with gate.lock:
                    pacer = gate.pacer  # read under the lock: a config-update may have reshaped it
                    if pacer is not None:
                        wait = pacer.reserve(asyncio.get_running_loop().time())
                        if wait > 0:
                            await asyncio.sleep(wait)
            finally:
                gate.waiting -= 1
        gate.forwarded += 1
        return item

    def target_rate(self) -> float | None:
        """Items/s the moderator lets through now; ``None`` in pass-through."""
        pacer = self.gate.pacer
        if isinstance(pacer, SinePacer):
            return round(pacer.rate_at(_now()), 3)
        if isinstance(pacer, SlotPacer):
            return pacer.rate_per_sec
        return None

    def context(self) -> dict[str, Any]:
        return {
            "mode": self.config.mode.type,
            "targetRatePerSec": self.target_rate(),
            "forwarded": self.gate.forwarded,
            "waiting": self.gate.waiting,
        }


def build(config: CommonConfig, wiring: Wiring) -> Role:
    assert isinstance(config, ModeratorConfig)  # the registry pairs this factory with its config model
    previous = wiring.previous  # its gate (pacer, lock) outlives a config: rates change without a jump
    return Moderator(config, wiring.deps, previous if isinstance(previous, Moderator) else None)


KIND = RoleKind(build)
