"""REDIS_DATASET: which list the next item comes from, the configs that are refused, and (on the
in-memory store) fall-through, out-of-data spells and giving an element back."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from typing import Any

import orjson
import pytest

from hivekeeper.api import roles as role_configs
from hivekeeper.api.roles import ConfigError
from hivekeeper.api.roles.inputs import RedisDatasetInput
from hivekeeper.worker.inputs.redis_dataset import LIST_HEADER, RedisDatasetSource, SourcePicker
from hivekeeper.worker.transports.memory import MemoryStore
from testbench.waiting import eventually


def test_round_robin_advances_one_list_per_item_and_falls_through_in_order() -> None:
    picker = SourcePicker(["a", "b", "c"], [1, 1, 1], "ROUND_ROBIN")
    assert [picker.order() for _ in range(4)] == [
        ["a", "b", "c"],
        ["b", "c", "a"],
        ["c", "a", "b"],
        ["a", "b", "c"],
    ]


def test_weighted_random_draws_the_first_list_by_weight_with_a_seeded_rng() -> None:
    picker = SourcePicker(["gold", "silver", "bronze"], [6, 3, 1], "WEIGHTED_RANDOM", random.Random(42))
    firsts = Counter(picker.order()[0] for _ in range(20_000))
    shares = {name: n / 20_000 for name, n in firsts.items()}
    assert shares["gold"] == pytest.approx(0.6, abs=0.015)
    assert shares["silver"] == pytest.approx(0.3, abs=0.015)
    assert shares["bronze"] == pytest.approx(0.1, abs=0.015)
    again = SourcePicker(["gold", "silver", "bronze"], [6, 3, 1], "WEIGHTED_RANDOM", random.Random(42))
    replay = SourcePicker(["gold", "silver", "bronze"], [6, 3, 1], "WEIGHTED_RANDOM", random.Random(42))
    assert [again.order() for _ in range(50)] == [replay.order() for _ in range(50)], "a seed replays the picks"


def test_weighted_random_falls_through_to_every_other_list() -> None:
    picker = SourcePicker(["a", "b", "c"], [1, 1, 1], "WEIGHTED_RANDOM", random.Random(1))
    for _ in range(100):
        order = picker.order()
        assert sorted(order) == ["a", "b", "c"]


def test_one_list_is_always_the_only_choice() -> None:
    picker = SourcePicker(["only"], [1], "WEIGHTED_RANDOM")
    assert {tuple(picker.order()) for _ in range(10)} == {("only",)}


# -- configs that are refused -------------------------------------------------------------------


def _problems(redis: dict[str, Any]) -> list[tuple[str, str]]:
    with pytest.raises(ConfigError) as caught:
        role_configs.validate("generator", {"inputs": {"type": "REDIS_DATASET", "redis": redis}})
    return caught.value.problems


def test_list_name_and_sources_together_are_refused() -> None:
    [(path, message)] = _problems({"listName": "a", "sources": [{"listName": "b", "weight": 1}]})
    assert path == "inputs.redis"
    assert "not both" in message


def test_neither_list_name_nor_sources_is_refused() -> None:
    [(path, message)] = _problems({"pickStrategy": "ROUND_ROBIN"})
    assert path == "inputs.redis"
    assert "set listName" in message
    [(path, message)] = _problems({"sources": []})
    assert "set listName" in message


def test_a_list_named_twice_in_sources_is_refused() -> None:
    [(path, message)] = _problems({"sources": [{"listName": "a"}, {"listName": "b"}, {"listName": "a", "weight": 3}]})
    assert path == "inputs.redis.sources"
    assert "list a appears more than once" in message


@pytest.mark.parametrize("weight", [0, -1])
def test_a_weight_that_is_not_positive_is_refused(weight: float) -> None:
    [(path, message)] = _problems({"sources": [{"listName": "a", "weight": 1}, {"listName": "b", "weight": weight}]})
    assert path == "inputs.redis.sources[1].weight"
    assert f"greater than 0 (got {weight})" in message


def test_a_poll_interval_under_50_ms_is_refused() -> None:
    [(path, _)] = _problems({"listName": "a", "pollIntervalMs": 10})
    assert path == "inputs.redis.pollIntervalMs"


def test_the_type_without_its_redis_block_is_refused() -> None:
    with pytest.raises(ConfigError) as caught:
        role_configs.validate("processor", {"baseUrl": "http://x", "inputs": {"type": "REDIS_DATASET"}})
    [(path, message)] = caught.value.problems
    assert (path, "inputs.redis" in message) == ("inputs", True)


@pytest.mark.parametrize("key", ["host", "port", "password"])
def test_pockethive_connection_keys_are_refused_with_the_fix(key: str) -> None:
    [(path, message)] = _problems({"listName": "a", key: "x"})
    assert path == "inputs.redis"
    assert key in message
    assert "HIVEKEEPER_REDIS_URL" in message


# -- the source on the in-memory store ---------------------------------------------------------


class Alerts:
    def __init__(self) -> None:
        self.codes: list[str] = []

    def __call__(self, code: str, message: str, context: dict[str, Any], level: str = "error") -> None:
        self.codes.append(code)


def _source(store: MemoryStore, alerts: Alerts, **redis: Any) -> RedisDatasetSource:
    config = RedisDatasetInput.model_validate({"ratePerSec": 10_000, "pollIntervalMs": 50, **redis})
    return RedisDatasetSource(store, config, swarm="s", role="feeder", instance="feeder-0", alert=alerts)


async def test_round_robin_takes_from_the_next_list_when_the_chosen_one_is_empty() -> None:
    store = MemoryStore()
    for value in (b"a1", b"a2", b"a3"):
        await store.push("a", value)
    await store.push("b", b"b1")
    source = _source(store, Alerts(), sources=[{"listName": "a"}, {"listName": "b"}])
    await source.resume()
    got = []
    for _ in range(4):
        item = orjson.loads((await source.get()).body or b"")
        got.append((item["headers"][LIST_HEADER], item["steps"][0]["payload"]))
    assert got == [("a", "a1"), ("b", "b1"), ("a", "a2"), ("a", "a3")], "b was empty on its second turn"


async def test_an_empty_spell_alerts_once_and_ends_when_data_comes_back() -> None:
    store = MemoryStore()
    alerts = Alerts()
    source = _source(store, alerts, listName="cards")
    await source.resume()
    waiting = asyncio.create_task(source.get())

    async def empty() -> bool:
        return source.state() == "out-of-data"

    await eventually(empty, timeout=2, interval=0.01, what="the source to report out-of-data")
    await asyncio.sleep(0.3)  # six poll intervals of an empty list: still one alert
    assert alerts.codes == ["io.out-of-data"]
    assert source.context()["lastEmptyAt"] is not None
    await store.push("cards", b"c1")
    delivery = await asyncio.wait_for(waiting, 2)
    assert orjson.loads(delivery.body or b"")["steps"][0]["payload"] == "c1"
    assert source.state() == "ok"
    again = asyncio.create_task(source.get())
    await eventually(empty, timeout=2, interval=0.01, what="a second empty spell")
    assert alerts.codes == ["io.out-of-data", "io.out-of-data"], "a new empty spell alerts again"
    again.cancel()


async def test_a_requeued_element_goes_back_to_the_head_of_its_list() -> None:
    store = MemoryStore()
    for value in (b"first", b"second"):
        await store.push("cards", value)
    source = _source(store, Alerts(), listName="cards")
    await source.resume()
    delivery = await source.get()
    await delivery.requeue()
    assert await store.llen("cards") == 2
    assert await store.lpop("cards") == b"first"
    assert source.context()["dispatched"] == 0


async def test_an_element_that_is_not_utf8_travels_as_base64() -> None:
    store = MemoryStore()
    await store.push("blobs", b"\xff\x00raw")
    source = _source(store, Alerts(), listName="blobs")
    await source.resume()
    step = orjson.loads((await source.get()).body or b"")["steps"][0]
    assert step["payloadEncoding"] == "base64"


class AnswerLater(MemoryStore):
    """An in-memory store whose LPOP takes the element at once and answers only when ``answer`` is set:
    a cancel in between is the moment a real Redis client loses the popped element."""

    def __init__(self) -> None:
        super().__init__()
        self.answer = asyncio.Event()
        self.popped = asyncio.Event()

    async def lpop(self, key: str) -> bytes | None:
        element = await super().lpop(key)
        self.popped.set()
        await self.answer.wait()
        return element


async def test_a_get_cancelled_before_its_pop_is_answered_gives_the_element_back_to_the_head() -> None:
    store = AnswerLater()
    for value in (b"first", b"second"):
        await store.push("cards", value)
    source = _source(store, Alerts(), listName="cards")
    await source.resume()
    getting = asyncio.create_task(source.get())
    await asyncio.wait_for(store.popped.wait(), 2)
    assert source.buffered() == 1, "a drain sees the element between the list and the work loop"
    getting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await getting
    closing = asyncio.create_task(source.close())
    done, _ = await asyncio.wait({closing}, timeout=0.1)
    assert not done, "close waits for the unanswered pop"
    store.answer.set()
    await asyncio.wait_for(closing, 2)
    assert [await store.lpop("cards"), await store.lpop("cards")] == [b"first", b"second"]
    assert source.buffered() == 0
    assert source.context()["dispatched"] == 0
