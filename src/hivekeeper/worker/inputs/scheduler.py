"""SCHEDULER input: ticks at an exact long-run rate, live-adjustable, with ``maxMessages``.

There is no pacing task and no tick queue: a worker loop that asks for a tick takes one from the
credit the pacer has granted, and only when none is left does one loop (holding a lock) wait for
the next tick to fall due. Slow workers therefore simply ask less often; the pacer's capped credit
decides how much catching up is allowed, and nothing piles up in between.
"""

from __future__ import annotations

import asyncio

from hivekeeper.worker.pacing import RatePacer
from hivekeeper.worker.ports import Delivery

_MAX_SLEEP = 0.05
"""Re-check at least this often so that a live rate change takes effect quickly."""


class SchedulerSource:
    def __init__(self, rate_per_sec: float, max_messages: int = 0, buffer: int = 64) -> None:
        self.pacer = RatePacer(rate_per_sec, max_messages)
        self._ready = 0
        self._seq = 0
        self._running = asyncio.Event()
        self._lock = asyncio.Lock()

    async def get(self) -> Delivery:
        if self._ready == 0:
            await self._refill()
        self._ready -= 1
        self._seq += 1
        return Delivery(None, self._seq)

    async def _refill(self) -> None:
        loop = asyncio.get_running_loop()
        async with self._lock:
            while self._ready == 0:
                await self._running.wait()
                due = self.pacer.due(loop.time())
                if due:
                    self._ready += due
                    return
                await asyncio.sleep(min(self.pacer.seconds_until_next(), _MAX_SLEEP))

    def buffered(self) -> int:
        return 0

    async def pause(self) -> None:
        self._running.clear()
        self.hold_back()

    def hold_back(self) -> None:
        """Forget the ticks granted and the credit earned (a pause, or a closing buffer guard): what fell due at
        the old rate must not still go out."""
        # Granted ticks nobody took are not items: give them back to the maxMessages count.
        self.pacer.dispatched -= self._ready
        self._ready = 0
        self.pacer.pause()

    async def resume(self) -> None:
        self._running.set()

    def configure(self, rate_per_sec: float, max_messages: int, reset: bool) -> None:
        loop = asyncio.get_running_loop()
        self.pacer.set_rate(rate_per_sec, loop.time())
        self.pacer.max_messages = max_messages
        if reset:
            self.pacer.reset()

    def state(self) -> str:
        return "out-of-data" if self.pacer.exhausted else "ok"

    def context(self) -> dict[str, object]:
        return {
            "ratePerSec": self.pacer.rate_per_sec,
            "maxMessages": self.pacer.max_messages,
            "dispatched": self.pacer.dispatched,
            "remaining": self.pacer.remaining,
            "exhausted": self.pacer.exhausted,
        }

    async def close(self) -> None:
        self._running.clear()
