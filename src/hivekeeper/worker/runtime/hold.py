"""The buffer guard on an input without a rate of its own (RABBITMQ): the work loops hold back instead of a pacer.

While the guard is closed, a loop takes its next item only at the next slot of ``minRatePerSec``, or, at 0, once
the guard opens. Deliveries the broker already sent wait in the input, and the prefetch bound keeps the rest in
the queue, where the stage upstream sees them: so a stage that guards its own output passes backpressure up the
pipeline, one queue at a time. While the guard is open the loops pay one attribute read per item.
"""

from __future__ import annotations

import asyncio

from hivekeeper.worker.pacing import SlotPacer


class InputHold:
    """Whether the work loops may take items; :meth:`set` follows the guard, :meth:`wait` is each loop's gate."""

    def __init__(self) -> None:
        self.closed = False
        self._pacer: SlotPacer | None = None
        """The slots of ``minRatePerSec`` while closed (None: no items until the guard opens)."""
        self._waiting: set[asyncio.Future[None]] = set()
        """The loops waiting for their slot or for the opening: an opening releases them all at once."""

    def set(self, closed: bool, min_rate: float) -> None:
        """Follow the guard: ``closed`` with the rate allowed meanwhile (0: none)."""
        self.closed = closed
        if not closed:
            self._pacer = None
            for waiter in self._waiting:
                _release(waiter)
        elif min_rate <= 0:
            self._pacer = None
        elif self._pacer is None or self._pacer.rate_per_sec != min_rate:
            self._pacer = SlotPacer(min_rate)

    async def wait(self) -> None:
        """Return when this loop may take an item: at once while open, else at its slot or at the opening."""
        loop = asyncio.get_running_loop()
        while self.closed:
            pacer = self._pacer
            delay = None if pacer is None else pacer.reserve(loop.time())
            if delay is not None and delay <= 0:
                return
            waiter = loop.create_future()
            # A timer, not wait_for: on Python 3.11 wait_for can swallow a cancellation (the worker stopping).
            timer = loop.call_later(delay, _release, waiter) if delay is not None else None
            self._waiting.add(waiter)
            try:
                await waiter
            finally:
                self._waiting.discard(waiter)
                if timer is not None:
                    timer.cancel()
            if delay is not None:
                return  # its slot came (or the guard opened)


def _release(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)
