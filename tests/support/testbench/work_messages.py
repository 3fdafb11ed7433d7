"""The WorkItems in a work-queue message read with aio-pika: one, or every item of a batch (decision 0013).

Tests that read a work queue themselves (not through a worker) see what the workers publish: a plain message per
item at low rates, batch messages (header ``hivekeeper-batch``) when several items go out in one loop turn."""

from __future__ import annotations

from collections.abc import Iterable

import aio_pika

from hivekeeper.protocol.batch import BATCH_HEADER, split


def items(message: aio_pika.abc.AbstractMessage) -> list[bytes]:
    """The items ``message`` carries, in order."""
    count = (message.headers or {}).get(BATCH_HEADER)
    return [message.body] if count is None else split(message.body, count)


def all_items(messages: Iterable[aio_pika.abc.AbstractMessage]) -> list[bytes]:
    """The items of ``messages``, in order."""
    return [item for message in messages for item in items(message)]
