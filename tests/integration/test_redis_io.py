"""Redis datasets in, Redis lists out, and the redisUploader, through real Workers on a real Redis.

Workers run on the in-memory work and control transports (as in ``hivekeeper run``) with a
:class:`RedisStore` on the bench's redis-server, so every LPOP and push here is a real Redis command.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit

import orjson
import pytest

from hivekeeper.api.roles import ConfigError
from hivekeeper.api.roles.outputs import PublishRetry
from hivekeeper.local import demo_sut
from hivekeeper.protocol.workitem import new_item
from hivekeeper.worker.ports import DataStore
from hivekeeper.worker.runtime.worker import Worker
from hivekeeper.worker.transports.redis.store import RedisStore
from testbench.held_replies import held_replies
from testbench.waiting import eventually
from testbench.workers import WorkerHarness

pytestmark = pytest.mark.integration

SWARM = "redisio"


class Harness(WorkerHarness):
    """Workers with a real Redis store (or none); every list a test uses is named under a fresh prefix."""

    def __init__(self, store: DataStore | None) -> None:
        super().__init__(SWARM, store)
        self.prefix = f"it:{uuid.uuid4().hex[:8]}:"
        """Every list a test uses starts with this, so tests never see each other's data."""

    def key(self, name: str) -> str:
        return self.prefix + name

    async def push(self, name: str, *values: str) -> None:
        assert self.store is not None
        for value in values:
            await self.store.push(self.key(name), value.encode())

    async def elements(self, name: str) -> list[str]:
        assert self.store is not None
        out = []
        while (value := await self.store.lpop(self.key(name))) is not None:
            out.append(value.decode())
        return out


@pytest.fixture
async def redis_store(redis_url: str) -> AsyncIterator[RedisStore]:
    store = RedisStore(redis_url)
    yield store
    await store.close()


@pytest.fixture
async def harness(redis_store: RedisStore) -> AsyncIterator[Harness]:
    h = Harness(redis_store)
    await h.start()
    yield h
    await h.stop()


@pytest.fixture
async def sut() -> AsyncIterator[str]:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: demo_sut.DemoHandler(0.0, 0.0), "127.0.0.1", 0)
    yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    server.close()


def _dataset(h: Harness, rate: float = 1000, poll_ms: int = 100, **redis: Any) -> dict[str, Any]:
    if "listName" in redis:
        redis["listName"] = h.key(redis["listName"])
    for source in redis.get("sources", []):
        source["listName"] = h.key(source["listName"])
    return {
        "inputs": {"type": "REDIS_DATASET", "redis": {"ratePerSec": rate, "pollIntervalMs": poll_ms, **redis}},
        "message": {"body": "{{ payloadRaw }}", "headers": {"x-ph-call-id": "balance"}},
    }


# -- REDIS_DATASET ------------------------------------------------------------------------------


async def test_a_generator_pops_exactly_the_pushed_elements_of_weighted_sources(harness: Harness) -> None:
    gold = [f'{{"card":"g{n}"}}' for n in range(20)]
    silver = [f'{{"card":"s{n}"}}' for n in range(10)]
    await harness.push("gold", *gold)
    await harness.push("silver", *silver)
    config = _dataset(
        harness,
        sources=[{"listName": "gold", "weight": 3}, {"listName": "silver", "weight": 1}],
        pickStrategy="WEIGHTED_RANDOM",
    )
    feeder = await harness.worker("feeder", "generator", config, work_out="build")
    await harness.enable(feeder)

    async def all_popped() -> bool:
        return harness.queue("build").qsize() == 30

    await eventually(all_popped, timeout=10, what="30 generated items")
    items = harness.drain("build")
    got = sorted((i["headers"]["x-ph-redis-list"], i["steps"][-1]["payload"]) for i in items)
    assert got == sorted([(harness.key("gold"), g) for g in gold] + [(harness.key("silver"), s) for s in silver])
    assert all(i["headers"]["x-ph-call-id"] == "balance" for i in items), "the generator's headers are merged"
    assert await harness.elements("gold") == []
    assert await harness.elements("silver") == []
    status = feeder.status_data(full=False)["context"]["redisDataset"]
    assert status["dispatched"] == 30
    assert status["pickStrategy"] == "WEIGHTED_RANDOM"
    assert status["lastPopList"] in {harness.key("gold"), harness.key("silver")}


