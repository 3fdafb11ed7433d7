"""A tiny control plane for local runs: send config-updates, wait for every outcome.

It speaks exactly the protocol the operator speaks (signals on the control exchange, outcomes
back as events), so ``hivekeeper run`` exercises the same worker code paths as a cluster.
"""

from __future__ import annotations

import asyncio
from typing import Any

from hivekeeper.errors import HivekeeperError
from hivekeeper.protocol import envelope as env
from hivekeeper.protocol import naming
from hivekeeper.worker.ports import ControlBus, ControlMessage


class OutcomeFailed(HivekeeperError, RuntimeError):
    """A worker answered ``Failed``; the message carries its reason."""


class LocalController:
    EVENTS_QUEUE = "hivekeeper.local.events"

    def __init__(self, bus: ControlBus, swarm: str) -> None:
        self.bus = bus
        self.swarm = swarm
        self._waiting: dict[str, asyncio.Future[env.Envelope]] = {}
        self.alerts: list[env.Envelope] = []

    async def start(self) -> None:
        await self.bus.listen(self.EVENTS_QUEUE, [naming.events_binding(self.swarm)], self._on_event)

    async def _on_event(self, received: ControlMessage) -> None:
        try:
            message = env.parse(received.body)
        except env.EnvelopeError:
            return
        if message.kind == "outcome" and message.correlationId in self._waiting:
            future = self._waiting.pop(message.correlationId)
            if not future.done():
                future.set_result(message)
        elif message.kind == "event" and message.type == "alert":
            self.alerts.append(message)
            del self.alerts[:-200]

    async def send(
        self, signal_type: str, role: str, instance: str, data: dict[str, Any], timeout: float = 10.0
    ) -> env.Envelope:
        """Send one signal to one instance and return its outcome; ``Failed`` raises :class:`OutcomeFailed`."""
        scope = env.Scope(swarmId=self.swarm, role=role, instance=instance)
        signal = env.signal(signal_type, scope, data, origin="hivekeeper-run")
        assert signal.correlationId is not None
        future: asyncio.Future[env.Envelope] = asyncio.get_running_loop().create_future()
        self._waiting[signal.correlationId] = future
        await self.bus.publish(naming.signal_key(signal_type, self.swarm, role, instance), signal.to_json())
        try:
            async with asyncio.timeout(timeout):
                outcome = await future
        except TimeoutError as exc:
            self._waiting.pop(signal.correlationId, None)
            raise OutcomeFailed(f"{role}/{instance} did not answer {signal_type} within {timeout:.0f}s") from exc
        if outcome.data.get("status") != "Applied":
            reason = outcome.data.get("context", {}).get("reason", "no reason given")
            raise OutcomeFailed(f"{role}/{instance} rejected {signal_type}: {reason}")
        return outcome
