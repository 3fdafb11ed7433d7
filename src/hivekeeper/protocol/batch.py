"""Work-plane batches: several WorkItems in one AMQP message (decision 0013).

A batch is a message whose ``hivekeeper-batch`` header holds the number of items and whose body is the items one
after another, each as a 4-byte big-endian length and then the item's own bytes (a WorkItem exactly as it would
travel alone). A message without the header is one item, so queues mix both freely, and a reader that knows
nothing of batches (a PocketHive worker) must only be given unbatched queues (the operator sees to that).

Pure: :func:`encode` and :func:`split` only; the publisher that coalesces and the consumer that splits are in the
worker's RabbitMQ transport. Every bound is checked: a malformed batch is a :class:`BatchError` naming what is
wrong, never a partial read.
"""

from __future__ import annotations

import struct

from hivekeeper.errors import InvalidInput

BATCH_HEADER = "hivekeeper-batch"
"""AMQP header of a batch message: the number of items in its body."""
CONTENT_TYPE = "application/vnd.hivekeeper.batch"
MAX_ITEMS = 1024
"""Items one batch may hold (a publisher's bound is lower: ``outputs.batching.maxItems``)."""
_LENGTH = struct.Struct(">I")


class BatchError(InvalidInput, ValueError):
    """A batch message whose body does not hold what its header says."""


def encode(items: list[bytes]) -> bytes:
    """The body of a batch of ``items`` (1 to ``MAX_ITEMS``; each a WorkItem's bytes)."""
    if not 1 <= len(items) <= MAX_ITEMS:
        raise BatchError(f"a batch holds 1 to {MAX_ITEMS} items, not {len(items)}")
    parts = bytearray()
    for item in items:
        parts += _LENGTH.pack(len(item))
        parts += item
    return bytes(parts)


def encoded_size(items: list[bytes]) -> int:
    """The size of :func:`encode`'s body without building it (a publisher checks its byte bound with it)."""
    return sum(len(item) for item in items) + _LENGTH.size * len(items)


def split(body: bytes, count: object) -> list[bytes]:
    """The items of a batch whose ``hivekeeper-batch`` header is ``count``."""
    if not isinstance(count, int) or isinstance(count, bool) or not 1 <= count <= MAX_ITEMS:
        raise BatchError(f"header {BATCH_HEADER} is {count!r}: it must be the number of items, 1 to {MAX_ITEMS}")
    items: list[bytes] = []
    view = memoryview(body)
    offset = 0
    for index in range(count):
        if offset + _LENGTH.size > len(view):
            raise BatchError(f"batch of {count} items ends after {index} (body {len(body)} bytes)")
        (length,) = _LENGTH.unpack_from(view, offset)
        offset += _LENGTH.size
        if offset + length > len(view):
            raise BatchError(f"item {index} of the batch says {length} bytes but only {len(view) - offset} are left")
        items.append(bytes(view[offset : offset + length]))
        offset += length
    if offset != len(view):
        raise BatchError(f"batch of {count} items has {len(view) - offset} bytes after its last item")
    return items