async def test_items_come_at_the_configured_rate_and_a_live_rate_change_applies(harness: Harness) -> None:
    await harness.push("cards", *(f"c{n}" for n in range(2000)))
    feeder = await harness.worker("feeder", "generator", _dataset(harness, rate=20, listName="cards"), work_out="b")
    await harness.enable(feeder)
    await eventually(lambda: _at_least(feeder, 2), timeout=5, what="the first items")
    start = feeder.stats.processed
    await asyncio.sleep(0.5)  # a measuring window, not a wait for readiness
    half_second = feeder.stats.processed - start
    await asyncio.sleep(1.0)
    slow = feeder.stats.processed - start
    assert 7 <= half_second <= 13, f"smooth pacing: about 10 items in half a second at 20/s, got {half_second}"
    assert 26 <= slow <= 34, f"about 30 items in 1.5 s at 20/s, got {slow}"

    outcome = await harness.configure(feeder, {"inputs": {"redis": {"ratePerSec": 200}}})
    assert outcome.data["status"] == "Applied"
    await asyncio.sleep(0.2)
    start = feeder.stats.processed
    await asyncio.sleep(1.0)
    fast = feeder.stats.processed - start
    assert 170 <= fast <= 230, f"about 200 items in 1 s at the new rate, got {fast}"
    assert feeder.status_data(full=False)["context"]["redisDataset"]["ratePerSec"] == 200


async def _at_least(worker: Worker, n: int) -> bool:
    return worker.stats.processed >= n


async def test_empty_lists_report_out_of_data_with_one_alert_over_many_polls(harness: Harness) -> None:
    feeder = await harness.worker("feeder", "generator", _dataset(harness, poll_ms=50, listName="empty"), work_out="b")
    await harness.enable(feeder)

    async def out_of_data() -> bool:
        return feeder.status_data(full=False)["ioState"]["work"]["input"] == "out-of-data"

    await eventually(out_of_data, timeout=5, what="ioState input out-of-data")
    await eventually(lambda: _alerted(harness, "io.out-of-data"), timeout=5, what="the io.out-of-data alert")
    await asyncio.sleep(0.6)  # twelve poll intervals of empty lists
    [alert] = harness.alerts("io.out-of-data")
    assert harness.key("empty") in alert.data["message"]
    assert feeder.status_data(full=False)["context"]["redisDataset"]["lastEmptyAt"] is not None
    delta = next(e for e in reversed(harness.events) if e.type == "status-delta")
    assert delta.data["ioState"]["work"]["input"] == "out-of-data"

    await harness.push("empty", "late")

    async def delivered() -> bool:
        return harness.queue("b").qsize() == 1

    await eventually(delivered, timeout=5, what="the late element to be popped")
    context = feeder.status_data(full=False)["context"]["redisDataset"]
    assert (context["dispatched"], context["lastPopList"]) == (1, harness.key("empty"))
    assert context["lastPopAt"] is not None, "the input was ok again between the two empty spells"


async def _alerted(harness: Harness, code: str) -> bool:
    return bool(harness.alerts(code))


async def test_pausing_stops_popping_and_loses_nothing(harness: Harness) -> None:
    await harness.push("cards", *(f"c{n}" for n in range(500)))
    feeder = await harness.worker("feeder", "generator", _dataset(harness, rate=200, listName="cards"), work_out="b")
    await harness.enable(feeder)
    await eventually(lambda: _at_least(feeder, 20), timeout=5, what="20 items")
    outcome = await harness.configure(feeder, {"enabled": False})
    assert outcome.data["status"] == "Applied"
    assert harness.store is not None

    async def settled() -> bool:
        length = await harness.store.llen(harness.key("cards"))  # type: ignore[union-attr]
        return length + harness.queue("b").qsize() == 500

    await eventually(settled, timeout=5, what="every popped element to be either delivered or back in the list")
    length = await harness.store.llen(harness.key("cards"))
    delivered = harness.queue("b").qsize()
    await asyncio.sleep(0.5)  # 100 items' worth of time at 200/s
    assert await harness.store.llen(harness.key("cards")) == length, "a paused input pops nothing"
    assert harness.queue("b").qsize() == delivered
    assert 0 < length < 500

    await harness.enable(feeder)
    await eventually(lambda: _at_least(feeder, delivered + 10), timeout=5, what="popping to resume")


