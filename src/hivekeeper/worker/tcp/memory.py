"""The TCP port's in-memory twin: scripted replies and errors, no sockets.

Unit tests of the processor give it a :class:`MemoryTcp`: each call is recorded (:attr:`MemoryTcp.sent`) and
answered by the next scripted outcome, or by ``respond`` once the script is used up (by default: the echo of what
was written for ECHO, nothing for FIRE_FORGET, ``b"ok"`` plus the end tag for REQUEST_RESPONSE, ``b"ok"``
otherwise).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from hivekeeper.worker.tcp_port import TcpCall, TcpEndpoint, TcpError, TcpReply, TcpSettings


@dataclass(frozen=True)
class SentCall:
    endpoint: TcpEndpoint
    call: TcpCall
    timeout: float
    settings: TcpSettings


TcpOutcome = bytes | TcpError
TcpResponder = Callable[[SentCall], TcpOutcome]


def _default(sent: SentCall) -> TcpOutcome:
    call = sent.call
    return {
        "ECHO": call.payload,
        "FIRE_FORGET": b"",
        "REQUEST_RESPONSE": b"ok" + call.end_tag,
    }.get(call.behavior, b"ok")


class MemoryTcp:
    """A :class:`~hivekeeper.worker.tcp_port.TcpPort` answering from a script (``script(b"reply", TcpTimeout())``)."""

    def __init__(self, respond: TcpResponder = _default) -> None:
        self.respond = respond
        self.sent: list[SentCall] = []
        self.closed = False
        self._script: deque[TcpOutcome] = deque()

    def script(self, *outcomes: TcpOutcome) -> MemoryTcp:
        self._script.extend(outcomes)
        return self

    async def send(self, endpoint: TcpEndpoint, call: TcpCall, timeout: float, settings: TcpSettings) -> TcpReply:
        sent = SentCall(endpoint, call, timeout, settings)
        self.sent.append(sent)
        outcome = self._script.popleft() if self._script else self.respond(sent)
        if isinstance(outcome, TcpError):
            raise outcome
        return TcpReply(outcome[: call.max_bytes], 0.0, len(self.sent) > 1)

    def close(self) -> None:
        self.closed = True
