"""``sequence('key')`` on the worker's data store (``INCR hivekeeper:seq:<key>``), so that every worker
sharing the store (one Redis in a cluster, one process locally) gets the next number."""

from __future__ import annotations

from hivekeeper.worker.ports import DataStore

KEY_PREFIX = "hivekeeper:seq:"


class StoreSequences:
    def __init__(self, store: DataStore) -> None:
        self._store = store

    async def next(self, key: str) -> int:
        return await self._store.incr(KEY_PREFIX + key)
