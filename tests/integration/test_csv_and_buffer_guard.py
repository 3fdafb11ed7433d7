"""The CSV dataset's shared cursor on a real Redis (two workers, each with its own connection, as two pods have:
every row exactly once per pass) and the buffer guard on a real RabbitMQ (a producer slowed while its consumer
is paused and its queue fills, restored once the consumer drained it; a middle stage holding its input while its
output is deep, which in turn stops the generator); and examples/csv-dataset.yaml run by `hivekeeper run` against
the demo SUT."""

from __future__ import annotations

import dataclasses
import io
import subprocess
import sys
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from hivekeeper.api.manifests import load_swarm
from hivekeeper.api.swarm import Swarm
from hivekeeper.local import demo_sut
from hivekeeper.local.endpoints import DEFAULT, aimed
from hivekeeper.local.runner import RunOptions, run
from hivekeeper.protocol import envelope as env
from hivekeeper.worker.runtime.worker import Worker
from hivekeeper.worker.transports.redis.store import RedisStore
from testbench.rabbit_swarm import RabbitSwarm
from testbench.waiting import eventually
from testbench.workers import WorkerHarness, first_instance

pytestmark = pytest.mark.integration

ROWS = 60


@pytest.fixture
def datasets(tmp_path: Path) -> Path:
    lines = ["id,card"] + [f"{n},card-{n:04d}" for n in range(1, ROWS + 1)]
    (tmp_path / "cards.csv").write_text("\n".join(lines) + "\n")
    return tmp_path


def feeder(rotate: bool) -> dict[str, Any]:
    return {
        "inputs": {
            "type": "CSV_DATASET",
            "csv": {"filePath": "cards.csv", "columns": {"id": "int"}, "rotate": rotate, "ratePerSec": 400},
        },
        "message": {"body": '{"card": "{{ payload.card }}"}'},
    }


@pytest.fixture
async def two_pods(redis_url: str, datasets: Path) -> AsyncIterator[tuple[WorkerHarness, list[Worker]]]:
    """Two replicas of one generator, each with its own Redis connection; a fresh run id: a fresh cursor."""
    harness = WorkerHarness(f"csv-{uuid.uuid4().hex[:6]}")
    await harness.start()
    stores = [RedisStore(redis_url), RedisStore(redis_url)]
    harness.transports.declare_work_queue("out")
    run_id = uuid.uuid4().hex
    yield harness, [await _replica(harness, index, store, datasets, run_id) for index, store in enumerate(stores)]
    await harness.stop()
    for store in stores:
        await store.close()


async def _replica(harness: WorkerHarness, index: int, store: RedisStore, datasets: Path, run_id: str) -> Worker:
    identity = first_instance(harness.swarm, "feeder", "generator", in_queue=None, out_alias="out")
    identity = dataclasses.replace(identity, instance=f"feeder-{index}", run_id=run_id)
    worker = Worker(identity, feeder(rotate=True), harness.transports, store=store, datasets=datasets)
    await worker.start()
    harness.workers.append(worker)
    return worker


async def test_two_replicas_sharing_the_redis_cursor_hand_out_every_row_exactly_once_per_pass(
    two_pods: tuple[WorkerHarness, list[Worker]],
) -> None:
    harness, workers = two_pods
    await harness.enable(*workers)

    async def two_passes() -> bool:
        return harness.queue("out").qsize() >= 2 * ROWS

    await eventually(two_passes, timeout=20, what="two passes over the file")
    await harness.configure(workers[0], {"enabled": False})
    await harness.configure(workers[1], {"enabled": False})
    items = harness.drain("out")
    by_pass: dict[int, Counter[int]] = {}
    for item in items:
        headers = item["headers"]
        by_pass.setdefault(headers["x-ph-csv-pass"], Counter())[headers["x-ph-csv-row"]] += 1
    for number in (1, 2):
        assert by_pass[number] == Counter(range(1, ROWS + 1)), f"pass {number}: every row exactly once"
    producers = Counter(item["steps"][0]["headers"]["ph.step.instance"] for item in items)
    assert set(producers) == {"feeder-0", "feeder-1"}, "both replicas took rows from the one cursor"
    assert {w.source.context()["cursor"] for w in workers} == {"shared"}


