"""``sequence('key')`` backed by Redis ``INCR``, so that every worker of a swarm shares one counter."""

from __future__ import annotations

import redis.asyncio as aioredis

KEY_PREFIX = "hivekeeper:seq:"


class RedisSequences:
    """Counters in Redis. The client connects on first use, so a worker whose templates never call
    ``sequence`` never opens a Redis connection."""

    def __init__(self, url: str) -> None:
        self._client: aioredis.Redis = aioredis.Redis.from_url(url)

    async def next(self, key: str) -> int:
        return int(await self._client.incr(KEY_PREFIX + key))

    async def close(self) -> None:
        await self._client.aclose()
