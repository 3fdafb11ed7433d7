"""What a work loop does when publishing a result fails, and the counters that show it.

RabbitMQ's guidance on confirms and poison messages, applied:

- a **permanent** failure (:class:`~hivekeeper.worker.ports.OutputRefused`: too large, unroutable)
  fails the same way every time, so it is never retried: the input goes to the dead-letter queue
  (``deadLetter.enabled``) or is dropped, counted (``refused``) and alerted;
- a **transient** failure (connection lost, broker blocked, no confirm in time, a nack) is retried
  in place, with exponential backoff capped by ``outputs.retry`` — but only while the input delivery
  is still live: once its channel is gone the broker redelivers it anyway, and publishing the result
  again would only add a duplicate. When the attempts run out the input is given back to its queue;
- an item **delivered more than** ``inputs.rabbitmq.maxRedeliveries`` times is poison, whatever the
  cause (it crashed workers, or it keeps failing): dead-lettered or dropped, counted (``poisoned``).

So every item costs a bounded number of attempts: at most ``maxAttempts`` per delivery and
``maxRedeliveries + 1`` deliveries per worker. The first attempt is the runtime's own call; this
module is entered only after it failed, so a healthy publish pays nothing for it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from hivekeeper.api.roles.outputs import PublishRetry
from hivekeeper.worker.ports import OutputRefused

__all__ = ["GaveUp", "OutputCounters", "OutputRefused", "backoff", "retry"]


class GaveUp(Exception):
    """Transient failures outlasted the retries (or the input died meanwhile); ``error`` is the last one."""

    def __init__(self, error: Exception, attempts: int, input_lost: bool) -> None:
        self.error = error
        self.attempts = attempts
        self.input_lost = input_lost
        why = "the input's channel closed, so the broker redelivers it" if input_lost else "no attempt left"
        super().__init__(f"{error} ({attempts} attempt{'s' if attempts > 1 else ''}; {why})")


@dataclass
class OutputCounters:
    """What went wrong on the way out, since the worker started (status ``context.output``, metrics)."""

    refused: int = 0
    """Items whose result the output refused for good (too large, unroutable)."""
    poisoned: int = 0
    """Items delivered more than ``inputs.rabbitmq.maxRedeliveries`` times."""
    retries: int = 0
    """Publish attempts after a transient failure."""
    given_back: int = 0
    """Inputs given back to their queue after every attempt failed."""

    def snapshot(self) -> dict[str, int]:
        return {
            "refused": self.refused,
            "poisoned": self.poisoned,
            "publishRetries": self.retries,
            "givenBack": self.given_back,
        }


def backoff(policy: PublishRetry, failures: int) -> float:
    """Seconds to wait after the ``failures``-th failed attempt (1-based): exponential, capped, no jitter."""
    delay_ms = policy.initialBackoffMs * policy.backoffMultiplier ** (failures - 1)
    return min(delay_ms, policy.maxBackoffMs) / 1000.0


async def retry(
    publish: Callable[[], Awaitable[None]],
    first_error: Exception,
    policy: PublishRetry,
    counters: OutputCounters,
    live: Callable[[], bool],
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> int:
    """Retry a publish whose first attempt failed with ``first_error``; return the attempts it took.

    Raises :class:`OutputRefused` at once for a permanent failure, and :class:`GaveUp` when
    ``policy.maxAttempts`` attempts failed or ``live()`` turned False (the input is void: publishing
    again would only duplicate what the broker redelivers).
    """
    error: Exception = first_error
    attempts = 1
    while True:
        if isinstance(error, OutputRefused):
            raise error
        if not live():
            raise GaveUp(error, attempts, input_lost=True)
        if attempts >= policy.maxAttempts:
            raise GaveUp(error, attempts, input_lost=False)
        await sleep(backoff(policy, attempts))
        attempts += 1
        counters.retries += 1
        try:
            await publish()
        except Exception as exc:  # CancelledError is a BaseException: a stopping worker is not retried
            error = exc
            continue
        return attempts
