"""Wait for a condition with a deadline, instead of sleeping and hoping."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


async def eventually(probe: Callable[[], Awaitable[T]], *, timeout: float, what: str, interval: float = 0.1) -> T:
    """Call ``probe`` until it returns a truthy value and return that value.

    Exceptions from the probe count as "not yet" until the deadline; then the last one is chained
    into the ``AssertionError`` that names ``what`` we were waiting for.
    """
    deadline = time.monotonic() + timeout
    last_error: BaseException | None = None
    last_value: T | None = None
    while True:
        try:
            last_value = await probe()
            if last_value:
                return last_value
        except Exception as exc:  # the condition is simply not met yet
            last_error = exc
        if time.monotonic() >= deadline:
            raise AssertionError(
                f"timed out after {timeout}s waiting for {what}; last value {last_value!r}"
            ) from last_error
        await asyncio.sleep(interval)
