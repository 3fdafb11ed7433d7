"""The HTTP port's in-memory twin: scripted answers and errors, no sockets, no latency.

Unit tests of the roles that call a system under test (processor, http-sequence) give them a
:class:`MemoryHttp` instead of the pooled client: each request is recorded (:attr:`MemoryHttp.sent`,
parsed back into method, target, headers and body) and answered by the next scripted outcome, or by
``respond`` once the script is used up. Like the real client it keeps at most ``limit`` body bytes (the
rest is counted in ``body_bytes``) and gives a ``HEAD`` response no body.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from hivekeeper.api.http_limits import DEFAULT_MAX_RESPONSE_BYTES
from hivekeeper.worker.http_port import HttpError, Origin, Response


@dataclass(frozen=True)
class Sent:
    """One request the twin received, as the role serialised it."""

    origin: Origin
    raw: bytes
    timeout: float
    head: bool
    idempotent: bool
    limit: int

    @property
    def method(self) -> str:
        return self.raw[: self.raw.index(b" ")].decode("latin-1")

    @property
    def target(self) -> str:
        line = self.raw[: self.raw.index(b"\r\n")].decode("latin-1")
        return line.split(" ")[1]

    @property
    def headers(self) -> dict[str, str]:
        """Header names in lower case (the last of repeated names wins)."""
        head = self.raw[: self.raw.index(b"\r\n\r\n")].decode("latin-1").split("\r\n")[1:]
        return {name.strip().lower(): value.strip() for name, value in (line.split(":", 1) for line in head)}

    @property
    def body(self) -> bytes:
        return self.raw[self.raw.index(b"\r\n\r\n") + 4 :]


@dataclass(frozen=True)
class Reply:
    """A scripted response: any status is a response."""

    status: int = 200
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = ()


Outcome = Reply | HttpError
Responder = Callable[[Sent], Outcome]


def _ok(_: Sent) -> Outcome:
    return Reply()


class MemoryHttp:
    """An :class:`~hivekeeper.worker.http_port.HttpPort` answering from a script.

    ``script(...)`` queues outcomes (a :class:`Reply`, or an :class:`HttpError` to raise), used in order;
    when none is left, ``respond(sent)`` answers (200 with no body unless given).
    """

    def __init__(self, respond: Responder = _ok) -> None:
        self.respond = respond
        self.sent: list[Sent] = []
        self.closed = False
        self._script: deque[Outcome] = deque()

    def script(self, *outcomes: Outcome | Iterable[Outcome]) -> MemoryHttp:
        for outcome in outcomes:
            if isinstance(outcome, Reply | HttpError):
                self._script.append(outcome)
            else:
                self._script.extend(outcome)
        return self

    async def send(
        self,
        origin: Origin,
        raw: bytes,
        timeout: float,
        *,
        head: bool = False,
        idempotent: bool = False,
        limit: int = DEFAULT_MAX_RESPONSE_BYTES,
    ) -> Response:
        sent = Sent(origin, raw, timeout, head, idempotent, limit)
        self.sent.append(sent)
        outcome = self._script.popleft() if self._script else self.respond(sent)
        if isinstance(outcome, HttpError):
            raise outcome
        body = b"" if head else outcome.body
        headers = [(name.encode("latin-1"), value.encode("latin-1")) for name, value in outcome.headers]
        return Response(outcome.status, headers, body[:limit], True, len(body))

    def close(self) -> None:
        self.closed = True
