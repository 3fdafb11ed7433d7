"""SCHEDULER input: ticks at an exact long-run rate, live-adjustable, with ``maxMessages``.

One pacing task feeds a queue no longer than the worker's concurrency, so when the worker is slow
the pacing task blocks instead of queueing ticks (no hidden backlog; the pacer's capped credit
decides how much catching up is allowed).
"""

from __future__ import annotations

import asyncio
import contextlib

from hivekeeper.worker.pacing import RatePacer
from hivekeeper.worker.ports import Delivery

_MAX_SLEEP = 0.05
"""Re-check at least this often so that a live rate change takes effect quickly."""


class SchedulerSource:
    def __init__(self, rate_per_sec: float, max_messages: int = 0, buffer: int = 64) -> None:
        self.pacer = RatePacer(rate_per_sec, max_messages)
        self._ticks: asyncio.Queue[int] = asyncio.Queue(maxsize=max(1, buffer))
        self._running = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._seq = 0

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._pace(), name="scheduler")

    async def _pace(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self._running.wait()
            due = self.pacer.due(loop.time())
            for _ in range(due):
                self._seq += 1
                await self._ticks.put(self._seq)
                if not self._running.is_set():
                    break
            wait = self.pacer.seconds_until_next()
            await asyncio.sleep(min(wait, _MAX_SLEEP) if due == 0 else 0)

    async def get(self) -> Delivery:
        self.start()
        return Delivery(None, await self._ticks.get())

    async def pause(self) -> None:
        self._running.clear()
        self.pacer.pause()
        while not self._ticks.empty():  # ticks are not work: drop the ones not yet taken
            self._ticks.get_nowait()

    async def resume(self) -> None:
        self.start()
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
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