async def test_a_worker_stopped_while_its_lpop_is_unanswered_puts_the_element_back(redis_url: str) -> None:
    """Redis has popped the element, the answer is still on the wire, and the worker stops: the element
    must go back to the head of its list, not vanish with the cancelled call."""
    upstream = urlsplit(redis_url)
    direct = RedisStore(redis_url)
    async with held_replies(upstream.hostname or "127.0.0.1", upstream.port or 6379) as proxy:
        store = RedisStore(f"redis://127.0.0.1:{proxy.port}{upstream.path}")
        h = Harness(store)
        await h.start()
        try:
            await h.push("cards", "c0", "c1", "c2")
            feeder = await h.worker("feeder", "generator", _dataset(h, rate=1, listName="cards"), work_out="b")
            proxy.hold()
            await h.enable(feeder)

            async def popped_unanswered() -> bool:
                return await direct.llen(h.key("cards")) == 2 and proxy.held_bytes > 0

            await eventually(popped_unanswered, timeout=5, what="Redis to pop c0 with its answer held back")
            assert feeder.source.buffered() == 1
            h.workers.remove(feeder)
            stopping = asyncio.create_task(feeder.stop())
            done, _ = await asyncio.wait({stopping}, timeout=0.3)
            assert not done, "stop waits for the answer of the LPOP it cannot take back"
            proxy.release()
            await asyncio.wait_for(stopping, 10)
            assert h.queue("b").qsize() == 0
            assert [await direct.lpop(h.key("cards")) for _ in range(4)] == [b"c0", b"c1", b"c2", None]
        finally:
            await h.stop()
            await store.close()
            await direct.close()


async def test_redis_errors_report_upstream_error_alert_and_keep_retrying() -> None:
    dead = RedisStore("redis://127.0.0.1:1/0")  # nothing listens on port 1
    h = Harness(dead)
    await h.start()
    try:
        feeder = await h.worker("feeder", "generator", _dataset(h, listName="cards"), work_out="b")
        await h.enable(feeder)

        async def failing() -> bool:
            return feeder.status_data(full=False)["ioState"]["work"]["input"] == "upstream-error"

        await eventually(failing, timeout=5, what="ioState input upstream-error")
        await eventually(lambda: _alerted(h, "io.upstream-error"), timeout=5, what="an io.upstream-error alert")
        context = feeder.status_data(full=False)["context"]["redisDataset"]
        assert "Connect" in context["lastErrorMessage"]
        outcome = await h.configure(feeder, {"inputs": {"redis": {"ratePerSec": 5}}})
        assert outcome.data["status"] == "Applied", "the control plane stays live"
        assert len(h.alerts("io.upstream-error")) == 1, "repeats are folded by the runtime's alert window"
    finally:
        await h.stop()
        await dead.close()


# -- outputs.type REDIS --------------------------------------------------------------------------

TEMPLATES = [
    {"serviceId": "cards", "callId": "balance", "method": "GET", "pathTemplate": "/cards/{{ payload.card }}/balance"}
]


async def test_a_pipeline_moves_records_between_lists_by_their_source_list(harness: Harness, sut: str) -> None:
    topup = [f'{{"card":"t{n}", "note": "kept as pushed"}}' for n in range(3)]
    other = [f'{{"card":"o{n}"}}' for n in range(5)]
    await harness.push("cards.topup", *topup)
    await harness.push("cards.other", *other)
    feeder_config = _dataset(harness, sources=[{"listName": "cards.topup"}, {"listName": "cards.other"}])
    recycle = {
        "sourceStep": "FIRST",
        "maxLen": 3,
        "routes": [
            {
                "header": "x-ph-redis-list",
                "headerMatch": rf"^{harness.prefix}cards\.topup$",
                "list": harness.key("active"),
            },
            {"header": "x-ph-redis-list", "headerMatch": r"\.other$", "list": harness.key("archive")},
        ],
    }
    feeder = await harness.worker("feeder", "generator", feeder_config, work_out="build")
    builder = await harness.worker(
        "builder", "request-builder", {"serviceId": "cards", "templates": TEMPLATES}, work_in="build", work_out="call"
    )
    caller = await harness.worker("caller", "processor", {"baseUrl": sut}, work_in="call", work_out="post")
    post = await harness.worker(
        "post",
        "postprocessor",
        {"forwardToOutput": True, "outputs": {"type": "REDIS", "redis": recycle}},
        work_in="post",
    )
    await harness.enable(post, caller, builder, feeder)
    await eventually(lambda: _at_least(post, 8), timeout=10, what="8 records through the pipeline")

    assert sorted(await harness.elements("active")) == sorted(topup), "the original records, byte for byte"
    archive = await harness.elements("archive")
    assert len(archive) == 3, "maxLen trims the list to its first 3 elements"
    assert set(archive) <= set(other)
    assert post.stats.dropped == 0
    assert caller.stats.statuses == {200: 8}
    assert post.status_data(full=False)["context"]["redisOutput"]["pushed"] == 8
    assert post.sink is post.redis_output, "the REDIS output replaces the RabbitMQ sink"


