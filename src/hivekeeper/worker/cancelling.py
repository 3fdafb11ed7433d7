"""Cancellations that a library swallowed: the one check the Redis adapter and the Redis pushes share."""

from __future__ import annotations

import asyncio


def swallowed_cancel() -> bool:
    """True when this task was cancelled but a Redis call swallowed the CancelledError.

    Python 3.11's ``asyncio.wait_for`` (which redis-py uses to write commands) returns the result when a
    cancellation arrives just as the write completes; the caller carries on as if never cancelled, and a
    stopping worker would wait for it forever. The request is still recorded on the task.
    """
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0
