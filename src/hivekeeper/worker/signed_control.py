"""A worker's control plane that lets through only the signals its operator signed.

Wraps the transports a worker is built with: the control bus's handler sees a signal only after
:class:`~hivekeeper.protocol.signing.Verifier` accepted it. A refused signal changes nothing; it is
counted and reported through ``refused``: the worker raises a ``control.signal-<unsigned|forged|stale|
replayed>`` alert, folded by its alert throttle, so a flood of forged signals is one alert with a count, not
a log storm.
"""

from __future__ import annotations

from collections.abc import Callable

from hivekeeper.protocol import envelope as env
from hivekeeper.protocol.signing import Refusal, Verifier
from hivekeeper.worker.identity import Identity
from hivekeeper.worker.ports import (
    ControlBus,
    ControlHandler,
    ControlMessage,
    DeadLetters,
    Transports,
    WorkSink,
    WorkSource,
)

Refused = Callable[[Refusal, env.Envelope], None]


class VerifiedControlBus:
    def __init__(self, inner: ControlBus, verifier: Verifier, refused: Refused) -> None:
        self._inner = inner
        self._verifier = verifier
        self._refused = refused
        self.refused = 0

    async def listen(self, queue: str, bindings: list[str], handler: ControlHandler) -> None:
        async def verified(received: ControlMessage) -> None:
            try:
                message = env.parse(received.body)
            except env.EnvelopeError:
                await handler(received)  # the worker reports unreadable messages itself
                return
            if message.kind == "signal" and (
                problem := self._verifier.problem(received.body, received.signature, message)
            ):
                self.refused += 1
                self._refused(problem, message)
                return
            await handler(received)

        await self._inner.listen(queue, bindings, verified)

    async def publish(self, routing_key: str, body: bytes) -> None:
        await self._inner.publish(routing_key, body)

    async def close(self) -> None:
        await self._inner.close()


class VerifiedTransports:
    """The worker's transports with :class:`VerifiedControlBus` in front of the control bus."""

    def __init__(self, inner: Transports, verifier: Verifier, refused: Refused) -> None:
        self._inner = inner
        self._control = VerifiedControlBus(inner.control, verifier, refused)

    @property
    def control(self) -> VerifiedControlBus:
        return self._control

    def source(self, identity: Identity, prefetch: int) -> WorkSource:
        return self._inner.source(identity, prefetch)

    def sink(self, identity: Identity) -> WorkSink:
        return self._inner.sink(identity)

    def dead_letters(self, identity: Identity) -> DeadLetters:
        return self._inner.dead_letters(identity)

    async def queue_depth(self, queue: str) -> int:
        return await self._inner.queue_depth(queue)
