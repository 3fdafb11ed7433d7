"""Workers on a real RabbitMQ: exact counts end to end, live rate changes, pause without loss, broker restarts."""

from __future__ import annotations

import asyncio
import io
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import orjson
import pytest

from hivekeeper.api.manifests import load_swarm
from hivekeeper.api.roles.generator.config import GeneratorConfig
from hivekeeper.api.swarm import Swarm
from hivekeeper.local import demo_sut
from hivekeeper.local.endpoints import DEFAULT, aimed
from hivekeeper.local.runner import RunOptions, run
from hivekeeper.protocol import envelope as env
from hivekeeper.protocol.workitem import new_item
from testbench import registry
from testbench.rabbit_swarm import RabbitSwarm as Cluster
from testbench.rabbitmq import RabbitMQ, start_rabbitmq
from testbench.waiting import eventually
from testbench.work_messages import items

pytestmark = pytest.mark.integration
QUICKSTART = Path(__file__).resolve().parents[2] / "examples" / "quickstart.yaml"


@pytest.fixture
async def cluster(rabbitmq_url: str) -> AsyncIterator[Cluster]:
    running = Cluster(rabbitmq_url)
    await running.start()
    yield running
    await running.stop()


def _items(swarm: str, n: int) -> list[bytes]:
    return [
        new_item(
            f'{{"n": {i}}}', swarm=swarm, service="test", instance="t-0", headers={"x-ph-call-id": "missing"}
        ).to_json()
        for i in range(n)
    ]


async def test_a_four_role_pipeline_delivers_every_item_exactly_once(rabbitmq_url: str) -> None:
    server = await demo_sut.serve("127.0.0.1", 0)
    url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    try:
        data = aimed(load_swarm(QUICKSTART), {DEFAULT: url}).model_dump(mode="json", by_alias=True)
        data["metadata"]["name"] = f"pipe-{uuid.uuid4().hex[:6]}"
        data["spec"]["roles"][0]["config"]["inputs"]["scheduler"] = {"ratePerSec": 1000, "maxMessages": 800}
        result = await run(
            Swarm.model_validate(data), RunOptions(duration=3.0, broker_url=rabbitmq_url, out=io.StringIO())
        )
    finally:
        server.close()
    processed = {r["name"]: (r["processed"], r["errors"], r["dropped"]) for r in result["roles"]}
    assert processed == dict.fromkeys(("feeder", "builder", "caller", "stats"), (800, 0, 0))


async def test_a_live_rate_change_shows_in_the_next_status_interval(cluster: Cluster) -> None:
    config = {"inputs": {"scheduler": {"ratePerSec": 50}}, "message": {"body": "x"}}
    worker = await cluster.worker("feeder", "generator", config, work_out="out", interval=1.0)
    await cluster.queue("out")
    applied = await cluster.configure(worker, {"enabled": True})
    assert applied.data["status"] == "Applied"

    def deltas() -> list[env.Envelope]:
        return [e for e in cluster.events if e.type == "status-delta"]

    async def steady(rate: float, after: int) -> list[float]:
        async def seen() -> list[float] | None:
            rates = [e.data["context"]["processedPerSec"] for e in deltas()[after:]]
            return rates if len(rates) >= 2 else None

        return await eventually(seen, timeout=10, what=f"two status-deltas after switching to {rate}/s")

    before = await steady(50, 0)
    assert before[-1] == pytest.approx(50, rel=0.15)
    await cluster.configure(worker, {"inputs": {"scheduler": {"ratePerSec": 200}}})
    mark = len(deltas())
    after = await steady(200, mark)
    assert after[1] == pytest.approx(200, rel=0.15), f"the first full interval at the new rate: {after}"


async def test_disable_pauses_consumption_and_enable_resumes_without_losing_items(cluster: Cluster) -> None:
    config = {"serviceId": "x", "passThroughOnMissingTemplate": True}
    worker = await cluster.worker("builder", "request-builder", config, work_in="in", work_out="out")
    await cluster.queue("out")
    await cluster.publish("in", _items(cluster.swarm, 300))
    await cluster.configure(worker, {"enabled": True})

    async def some_done() -> bool:
        return worker.stats.processed > 0

    await eventually(some_done, timeout=10, what="the builder to start consuming")
    await cluster.configure(worker, {"enabled": False})
    paused_at = worker.stats.processed
    left = await cluster.depth("in")
    assert paused_at + left == 300, "nothing in flight is lost or duplicated when pausing"
    await asyncio.sleep(0.3)
    assert worker.stats.processed == paused_at, "a disabled worker consumes nothing"
    await cluster.configure(worker, {"enabled": True})

    out: list[bytes] = []

    async def all_out() -> bool:  # items, not messages: several may travel in one (batches)
        out.extend(await cluster.take_items("out"))
        return len(out) >= 300

    await eventually(all_out, timeout=20, what="all 300 items on the output queue")
    assert len({orjson.loads(item)["messageId"] for item in out}) == len(out) == 300
    assert worker.stats.processed == 300


