"""The shipped pattern: onboarding feeds usage through Redis lists, and every card is accounted for.

Both example manifests run side by side in one ``hivekeeper run`` against the stateful demo SUT and a
real Redis. After the run drains, each card the SUT created is in exactly one list.
"""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import redis.asyncio as aioredis

from hivekeeper.api.manifests import load_swarm
from hivekeeper.local.endpoints import DEFAULT, aimed
from hivekeeper.local.runner import RunOptions, run
from testbench.demo import demo_service

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]
LISTS = ("cards.topup", "cards.active", "cards.suspended")


@pytest.fixture
async def own_redis(redis_url: str) -> AsyncIterator[str]:
    """The bench's Redis, database 7, emptied: the examples use fixed list names."""
    url = redis_url.rsplit("/", 1)[0] + "/7"
    client = aioredis.Redis.from_url(url)
    await client.flushdb()
    yield url
    await client.flushdb()
    await client.aclose()


def _role(swarm: dict[str, Any], name: str) -> dict[str, Any]:
    return next(r for r in swarm["roles"] if r["name"] == name)


async def test_onboarding_feeds_usage_and_every_card_is_in_exactly_one_list(own_redis: str) -> None:
    async with demo_service() as demo:
        swarms = [
            aimed(load_swarm(REPO / "examples" / f"{name}.yaml"), {DEFAULT: demo.url})
            for name in ("onboarding", "usage")
        ]
        out = io.StringIO()
        result = await run(swarms, RunOptions(duration=6.0, redis_url=own_redis, out=out))
    state = demo.state

    onboarding, usage = result["swarms"]
    journeys = _role(onboarding, "onboard")
    assert journeys["processed"] >= 60, out.getvalue()
    assert (journeys["errors"], journeys["dropped"]) == (0, 0), out.getvalue()
    assert len(state.cards) == len(state.customers) == len(state.accounts) == journeys["processed"]
    assert all(card["accountId"] in state.accounts for card in state.cards.values()), "ids extracted and linked"

    caller = _role(usage, "caller")
    assert caller["processed"] >= 50, out.getvalue()
    assert caller["errors"] == 0
    used = {call: n for call, n in state.calls.items() if call.startswith(("POST /cards", "GET /cards"))}
    assert any("topup" in call for call in used), used
    assert any("suspend" in call for call in used), used

    # created = in lists (+ in flight: none after the drain; + lost: none, no errors)
    datasets = result["datasets"]
    assert set(datasets) == set(LISTS)
    assert sum(datasets.values()) == len(state.cards), (datasets, len(state.cards))
    # the run's own books: what onboarding pushed, what usage popped and pushed back, what is left
    books = result["datasetBooks"]
    assert (books["balanced"], books["unaccounted"], books["inFlightAtStop"]) == (True, 0, 0), books
    lists = books["lists"]
    assert all(lists[name]["start"] == 0 for name in LISTS), "the lists were emptied before the run"
    popped = sum(lists[name]["popped"] for name in LISTS)
    assert popped == caller["processed"], "every popped card was called once"
    assert sum(lists[name]["pushed"] for name in LISTS) == len(state.cards) + popped, "created + recycled"
    client = aioredis.Redis.from_url(own_redis)
    try:
        records = []
        for name in LISTS:
            records += list(await client.lrange(name, 0, -1))
    finally:
        await client.aclose()
    card_ids = sorted(orjson.loads(record)["cardId"] for record in records)
    assert card_ids == sorted(state.cards), "each card exactly once, in one list"
    printed = out.getvalue()
    assert "datasets (at start + pushed - popped = at end):" in printed
    assert "balanced: every element is accounted for; 0 item(s) in flight at stop" in printed