async def test_an_unresolvable_target_is_alerted_and_dropped_and_work_goes_on(harness: Harness) -> None:
    push = {"routes": [{"match": "gold", "list": harness.key("gold")}]}
    builder = await harness.worker(
        "builder",
        "request-builder",
        {"serviceId": "cards", "templates": TEMPLATES, "outputs": {"type": "REDIS", "redis": push}},
        work_in="build",
    )
    await harness.enable(builder)
    for card in ("silver-1", "gold-1", "silver-2", "gold-2"):
        item = new_item(
            f'{{"card":"{card}"}}', swarm=SWARM, service="t", instance="t-0", headers={"x-ph-call-id": "balance"}
        )
        await harness.queue("build").put(item.to_json())

    async def all_handled() -> bool:
        return builder.stats.processed == 4

    await eventually(all_handled, timeout=5, what="four items handled")
    assert builder.stats.dropped == 2
    [alert] = harness.alerts("redis.no-target")
    assert "no route matched" in alert.data["message"]
    assert "add a defaultList" in alert.data["message"]
    pushed = [orjson.loads(p)["request"]["path"] for p in await harness.elements("gold")]
    assert sorted(pushed) == ["/cards/gold-1/balance", "/cards/gold-2/balance"], "LAST: the built request"
    assert builder.status_data(full=False)["context"]["redisOutput"]["noTarget"] == 2


async def test_a_redis_output_that_cannot_push_reports_downstream_error_and_keeps_running() -> None:
    dead = RedisStore("redis://127.0.0.1:1/0")
    h = Harness(dead)
    await h.start()
    try:
        push = {"defaultList": "x"}
        config = {"serviceId": "cards", "templates": TEMPLATES, "outputs": {"type": "REDIS", "redis": push}}
        builder = await h.worker("builder", "request-builder", config, work_in="build")
        await h.enable(builder)
        await h.queue("build").put(_card_item("c-1", "gold"))

        async def failing() -> bool:
            return builder.status_data(full=False)["ioState"]["work"]["output"] == "downstream-error"

        await eventually(failing, timeout=5, what="ioState output downstream-error")
        await eventually(lambda: _alerted(h, "io.downstream-error"), timeout=5, what="io.downstream-error")
        [alert] = h.alerts("io.downstream-error")
        assert alert.data["message"].startswith("publishing to Redis failed")
        attempts = PublishRetry().maxAttempts  # a transient failure is retried (outputs.retry), each attempt counted
        assert f"({attempts} attempts; no attempt left)" in alert.data["message"]
        assert builder.status_data(full=False)["context"]["redisOutput"]["errors"] >= attempts
        outcome = await h.configure(builder, {"enabled": False})
        assert outcome.data["status"] == "Applied", "the worker keeps answering"
    finally:
        await h.stop()
        await dead.close()


# -- interceptors.redisUploader ------------------------------------------------------------------


def _card_item(card: str, segment: str) -> bytes:
    payload = f'{{"card":"{card}","segment":"{segment}"}}'
    return new_item(payload, swarm=SWARM, service="t", instance="t-0", headers={"x-ph-call-id": "balance"}).to_json()