@pytest.fixture
async def rabbit(rabbitmq_url: str) -> AsyncIterator[RabbitSwarm]:
    running = RabbitSwarm(rabbitmq_url)
    await running.start()
    yield running
    await running.stop()


async def test_the_guard_slows_a_producer_while_its_consumer_is_paused_and_restores_it_after(
    rabbit: RabbitSwarm,
) -> None:
    guard = {"queue": "call", "high": 150, "low": 30, "minRatePerSec": 1, "intervalMs": 200}
    await rabbit.queue("call")
    await rabbit.queue("done")
    message = {"body": "x", "headers": {"x-ph-call-id": "none"}}  # passed through unbuilt by the builder
    producer = await rabbit.worker(
        "feeder",
        "generator",
        {"inputs": {"scheduler": {"ratePerSec": 300}}, "message": message, "bufferGuard": guard},
        work_out="call",
        interval=0.5,
    )
    consumer = await rabbit.worker(
        "builder",
        "request-builder",
        {"serviceId": "x", "passThroughOnMissingTemplate": True},
        work_in="call",
        work_out="done",
        interval=0.5,
    )
    assert (await rabbit.configure(consumer, {"enabled": True})).data["status"] == "Applied"
    assert (await rabbit.configure(producer, {"enabled": True})).data["status"] == "Applied"

    async def flowing() -> bool:
        return consumer.stats.processed >= 300

    await eventually(flowing, timeout=15, what="items flowing through a consumer that keeps up")
    assert producer.guard.state.trips == 0, "a consumer that keeps up never trips the guard"
    assert producer.source.pacer.rate_per_sec == 300

    await rabbit.configure(consumer, {"enabled": False})

    async def slowed() -> bool:
        return producer.guard.throttled

    await eventually(slowed, timeout=15, what="the guard closing on the paused consumer's queue")
    assert producer.source.pacer.rate_per_sec == 1
    assert producer.guard.state.depth is not None
    assert producer.guard.state.depth >= 150, "the depth the broker reported"
    held = await rabbit.depth("call")
    assert held < 150 + 300, "production slowed within about a second of the bound"

    def alerts() -> list[env.Envelope]:
        return [e for e in rabbit.events if e.type == "alert" and e.data["code"] == "io.backpressure"]

    async def alerted() -> bool:
        return bool(alerts())

    await eventually(alerted, timeout=10, what="the io.backpressure alert on the control exchange")

    async def reported() -> dict[str, Any] | None:
        deltas = [e for e in rabbit.events if e.type == "status-delta" and e.scope.role == "feeder"]
        last = deltas[-1].data if deltas else None
        return last if last and last["context"].get("bufferGuard", {}).get("state") == "throttled" else None

    status = await eventually(reported, timeout=10, what="a status-delta showing the guard throttled")
    assert status["ioState"]["work"]["input"] == "backpressure"

    await rabbit.configure(consumer, {"enabled": True})

    async def restored() -> bool:
        return not producer.guard.throttled

    await eventually(restored, timeout=20, what="the guard opening once the consumer drained the queue")
    assert producer.source.pacer.rate_per_sec == 300
    assert producer.guard.state.trips == 1
    assert producer.guard.state.read_errors == 0
    assert not [e for e in rabbit.events if e.type == "alert" and e.data["code"] == "io.buffer-guard-unavailable"]


