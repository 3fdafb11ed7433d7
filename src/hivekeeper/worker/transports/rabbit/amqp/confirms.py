"""The publishes of one channel on their way to a confirm: each return matched to its own publish,
confirm and blocked timeouts, publishes held while the broker blocks the connection.

Returns: in confirm mode RabbitMQ sends a mandatory publish's ``Basic.Return`` before the confirm of
that publish, but the return carries no delivery tag, and the confirm may be a ``multiple`` ack that
also covers routed publishes. So a return is matched to the earliest unconfirmed publish with the
same exchange, routing key and body (returns come in publish order, so among identical publishes
the earliest is the right one), and only that publish fails when its confirm arrives.

Timeouts cost nothing per publish: a watchdog tick (``expire``) records ``(last sequence number,
now)`` marks; every publish numbered at or below a mark older than the timeout is overdue. A publish
therefore fails between one and one and a half timeouts after it was sent (the tick is a quarter of
the timeout). While the broker blocks the connection, confirms are not expected (it reads nothing),
so the confirm clock stops and the blocked timeout applies instead.
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Callable

from hivekeeper.worker.transports.rabbit.amqp.errors import ConfirmTimeout, Nacked, Unroutable

Record = tuple[asyncio.Future[None], str, str, bytes]
"""A publish sent and not yet confirmed: its future, exchange, routing key and body (kept by reference,
to match returns and to tell a too-large publish from the others when the broker closes the channel)."""
NACKED = "the broker nacked the item (a queue refused it: reject-publish overflow, or an internal error)"

Held = tuple[asyncio.Future[None], str, str, bytes, float, int]
"""A publish held while the connection is blocked: as :data:`Record`, plus when it gives up and its batch count
(0: a single item)."""


class PublishTracker:
    __slots__ = ("_marks", "held", "returned", "seq", "unconfirmed")

    def __init__(self) -> None:
        self.seq = 0
        """The delivery tag of the last publish sent on the channel (the broker numbers them the same way)."""
        self.unconfirmed: dict[int, Record] = {}
        self.returned: dict[int, str] = {}
        """Sequence numbers matched to a ``Basic.Return``, with its reason, until their confirm arrives."""
        self.held: collections.deque[Held] = collections.deque()
        self._marks: collections.deque[tuple[int, float]] = collections.deque()

    def sent(self, future: asyncio.Future[None], exchange: str, routing_key: str, body: bytes) -> None:
        self.seq += 1
        self.unconfirmed[self.seq] = (future, exchange, routing_key, body)

    def on_return(self, reason: str, exchange: str, routing_key: str, body: bytes) -> None:
        returned = self.returned
        for seq, (_, sent_exchange, sent_key, sent_body) in self.unconfirmed.items():
            if seq not in returned and sent_key == routing_key and sent_exchange == exchange and sent_body == body:
                returned[seq] = reason
                return

    def on_confirm(self, tag: int, multiple: bool, ok: bool) -> None:
        unconfirmed = self.unconfirmed
        if not multiple:
            tags = [tag]
        elif tag >= self.seq:  # the usual multiple ack: everything sent so far
            tags = list(unconfirmed)
        else:
            tags = []
            for seq in unconfirmed:  # in sequence order: stop at the first one above the tag
                if seq > tag:
                    break
                tags.append(seq)
        returned = self.returned
        for seq in tags:
            record = unconfirmed.pop(seq, None)
            if record is None:  # already failed by a timeout; a late confirm changes nothing
                continue
            reason = returned.pop(seq, None) if returned else None
            future = record[0]
            if future.done():
                continue
            if not ok:
                future.set_exception(
                    Nacked(
                        "the broker nacked the item (a queue refused it: reject-publish overflow or an internal error)"
                    )
                )
            elif reason is not None:
                future.set_exception(Unroutable(f"no queue is bound for the item: {reason}"))
            else:
                future.set_result(None)

    def expire(self, now: float, timeout: float) -> None:
        """Fail publishes sent more than ``timeout`` seconds ago (see the module docstring)."""
        marks = self._marks
        marks.append((self.seq, now))
        cutoff = 0
        while marks and marks[0][1] <= now - timeout:
            cutoff = marks.popleft()[0]
        if not cutoff or not self.unconfirmed:
            return
        overdue = []
        for seq in self.unconfirmed:
            if seq > cutoff:
                break
            overdue.append(seq)
        error = ConfirmTimeout(f"no publisher confirm from the broker within the confirm timeout of {timeout:g} s")
        for seq in overdue:
            future = self.unconfirmed.pop(seq)[0]
            self.returned.pop(seq, None)
            if not future.done():
                future.set_exception(error)

    def restart_clock(self, now: float) -> None:
        """Give every unconfirmed publish a fresh confirm timeout (the connection was blocked until now)."""
        self._marks.clear()
        self._marks.append((self.seq, now))

    def fail_unconfirmed(self, error_for: Callable[[bytes], Exception]) -> None:
        """Fail every unconfirmed publish with ``error_for(body)``."""
        records = list(self.unconfirmed.values())
        self.unconfirmed.clear()
        self.returned.clear()
        for future, _, _, body in records:
            if not future.done():
                future.set_exception(error_for(body))

    def fail_held(self, error: Exception, now: float | None = None) -> None:
        """Fail held publishes: all of them, or (with ``now``) those whose blocked timeout has passed."""
        keep: collections.deque[Held] = collections.deque()
        for held in self.held:
            if now is not None and held[4] > now:
                keep.append(held)
            elif not held[0].done():
                held[0].set_exception(error)
        self.held = keep
