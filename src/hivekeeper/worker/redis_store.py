"""The worker's :class:`~hivekeeper.worker.ports.DataStore` on Redis (redis-py's asyncio client).

The client connects on first use, so a worker that never touches Redis never opens a connection.
"""

from __future__ import annotations

import asyncio

import redis.asyncio as aioredis

from hivekeeper.worker.cancelling import swallowed_cancel


class RedisStore:
    def __init__(self, url: str) -> None:
        self.url = url
        self._client: aioredis.Redis = aioredis.Redis.from_url(url)

    async def incr(self, key: str) -> int:
        value = int(await self._client.incr(key))
        _reraise_swallowed_cancel()
        return value

    async def lpop(self, key: str) -> bytes | None:
        return _bytes(await self._client.lpop(key))

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

    async def llen(self, key: str) -> int:
        return int(await self._client.llen(key))

    async def setex(self, key: str, ttl_seconds: int, value: bytes) -> None:
        await self._client.set(key, value, ex=ttl_seconds)
        _reraise_swallowed_cancel()

    async def setex_many(self, entries: list[tuple[str, bytes]], ttl_seconds: int) -> None:
        async with self._client.pipeline(transaction=False) as pipe:
            for key, value in entries:
                pipe.set(key, value, ex=ttl_seconds)
            await pipe.execute()
        _reraise_swallowed_cancel()

    async def get(self, key: str) -> bytes | None:
        return _bytes(await self._client.get(key))

    async def ttl(self, key: str) -> int:
        return int(await self._client.ttl(key))

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