async def test_the_uploader_after_pushes_results_by_payload_route_and_items_flow_on(harness: Harness) -> None:
    uploader = {
        "phase": "AFTER",
        "sourceStep": "LAST",
        "routes": [{"match": "/cards/gold-", "list": harness.key("customers.gold")}],
        "defaultList": harness.key("customers.standard"),
    }
    config = {"serviceId": "cards", "templates": TEMPLATES, "interceptors": {"redisUploader": uploader}}
    builder = await harness.worker("builder", "request-builder", config, work_in="build", work_out="call")
    await harness.enable(builder)
    for card, segment in (("gold-1", "gold"), ("std-1", "standard"), ("gold-2", "gold")):
        await harness.queue("build").put(_card_item(card, segment))

    async def forwarded() -> bool:
        return harness.queue("call").qsize() == 3

    await eventually(forwarded, timeout=5, what="three items forwarded past the uploader")
    gold = sorted(orjson.loads(p)["request"]["path"] for p in await harness.elements("customers.gold"))
    standard = [orjson.loads(p)["request"]["path"] for p in await harness.elements("customers.standard")]
    assert gold == ["/cards/gold-1/balance", "/cards/gold-2/balance"]
    assert standard == ["/cards/std-1/balance"]
    assert builder.status_data(full=False)["context"]["redisUploader"]["pushed"] == 3


async def test_the_uploader_before_pushes_inbound_items(harness: Harness) -> None:
    uploader = {"phase": "BEFORE", "defaultList": harness.key("inbound")}
    config = {"serviceId": "cards", "templates": TEMPLATES, "interceptors": {"redisUploader": uploader}}
    builder = await harness.worker("builder", "request-builder", config, work_in="build", work_out="call")
    await harness.enable(builder)
    await harness.queue("build").put(_card_item("c-1", "gold"))

    await eventually(lambda: _at_least(builder, 1), timeout=5, what="the item handled")
    assert await harness.elements("inbound") == ['{"card":"c-1","segment":"gold"}']


async def test_the_uploader_after_pushes_the_inbound_item_when_the_role_returns_nothing(
    harness: Harness, sut: str
) -> None:
    uploader = {"defaultList": harness.key("called")}
    config = {"baseUrl": sut, "interceptors": {"redisUploader": uploader}}
    caller = await harness.worker("caller", "processor", config, work_in="call")  # outputs NONE: returns None
    await harness.enable(caller)
    request = '{"kind":"http.request","request":{"method":"GET","path":"/cards/1/balance"}}'
    await harness.queue("call").put(new_item(request, swarm=SWARM, service="t", instance="t-0").to_json())

    await eventually(lambda: _at_least(caller, 1), timeout=5, what="the request made")
    assert await harness.elements("called") == [request]


async def test_uploader_errors_are_alerts_and_the_item_still_flows_on() -> None:
    dead = RedisStore("redis://127.0.0.1:1/0")
    h = Harness(dead)
    await h.start()
    try:
        config = {"serviceId": "cards", "templates": TEMPLATES, "interceptors": {"redisUploader": {"defaultList": "x"}}}
        builder = await h.worker("builder", "request-builder", config, work_in="build", work_out="call")
        await h.enable(builder)
        await h.queue("build").put(_card_item("c-1", "gold"))

        async def forwarded() -> bool:
            return h.queue("call").qsize() == 1

        await eventually(forwarded, timeout=5, what="the item forwarded although Redis is down")
        [alert] = h.alerts("redis.upload-failed")
        assert "redisUploader could not push" in alert.data["message"]
        assert builder.stats.dropped == 0
    finally:
        await h.stop()
        await dead.close()


# -- a worker without Redis ------------------------------------------------------------------------


async def test_a_worker_without_redis_refuses_redis_configs_at_start_and_live() -> None:
    h = Harness(None)
    await h.start()
    try:
        with pytest.raises(ConfigError, match="HIVEKEEPER_REDIS_URL") as caught:
            await h.worker("feeder", "generator", _dataset(h, listName="cards"), work_out="b")
        assert caught.value.problems[0][0] == "inputs.type"
        builder = await h.worker("builder", "request-builder", {"serviceId": "cards"}, work_in="build", work_out="call")
        outcome = await h.configure(builder, {"interceptors": {"redisUploader": {"defaultList": "x"}}})
        assert outcome.data["status"] == "Failed"
        assert "hivekeeper run --redis URL" in outcome.data["context"]["reason"]
        assert builder.state.config.interceptors.redisUploader is None, "the old config is kept"
    finally:
        await h.stop()
