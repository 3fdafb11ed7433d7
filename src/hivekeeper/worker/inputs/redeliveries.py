"""How many times an item came back, for queues whose broker does not count (classic queues).

RabbitMQ marks a redelivery with the ``redelivered`` flag but counts deliveries only on quorum
queues (``x-delivery-count``); our work queues are classic. Two ways to count the rest were weighed:

- a header written on republish (the worker acks the item and publishes a copy with ``attempts+1``):
  survives restarts and is shared by replicas, but turns one requeue into a publish *and* an ack (a
  duplicate when the worker dies between them), reorders the queue, and needs a working publish
  exactly when publishing is what fails;
- **a bounded in-memory map** (chosen): a redelivered item's body hash → how often this worker saw it
  come back. Nothing changes on the wire, first deliveries cost nothing (only redelivered ones are
  hashed), memory is bounded (the oldest entries go first). It counts per worker and is lost on a
  restart, so with R replicas an item may be tried up to R * (maxRedeliveries + 1) times, and a
  restart starts the count again: still bounded, unlike the loop it replaces. Where the broker's count
  is there (a quorum queue), the worker uses that instead.

Pure: no I/O.
"""

from __future__ import annotations

from collections import OrderedDict

ENTRIES = 10_000
"""Redelivered items remembered at most (~1 MB); beyond that the least recently seen are forgotten."""


class RedeliveryCounter:
    def __init__(self, entries: int = ENTRIES) -> None:
        self._entries = entries
        self._seen: OrderedDict[int, int] = OrderedDict()

    def count(self, body: bytes) -> tuple[int, int]:
        """Record one more redelivery of ``body``; return its key and how many times it came back so far."""
        key = hash(body)
        seen = self._seen
        times = seen.pop(key, 0) + 1
        seen[key] = times
        if len(seen) > self._entries:
            seen.popitem(last=False)
        return key, times

    def seen(self, body: bytes) -> tuple[int, int]:
        """``body``'s key and how many times it came back so far (0: never), without counting one more."""
        key = hash(body)
        return key, self._seen.get(key, 0)

    def forget(self, key: int) -> None:
        """The item was settled for good (acknowledged): its count is no longer needed."""
        self._seen.pop(key, None)

    def __len__(self) -> int:
        return len(self._seen)
