"""The buffer guard's loop: read the watched queue's depth every ``intervalMs`` and slow or restore the
producer's rate when the guard closes or opens (the decisions are :mod:`hivekeeper.worker.buffer_guard`'s).

The depth comes from the broker (a passive declare's message count on RabbitMQ, the queue itself in memory),
at most once per interval whatever the number of items, so the guard costs the broker nothing per item.
Closing raises an ``io.backpressure`` warning; opening is logged; both show in ``context.bufferGuard`` and in
the input's ioState (``backpressure`` while closed).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from hivekeeper.api.roles.buffer_guard import BufferGuard
from hivekeeper.protocol.workitem import now
from hivekeeper.worker.buffer_guard import GuardState

log = logging.getLogger("hivekeeper.worker")

IDLE_INTERVAL = 1.0
"""Seconds between looks at the config while no guard is configured (one may be added live)."""

MAX_RETRY_INTERVAL = 30.0
"""Longest wait between depth reads while they fail (each failure doubles the wait, from intervalMs)."""

AlertFn = Callable[..., None]


class BufferGuardRunner:
    """Runs one worker's guard; ``config`` is swapped in by config-updates (``bufferGuard`` is live)."""

    def __init__(
        self,
        config: BufferGuard | None,
        *,
        depth: Callable[[str], Awaitable[int]],
        on_change: Callable[[], None],
        alert: AlertFn,
        queue_name: Callable[[str], str],
    ) -> None:
        self.config = config
        self.state = GuardState()
        self._depth = depth
        self._on_change = on_change
        self._alert = alert
        self._queue_name = queue_name
        self._failures = 0
        """Depth reads failed in a row: the next read waits longer (a missing queue is not asked every second)."""
        self._nudged = False
        """Set by :meth:`configure`: the loop reads again at once instead of finishing its wait."""
        self._pausing: asyncio.Future[None] | None = None

    @property
    def throttled(self) -> bool:
        return self.state.throttled

    def configure(self, config: BufferGuard | None) -> None:
        """Take a new ``bufferGuard``; a removed or disabled guard lets the producer go at once."""
        self.config = config
        if (config is None or not config.enabled) and self.state.release(now()):
            self._on_change()
        # Every config-update (the enable among them) reads again at once, with the back-off forgotten: the queue
        # a producer watches is often declared only when the swarm starts, after reads that failed and waited
        # longer each time (up to MAX_RETRY_INTERVAL), which would leave the producer unguarded that long.
        self._failures = 0
        self._nudged = True
        if self._pausing is not None:
            _settle(self._pausing)

    async def run(self) -> None:
        while True:
            config = self.config
            if config is None or not config.enabled:
                await self._pause(IDLE_INTERVAL)
                continue
            await self.check(config)
            await self._pause(self.wait(config))

    async def _pause(self, seconds: float) -> None:
        """Wait ``seconds``, or less if a config-update comes meanwhile. (A future and a timer, not
        ``asyncio.wait_for`` on an Event: on Python 3.11, wait_for swallows a cancellation that arrives as its inner
        wait completes, so a config-update landing as the worker stopped kept this loop, and the stop, running.)"""
        if self._nudged:
            self._nudged = False
            return
        loop = asyncio.get_running_loop()
        self._pausing = pausing = loop.create_future()
        timer = loop.call_later(seconds, _settle, pausing)
        try:
            await pausing
        finally:
            timer.cancel()
            self._pausing = None
            self._nudged = False

    def wait(self, config: BufferGuard) -> float:
        """Seconds until the next read: ``intervalMs``, doubled per read failed in a row (capped)."""
        interval = config.intervalMs / 1000
        if not self._failures:
            return interval
        backoff: float = interval * 2 ** min(self._failures, 10)
        return max(interval, min(MAX_RETRY_INTERVAL, backoff))

    async def check(self, config: BufferGuard) -> None:
        """Read the depth once and act on it."""
        queue = self._queue_name(config.queue)
        try:
            depth = await self._depth(queue)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self._failures += 1
            self.state.failed(f"{type(exc).__name__}: {exc}")
            self._alert(
                "io.buffer-guard-unavailable",
                f"bufferGuard could not read the depth of {queue} ({self.state.last_error}); the producer keeps "
                f"its current rate",
                {"queue": queue},
                level="warning",
            )
            return
        self._failures = 0
        if not self.state.observe(depth, config, now()):
            return
        self._on_change()
        if self.state.throttled:
            self._alert(
                "io.backpressure",
                f"queue {queue} holds {depth} items (bufferGuard.high {config.high}): production slowed to "
                f"{config.minRatePerSec:g}/s until it is down to {config.low}",
                {"queue": queue, "depth": depth, "high": config.high, "low": config.low},
                level="warning",
            )
        else:
            log.info("bufferGuard: queue %s down to %d items; configured rate restored", queue, depth)

    def context(self) -> dict[str, Any] | None:
        config = self.config
        if config is None:
            return None
        state = self.state
        return {
            "queue": config.queue,
            "enabled": config.enabled,
            "state": "throttled" if state.throttled else "open",
            "depth": state.depth,
            "high": config.high,
            "low": config.low,
            "minRatePerSec": config.minRatePerSec,
            "trips": state.trips,
            "changedAt": state.changed_at,
            "readErrors": state.read_errors,
            "lastErrorMessage": state.last_error,
        }


def _settle(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
