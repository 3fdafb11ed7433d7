"""The books of one batch message being consumed item by item (decision 0013): pure, no I/O.

A batch message becomes one delivery per item and is settled with the broker once, when the last of its items is
settled. An item given back (rejected with requeue) is published back alone and then counts as settled; if that
publish fails, the whole message goes back to the queue instead once the others are settled (its other items are
then processed again: at-least-once, bounded by the batch).
"""

from __future__ import annotations

from typing import Literal

Outcome = Literal["ack", "requeue"]


class BatchBooks:
    """How many items of one batch message are still unsettled, and how the message is settled at the end."""

    __slots__ = ("_requeue", "key", "left", "redeliveries", "taken")

    def __init__(self, items: int, redeliveries: int = 0, key: int | None = None) -> None:
        self.left = items
        """Items not yet settled."""
        self.taken = 0
        """Items handed to a work loop so far (the others are still in the source's buffer)."""
        self.redeliveries = redeliveries
        """How often the message came back before (every item of it carries this count)."""
        self.key = key
        """The redelivery counter's key of the message (forgotten once it is acknowledged), if it counted one."""
        self._requeue = False

    def give_back_failed(self) -> None:
        """An item could not be published back alone: the whole message goes back to the queue at the end."""
        self._requeue = True

    def settle(self) -> Outcome | None:
        """One more item is settled: the message's outcome when it was the last one, else None."""
        self.left -= 1
        if self.left:
            return None
        return "requeue" if self._requeue else "ack"

    def drop(self) -> None:
        """The message was settled whole (given back before any item was taken): later settles change nothing."""
        self.left = -1
