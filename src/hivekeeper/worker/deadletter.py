"""Dead letters: items a role failed to process, kept in the swarm's dead-letter queue (opt-in).

A work loop must never wait for the dead-letter queue nor fail because of it, so a failed item is
offered to a bounded :class:`DeadLetterOutbox` and one background task publishes it. When the
outbox is full (in items or in bytes: poison items may be large) the item is not kept (counted,
and alerted once per window); when publishing fails
the task alerts, forgets that item and backs off, so a broken queue costs neither memory nor CPU.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from hivekeeper.worker.ports import DeadLetters

HEADER_REASON = "x-hivekeeper-failure-reason"
HEADER_CODE = "x-hivekeeper-failure-code"
HEADER_ROLE = "x-hivekeeper-role"
HEADER_INSTANCE = "x-hivekeeper-instance"

REASON_LIMIT = 1024
"""Bytes of ``code: message`` kept in the reason header (AMQP headers travel with every copy)."""
OUTBOX_SIZE = 1000
"""Failed items waiting to be published, at most; beyond that they are counted and not kept."""
OUTBOX_BYTES = 64 * 1024 * 1024
"""Bytes of failed items waiting to be published, at most (1000 items of up to max_message_size each
would be gigabytes while the broker blocks publishing)."""
RETRY_SECONDS = 1.0

Alert = Callable[[str, str, dict[str, Any]], None]


def failure_headers(code: str, message: str, role: str, instance: str) -> dict[str, str]:
    """The headers of a dead letter: why it failed (truncated to :data:`REASON_LIMIT` bytes) and where."""
    reason = f"{code}: {message}"
    raw = reason.encode()
    if len(raw) > REASON_LIMIT:
        reason = raw[:REASON_LIMIT].decode("utf-8", "ignore")
    return {HEADER_REASON: reason, HEADER_CODE: code, HEADER_ROLE: role, HEADER_INSTANCE: instance}


class DeadLetterOutbox:
    """Failed items on their way to the dead-letter queue, published by one background task."""

    def __init__(
        self,
        port: DeadLetters,
        queue: str,
        alert: Alert,
        *,
        size: int = OUTBOX_SIZE,
        max_bytes: int = OUTBOX_BYTES,
        retry_seconds: float = RETRY_SECONDS,
    ) -> None:
        self._port = port
        self.queue = queue
        self._alert = alert
        self._retry = retry_seconds
        self._items: asyncio.Queue[tuple[bytes, dict[str, str], int, int]] = asyncio.Queue(maxsize=size)
        self._max_bytes = max_bytes
        self._bytes = 0
        self._task: asyncio.Task[None] | None = None
        self.published = 0
        self.overflowed = 0
        self.failed = 0

    def offer(
        self, body: bytes, headers: dict[str, str], *, max_length: int, ttl_seconds: int
    ) -> asyncio.Task[None] | None:
        """Queue one failed item without waiting. Returns the publishing task when this call started it
        (the caller owns it: cancel it on stop), else None."""
        try:
            if self._bytes + len(body) > self._max_bytes:
                raise asyncio.QueueFull
            self._items.put_nowait((body, headers, max_length, ttl_seconds))
        except asyncio.QueueFull:
            self.overflowed += 1
            self._alert(
                "deadletter.overflow",
                f"{self._items.qsize()} failed items ({self._bytes} bytes) are already waiting for {self.queue}, "
                f"at most {self._items.maxsize} items and {self._max_bytes} bytes; this one was not kept "
                "(the dead-letter queue is slow or unreachable)",
                {"queue": self.queue, "overflowed": self.overflowed},
            )
            return None
        self._bytes += len(body)
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._pump(), name=f"dead-letters:{self.queue}")
            return self._task
        return None

    def waiting(self) -> int:
        return self._items.qsize()

    async def _pump(self) -> None:
        while True:
            body, headers, max_length, ttl_seconds = await self._items.get()
            self._bytes -= len(body)
            try:
                await self._port.publish(body, headers, max_length=max_length, ttl_seconds=ttl_seconds)
                self.published += 1
            except Exception as exc:
                self.failed += 1
                self._alert(
                    "deadletter.publish-failed",
                    f"could not keep a failed item in {self.queue}: {exc}",
                    {"queue": self.queue, "failed": self.failed},
                )
                await asyncio.sleep(self._retry)
