"""One OAuth2 token per profile and worker: fetched once, shared, refreshed ahead of its expiry.

:class:`TokenCache` holds the current token. A caller gets it at once while it is fresh. Inside the refresh
window (``refreshAheadSeconds`` before expiry, at most half the token's lifetime) the first caller starts one
refresh in the background and every caller keeps using the current token, so traffic never waits on a token
that is still good. With no token, or an expired one, callers wait, and however many there are they wait for
the same single fetch (single flight): 50 concurrent requests cause one token request, not 50. A fetch that
fails fails every waiter with the same error; the next call tries again. ``invalidate`` drops a token the SUT
refused (a 401), unless a newer one has already replaced it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Token:
    value: str
    lifetime: float | None
    """Seconds the token is valid from when it was received (``expires_in``); None: until the SUT refuses it."""


@dataclass(frozen=True)
class _Held:
    value: str
    refresh_at: float
    expires_at: float


Fetch = Callable[[], Awaitable[Token]]


class TokenCache:
    def __init__(self, fetch: Fetch, refresh_ahead: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._fetch = fetch
        self._refresh_ahead = refresh_ahead
        self._clock = clock
        self._held: _Held | None = None
        self._inflight: asyncio.Future[_Held] | None = None
        self.fetches = 0
        """Fetches started (each one token request, its retries included)."""
        self.background_errors = 0
        """Refreshes ahead of expiry that failed (the current token stayed in use)."""

    @property
    def current(self) -> str | None:
        held = self._held
        return held.value if held is not None and self._clock() < held.expires_at else None

    async def get(self) -> str:
        held = self._held
        if held is not None:
            now = self._clock()
            if now < held.refresh_at:
                return held.value
            if now < held.expires_at:
                if self._inflight is None:
                    self._start().add_done_callback(self._background_done)
                return held.value
        return (await asyncio.shield(self._start())).value

    def invalidate(self, value: str) -> None:
        """Forget ``value`` if it is the token held (a 401); a newer token is kept."""
        if self._held is not None and self._held.value == value:
            self._held = None

    def _start(self) -> asyncio.Future[_Held]:
        """The fetch in flight, or a new one."""
        if self._inflight is None:
            self.fetches += 1
            self._inflight = asyncio.ensure_future(self._run())
            self._inflight.add_done_callback(_retrieve)
        return self._inflight

    async def _run(self) -> _Held:
        try:
            token = await self._fetch()
            received = self._clock()
            if token.lifetime is None:
                held = _Held(token.value, float("inf"), float("inf"))
            else:
                ahead = min(self._refresh_ahead, token.lifetime / 2)
                held = _Held(token.value, received + token.lifetime - ahead, received + token.lifetime)
            self._held = held
            return held
        finally:
            self._inflight = None

    def _background_done(self, future: asyncio.Future[_Held]) -> None:
        if not future.cancelled() and future.exception() is not None:
            self.background_errors += 1  # the held token is used until it expires; then callers wait for a fetch


def _retrieve(future: asyncio.Future[_Held]) -> None:
    """Mark a fetch's error as seen: its waiters may all have been cancelled (a stopping worker)."""
    if not future.cancelled():
        future.exception()