async def test_a_delayed_older_config_update_is_refused_and_the_worker_keeps_its_generation(cluster: Cluster) -> None:
    config = {"inputs": {"scheduler": {"ratePerSec": 5}}, "message": {"body": "bootstrap"}}
    worker = await cluster.worker("feeder", "generator", config, work_out="out")
    await cluster.queue("out")
    five = {
        "replace": True,
        "configGeneration": 5,
        "message": {"body": "five"},
        "inputs": {"scheduler": {"ratePerSec": 5}},
    }
    assert (await cluster.configure(worker, five)).data["status"] == "Applied"

    delayed = await cluster.configure(worker, {**five, "configGeneration": 3, "message": {"body": "three"}})

    assert delayed.data["status"] == "Failed"
    assert (delayed.data["configGeneration"], delayed.data["requestedGeneration"]) == (5, 3)
    assert delayed.data["context"]["problems"] == [
        {
            "path": "configGeneration",
            "message": "3 is older than generation 5 this worker holds; a delayed update cannot roll it back",
        }
    ]
    assert isinstance(worker.state.config, GeneratorConfig)
    assert (worker.state.generation, worker.state.config.message.body) == (5, "five"), "the worker kept its config"
    status = await cluster.configure(worker, five)  # the operator re-sending the generation it holds
    assert (status.data["status"], status.data["configGeneration"]) == ("Applied", 5)


@pytest.fixture
def private_broker(tmp_path: Path) -> Iterator[RabbitMQ]:
    """A RabbitMQ node of this test alone, so that it can be restarted."""
    broker = registry.track(start_rabbitmq(tmp_path / "rabbit"))
    yield broker
    registry.release(broker)


async def test_a_worker_survives_a_broker_restart_without_losing_items(private_broker: RabbitMQ) -> None:
    cluster = Cluster(private_broker.url)
    await cluster.start()
    config = {"serviceId": "x", "passThroughOnMissingTemplate": True}
    worker = await cluster.worker("builder", "request-builder", config, work_in="in", work_out="out")
    await cluster.queue("out")
    bodies = _items(cluster.swarm, 200)
    sent = {orjson.loads(b)["messageId"] for b in bodies}
    await cluster.publish("in", bodies[:100])
    await cluster.configure(worker, {"enabled": True})

    received: set[str] = set()

    async def first_half() -> bool:  # items, not messages: several may travel in one (batches)
        received.update(orjson.loads(item)["messageId"] for item in await cluster.take_items("out"))
        return len(received) >= 100

    await eventually(first_half, timeout=20, what="the first 100 items through")
    await cluster.connection.close()
    await asyncio.to_thread(private_broker.restart)
    await cluster.start()  # the test's own connection is plain; the worker's reconnects by itself
    await cluster.publish("in", bodies[100:])

    out = await cluster.queue("out")

    async def everything() -> bool:
        while (message := await out.get(fail=False)) is not None:
            await message.ack()
            received.update(orjson.loads(item)["messageId"] for item in items(message))
        return received >= sent

    await eventually(
        everything,
        timeout=60,
        interval=0.5,
        what="every item (published before and after the restart) on the output queue",
    )
    assert worker.state.enabled, "the worker kept its enabled state across the reconnect"
    await cluster.stop()


async def test_a_worker_reports_the_messages_and_items_its_output_sent_and_they_match_the_queue(
    cluster: Cluster,
) -> None:
    config = {"serviceId": "x", "passThroughOnMissingTemplate": True}
    worker = await cluster.worker("builder", "request-builder", config, work_in="in", work_out="out")
    await cluster.queue("out")
    await cluster.publish("in", _items(cluster.swarm, 400))
    await cluster.configure(worker, {"enabled": True})

    async def all_done() -> bool:
        return worker.stats.processed == 400

    await eventually(all_done, timeout=20, what="400 items through the builder")
    published = worker.status_data(full=False)["context"]["workOut"]
    messages = await cluster.depth("out")
    assert published == {"messages": messages, "items": 400}
    assert messages < 400, "concurrent loops share messages (batches): the operator's depth is messages x mean"
    assert len(await cluster.take_items("out")) == 400
