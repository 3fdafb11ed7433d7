"""sequence() numbers come from Redis INCR, so workers sharing a Redis never repeat a number."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from hivekeeper.templating.engine import TemplateEngine
from hivekeeper.worker.sequences import StoreSequences
from hivekeeper.worker.transports.redis.store import RedisStore

pytestmark = pytest.mark.integration


async def test_two_workers_share_one_counter_through_redis(redis_url: str) -> None:
    key = f"it-{uuid.uuid4().hex[:8]}"
    stores = [RedisStore(redis_url), RedisStore(redis_url)]
    engines = [TemplateEngine(StoreSequences(store)) for store in stores]
    try:
        source = f"{{{{ sequence('{key}') }}}}"
        rendered = await asyncio.gather(*(engines[i % 2].render_async("t", source, {}) for i in range(200)))
        assert sorted(int(n) for n in rendered) == list(range(1, 201))
    finally:
        for store in stores:
            await store.close()
