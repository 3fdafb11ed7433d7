"""The OAuth2 token cache on a fake clock: one fetch for many callers, refreshed ahead of expiry, a 401'd token
forgotten, a failed fetch failing its waiters and tried again by the next call."""

from __future__ import annotations

import asyncio

from hivekeeper.worker.auth.tokens import Token, TokenCache
from hivekeeper.worker.auth_port import AuthFailed


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Issuer:
    """A token endpoint: token-1, token-2, ... each ``lifetime`` seconds; ``gate`` holds fetches until set."""

    def __init__(self, lifetime: float | None = 10.0) -> None:
        self.lifetime = lifetime
        self.calls = 0
        self.gate = asyncio.Event()
        self.gate.set()
        self.fail_next = False

    async def __call__(self) -> Token:
        self.calls += 1
        await self.gate.wait()
        if self.fail_next:
            self.fail_next = False
            raise AuthFailed("token endpoint answered 503")
        return Token(f"token-{self.calls}", self.lifetime)


async def test_fifty_concurrent_callers_without_a_token_cause_one_fetch_and_all_get_its_token() -> None:
    issuer = Issuer()
    issuer.gate.clear()
    cache = TokenCache(issuer, refresh_ahead=2, clock=Clock())
    waiting = [asyncio.create_task(cache.get()) for _ in range(50)]
    await asyncio.sleep(0)
    issuer.gate.set()
    assert await asyncio.gather(*waiting) == ["token-1"] * 50
    assert (issuer.calls, cache.fetches) == (1, 1)


async def test_a_fresh_token_is_served_from_the_cache_without_a_fetch() -> None:
    issuer, clock = Issuer(), Clock()
    cache = TokenCache(issuer, refresh_ahead=2, clock=clock)
    assert await cache.get() == "token-1"
    clock.now += 7.9
    assert [await cache.get() for _ in range(20)] == ["token-1"] * 20
    assert issuer.calls == 1


async def test_inside_the_refresh_window_callers_keep_the_current_token_while_one_refresh_runs() -> None:
    issuer, clock = Issuer(), Clock()
    cache = TokenCache(issuer, refresh_ahead=2, clock=clock)
    await cache.get()
    clock.now += 8.5  # 1.5 s before expiry: inside the 2 s window
    issuer.gate.clear()
    assert [await cache.get() for _ in range(10)] == ["token-1"] * 10, "no caller waits for the refresh"
    await asyncio.sleep(0)
    assert (cache.fetches, issuer.calls) == (2, 2), "one refresh for the ten callers"
    issuer.gate.set()
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert await cache.get() == "token-2"


async def test_refresh_ahead_is_at_most_half_the_lifetime_of_a_short_token() -> None:
    issuer, clock = Issuer(lifetime=1.0), Clock()
    cache = TokenCache(issuer, refresh_ahead=60, clock=clock)
    await cache.get()
    clock.now += 0.4
    await cache.get()
    assert issuer.calls == 1, "a 60 s refresh-ahead of a 1 s token would refresh it at once, forever"
    clock.now += 0.2
    await cache.get()
    await asyncio.sleep(0)
    assert issuer.calls == 2


async def test_an_expired_token_is_never_served_callers_wait_for_the_new_one() -> None:
    issuer, clock = Issuer(), Clock()
    cache = TokenCache(issuer, refresh_ahead=0, clock=clock)
    await cache.get()
    clock.now += 10.0
    assert await cache.get() == "token-2"


async def test_a_refused_token_is_dropped_and_the_next_call_fetches_exactly_one_new_token() -> None:
    issuer = Issuer()
    cache = TokenCache(issuer, refresh_ahead=2, clock=Clock())
    await cache.get()
    cache.invalidate("token-1")
    cache.invalidate("token-1")
    assert await asyncio.gather(*(cache.get() for _ in range(5))) == ["token-2"] * 5
    cache.invalidate("token-1")  # a late 401 to the old token keeps the new one
    assert await cache.get() == "token-2"
    assert issuer.calls == 2


async def test_a_failed_fetch_fails_every_waiter_and_the_next_call_tries_again() -> None:
    issuer = Issuer()
    issuer.fail_next = True
    cache = TokenCache(issuer, refresh_ahead=2, clock=Clock())
    results = await asyncio.gather(*(cache.get() for _ in range(3)), return_exceptions=True)
    assert all(isinstance(r, AuthFailed) for r in results)
    assert issuer.calls == 1
    assert await cache.get() == "token-2"


async def test_a_token_without_expires_in_is_kept_until_the_sut_refuses_it() -> None:
    issuer, clock = Issuer(lifetime=None), Clock()
    cache = TokenCache(issuer, refresh_ahead=2, clock=clock)
    await cache.get()
    clock.now += 1e6
    assert await cache.get() == "token-1"
    cache.invalidate("token-1")
    assert await cache.get() == "token-2"


async def test_a_failed_background_refresh_keeps_the_current_token_until_it_expires() -> None:
    issuer, clock = Issuer(), Clock()
    cache = TokenCache(issuer, refresh_ahead=2, clock=clock)
    await cache.get()
    clock.now += 9.0
    issuer.fail_next = True
    assert await cache.get() == "token-1"
    for _ in range(3):
        await asyncio.sleep(0)
    assert cache.background_errors == 1
    assert await cache.get() == "token-1", "still valid for 1 s, and another refresh starts"
    for _ in range(3):
        await asyncio.sleep(0)
    assert await cache.get() == "token-3"
