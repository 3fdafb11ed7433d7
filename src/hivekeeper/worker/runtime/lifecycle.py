"""Lifecycle: start disabled, enable and disable work, drain what is in flight, stop."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from hivekeeper.protocol import naming
from hivekeeper.worker.runtime.parts import concurrency
from hivekeeper.worker.runtime.work import WorkLoop

log = logging.getLogger("hivekeeper.worker")


class Lifecycle(WorkLoop):
    """Starting, resizing, draining and stopping the work loops; the control plane stays live throughout."""

    async def start(self) -> None:
        """Listen for signals, report ``status-full``, and wait (disabled) for a config-update."""
        bindings = naming.control_bindings(self.identity.swarm, self.identity.role, self.identity.instance)
        await self.transports.control.listen(self.control_queue, bindings, self.on_control)
        self._resize(concurrency(self.state))
        self._background.append(asyncio.create_task(self._status_loop(), name=f"status:{self.identity.instance}"))
        self._background.append(asyncio.create_task(self.guard.run(), name=f"guard:{self.identity.instance}"))
        await self.emit_status("status-full")
        log.info("worker started disabled", extra=self._log_fields())

    async def stop(self, grace: float = 0.0) -> None:
        """Stop working and release the transports.

        With ``grace`` (a pod's SIGTERM), the worker first takes no new work and lets items in flight
        finish for up to that many seconds, so a rolling update neither cuts calls off mid-flight nor
        has the broker redeliver (and the SUT see twice) items that were nearly done. Whatever is still
        running then is cancelled: unacknowledged deliveries go back to their queue, dataset elements
        in a pop back to their list.
        """
        if grace > 0 and self._enabled.is_set():
            self._enabled.clear()
            await self.source.pause()
            if self.stats.in_flight:
                log.info(
                    "stopping: letting items in flight finish",
                    extra={**self._log_fields(), "inFlight": self.stats.in_flight, "graceSeconds": grace},
                )
            await self._drain(grace)
        self._enabled.clear()
        self._closed = True
        for task in [*self._loops.tasks, *self._background]:
            task.cancel()
        await asyncio.gather(*self._loops.tasks, *self._background, return_exceptions=True)
        self._loops.tasks.clear()
        await self.source.close()
        if self.sink is not None:
            await self.sink.close()
        if self.http is not None:
            self.http.close()
        self.tcp.close()
        self.auth.close()

    def _resize(self, target: int) -> None:
        self._loops.target = target
        self._loops.tasks = [t for t in self._loops.tasks if not t.done()]
        while len(self._loops.tasks) < target:
            index = len(self._loops.tasks)
            self._loops.tasks.append(asyncio.create_task(self._work(index), name=f"work:{index}"))

    async def _drain(self, timeout: float) -> None:
        """Wait (bounded) for items in flight to finish, so that "disabled" means nothing is moving."""
        if self.stats.in_flight == 0:
            return
        self._drained.clear()
        self._draining = True
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._drained.wait(), timeout)
        finally:
            self._draining = False
