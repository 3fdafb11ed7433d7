"""The worker's :class:`~hivekeeper.worker.ports.DataStore` on Redis (redis-py's asyncio client).

The client connects on first use, so a worker that never touches Redis never opens a connection.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, cast
from urllib.parse import parse_qs, urlsplit

import redis.asyncio as aioredis
import redis.exceptions

from hivekeeper.worker.cancelling import swallowed_cancel
from hivekeeper.worker.ports import StoreUnavailable

F = TypeVar("F", bound=Callable[..., Awaitable[Any]])


def _unavailable_as_such(method: F) -> F:
    """Turn redis-py's connection and timeout errors into :class:`StoreUnavailable` naming the server."""

    @functools.wraps(method)
    async def run(self: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return await method(self, *args, **kwargs)
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError) as exc:
            # redis-py says "Error N connecting to host:port" when no connection could be made: nothing was sent.
            sent = "connecting to" not in str(exc)
            raise StoreUnavailable(f"{self._where} unavailable: {type(exc).__name__}: {exc}", sent=sent) from exc

    return cast(F, run)


SOCKET_TIMEOUT = 5.0
"""Seconds a command or a connect may take unless the URL says otherwise (``?socket_timeout=``): a Redis that
hangs is an error after this, not a worker that waits forever."""


class RedisStore:
    def __init__(self, url: str) -> None:
        self.url = url
        given = parse_qs(urlsplit(url).query)
        timeouts: dict[str, Any] = {
            name: SOCKET_TIMEOUT for name in ("socket_timeout", "socket_connect_timeout") if name not in given
        }
        self._client: aioredis.Redis = aioredis.Redis.from_url(url, **timeouts)
        parts = urlsplit(url)
        self._where = f"Redis at {parts.hostname}:{parts.port or 6379}"

    @_unavailable_as_such
    async def incr(self, key: str) -> int:
        value = int(await self._client.incr(key))
        _reraise_swallowed_cancel()
        return value

    @_unavailable_as_such
    async def lpop(self, key: str) -> bytes | None:
        return _bytes(await self._client.lpop(key))

    @_unavailable_as_such
    async def push(self, key: str, value: bytes, *, left: bool = False, max_len: int = 0) -> int:
        if max_len <= 0:
            return int(await (self._client.lpush(key, value) if left else self._client.rpush(key, value)))
        async with self._client.pipeline(transaction=False) as pipe:
            if left:
                pipe.lpush(key, value)
            else:
                pipe.rpush(key, value)
            pipe.ltrim(key, 0, max_len - 1)
            length, _ = await pipe.execute()
        return int(length)

    @_unavailable_as_such
    async def llen(self, key: str) -> int:
        return int(await self._client.llen(key))

    @_unavailable_as_such
    async def setex(self, key: str, ttl_seconds: int, value: bytes) -> None:
        await self._client.set(key, value, ex=ttl_seconds)
        _reraise_swallowed_cancel()

    @_unavailable_as_such
    async def setex_many(self, entries: list[tuple[str, bytes]], ttl_seconds: int) -> None:
        async with self._client.pipeline(transaction=False) as pipe:
            for key, value in entries:
                pipe.set(key, value, ex=ttl_seconds)
            await pipe.execute()
        _reraise_swallowed_cancel()

    @_unavailable_as_such
    async def get(self, key: str) -> bytes | None:
        return _bytes(await self._client.get(key))

    @_unavailable_as_such
    async def ttl(self, key: str) -> int:
        return int(await self._client.ttl(key))

    @_unavailable_as_such
    async def keys(self, prefix: str, limit: int = 1000) -> list[str]:
        found: list[str] = []
        async for key in self._client.scan_iter(match=_escape(prefix) + "*", count=500):
            found.append(key.decode() if isinstance(key, bytes) else str(key))
            if len(found) >= limit:
                break
        return found

    async def close(self) -> None:
        await self._client.aclose()


def _reraise_swallowed_cancel() -> None:
    """Raise the CancelledError redis-py may have swallowed (see :func:`swallowed_cancel`); without this a
    stopping worker could hang. LPOP and pushes are left to their callers, which must first account for
    what the command did."""
    if swallowed_cancel():
        raise asyncio.CancelledError


def _bytes(value: object) -> bytes | None:
    if value is None or isinstance(value, bytes):
        return value
    return str(value).encode()


def _escape(prefix: str) -> str:
    """A SCAN MATCH pattern that matches ``prefix`` literally."""
    return "".join("\\" + c if c in "*?[]\\" else c for c in prefix)
