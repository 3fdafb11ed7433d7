"""The Redis store and its in-memory twin answer the worker's commands the same way."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest

from hivekeeper.worker.ports import DataStore
from hivekeeper.worker.transports.memory import MemoryStore
from hivekeeper.worker.transports.redis.store import RedisStore

pytestmark = pytest.mark.integration


@pytest.fixture(params=["redis", "memory"])
async def store(request: pytest.FixtureRequest, redis_url: str) -> AsyncIterator[DataStore]:
    made: DataStore = RedisStore(redis_url) if request.param == "redis" else MemoryStore()
    yield made
    await made.close()


async def test_lists_push_pop_and_trim_keeping_the_head(store: DataStore) -> None:
    key = f"it:list:{uuid.uuid4().hex[:8]}"
    assert await store.lpop(key) is None
    for value in (b"a", b"b", b"c"):
        await store.push(key, value)
    assert await store.push(key, b"z", left=True, max_len=3) == 4, "the length before the trim"
    assert await store.llen(key) == 3
    assert [await store.lpop(key) for _ in range(4)] == [b"z", b"a", b"b", None]


async def test_values_expire_and_keys_are_found_by_prefix(store: DataStore) -> None:
    prefix = f"it:cap:{uuid.uuid4().hex[:8]}:"
    await store.setex(prefix + "one", 60, b"{}")
    await store.setex(prefix + "two*", 1, b"[]")
    assert await store.get(prefix + "one") == b"{}"
    assert 55 <= await store.ttl(prefix + "one") <= 60
    assert sorted(await store.keys(prefix)) == [prefix + "one", prefix + "two*"]
    assert await store.ttl(prefix + "missing") == -2

    async def expired() -> bool:
        return await store.get(prefix + "two*") is None

    from testbench.waiting import eventually

    await eventually(expired, timeout=5, interval=0.1, what="the 1 s value to expire")
    assert await store.keys(prefix) == [prefix + "one"]


async def test_a_batch_of_values_is_set_with_one_ttl(store: DataStore) -> None:
    prefix = f"it:batch:{uuid.uuid4().hex[:8]}:"
    await store.setex_many([(prefix + "a", b"1"), (prefix + "b", b"2"), (prefix + "c", b"3")], 45)
    assert [await store.get(prefix + k) for k in "abc"] == [b"1", b"2", b"3"]
    ttls = [await store.ttl(prefix + k) for k in "abc"]
    assert all(40 <= ttl <= 45 for ttl in ttls), ttls
    await store.setex_many([], 45)  # nothing to write is not an error


async def test_counters_never_repeat_under_concurrency(store: DataStore) -> None:
    key = f"it:seq:{uuid.uuid4().hex[:8]}"
    values = await asyncio.gather(*(store.incr(key) for _ in range(100)))
    assert sorted(values) == list(range(1, 101))