async def test_a_middle_stage_guarding_its_output_holds_its_input_and_the_backpressure_reaches_the_generator(
    rabbit: RabbitSwarm,
) -> None:
    """generator -> call -> builder -> done, and nobody takes ``done``: the builder's guard stops it taking items,
    ``call`` fills, and the generator's own guard stops it; releasing the builder lets everything through, once."""
    await rabbit.queue("call")
    await rabbit.queue("done")
    message = {"body": "x", "headers": {"x-ph-call-id": "none"}}  # passed through unbuilt by the builder
    producer = await rabbit.worker(
        "feeder",
        "generator",
        {
            "inputs": {"scheduler": {"ratePerSec": 300}},
            "message": message,
            "bufferGuard": {"queue": "call", "high": 150, "low": 30, "intervalMs": 200},
        },
        work_out="call",
        interval=0.5,
    )
    builder = await rabbit.worker(
        "builder",
        "request-builder",
        {
            "serviceId": "x",
            "passThroughOnMissingTemplate": True,
            "bufferGuard": {"queue": "done", "high": 100, "low": 20, "intervalMs": 200},
        },
        work_in="call",
        work_out="done",
        interval=0.5,
    )
    assert (await rabbit.configure(builder, {"enabled": True})).data["status"] == "Applied"
    assert (await rabbit.configure(producer, {"enabled": True})).data["status"] == "Applied"

    async def both_held() -> bool:
        return builder.guard.throttled and producer.guard.throttled and builder.stats.in_flight == 0

    await eventually(both_held, timeout=20, what="the builder held by done's depth, then the generator by call's")
    assert builder.hold.closed
    built = builder.stats.processed
    produced = producer.stats.processed
    assert built < 100 + 300, "the builder stopped within about a second of its bound"
    assert produced - built >= 150, "the backlog waits in call, in front of the held stage"

    done = await rabbit.take_items("done")
    assert len(done) == built

    assert (await rabbit.configure(builder, {"bufferGuard": {"enabled": False}})).data["status"] == "Applied"

    async def generator_released() -> bool:
        return not producer.guard.throttled

    await eventually(generator_released, timeout=20, what="call drained by the released builder, the generator open")
    assert (await rabbit.configure(producer, {"enabled": False})).data["status"] == "Applied"

    async def all_through() -> bool:
        return builder.stats.processed == producer.stats.processed and await rabbit.depth("call") == 0

    await eventually(all_through, timeout=20, what="every generated item built")
    done += await rabbit.take_items("done")
    assert len(done) == producer.stats.processed, "every item once: none lost or duplicated by the holds"
    assert builder.guard.state.trips == 1
    assert producer.guard.state.trips >= 1


EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "csv-dataset.yaml"
EXAMPLE_ROWS = 40


def test_the_cli_runs_the_csv_example_reading_the_file_next_to_the_manifest(tmp_path: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "hivekeeper.cli",
            "run",
            "--demo-sut",
            "--duration",
            "2",
            "--json",
            "out.json",
            str(EXAMPLE),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=tmp_path,  # elsewhere: the file is found next to the manifest, not in the working directory
    )
    assert done.returncode == 0, done.stderr
    summary = orjson.loads((tmp_path / "out.json").read_bytes())
    caller = next(r for r in summary["roles"] if r["name"] == "caller")
    assert caller["processed"] > EXAMPLE_ROWS, "rotate: more than one pass"
    assert caller["errors"] == 0
    assert caller["statusCodes"] == {"200": caller["processed"]}


async def test_without_rotate_the_examples_two_replicas_send_each_row_once_and_stop(tmp_path: Path) -> None:
    server = await demo_sut.serve("127.0.0.1", 0)
    url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    try:
        data = aimed(load_swarm(EXAMPLE), {DEFAULT: url}).model_dump(mode="json", by_alias=True)
        data["spec"]["roles"][0]["config"]["inputs"]["csv"]["rotate"] = False
        swarm = Swarm.model_validate(data)
        options = RunOptions(duration=2.0, out=io.StringIO(), datasets={swarm.metadata.name: EXAMPLE.parent})
        result = await run(swarm, options)
    finally:
        server.close()
    roles = {r["name"]: r for r in result["roles"]}
    assert roles["feeder"]["processed"] == EXAMPLE_ROWS, "every row once over the two replicas, then nothing"
    assert roles["caller"]["statusCodes"] == {"200": EXAMPLE_ROWS}
    assert [a["code"] for a in result["alerts"] if a["code"] == "io.out-of-data"], "the end of the file is said"
