"""The CSV_DATASET input on the in-memory transports: rows as payloads for templates, stop or rotate at the end,
one cursor shared by the replicas through the store (each row once per pass), the rate live, the file fixed."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from hivekeeper.api.roles import ConfigError
from hivekeeper.worker.transports.memory import MemoryStore
from testbench.waiting import eventually
from testbench.workers import WorkerHarness

SWARM = "csv"
ROWS = 10


@pytest.fixture
def datasets(tmp_path: Path) -> Path:
    lines = ["id,name,vip"] + [f"{n},user{n},{'true' if n % 2 else 'false'}" for n in range(1, ROWS + 1)]
    (tmp_path / "users.csv").write_text("\n".join(lines) + "\n")
    return tmp_path


BODY = '{"user": "{{ payload.name }}", "next": {{ payload.id + 1 }}, "vip": "{{ payload.vip is true }}"}'
"""Typed cells as templates see them: ``id`` a number, ``vip`` a boolean."""


def generator(rate: float = 2000, *, rotate: bool = False, **extra: Any) -> dict[str, Any]:
    return {
        "inputs": {
            "type": "CSV_DATASET",
            "csv": {
                "filePath": "users.csv",
                "columns": {"id": "int", "vip": "bool"},
                "rotate": rotate,
                "ratePerSec": rate,
            },
        },
        "message": {"body": BODY},
        **extra,
    }


@pytest.fixture
async def harness() -> AsyncIterator[WorkerHarness]:
    h = WorkerHarness(SWARM, check_schema=True)
    await h.start()
    yield h
    await h.stop()


@pytest.fixture
async def shared() -> AsyncIterator[WorkerHarness]:
    h = WorkerHarness(SWARM, MemoryStore(), check_schema=True)
    await h.start()
    yield h
    await h.stop()


async def produced(h: WorkerHarness, count: int, alias: str = "out") -> list[dict[str, Any]]:
    async def enough() -> bool:
        return h.queue(alias).qsize() >= count

    await eventually(enough, timeout=10, what=f"{count} items on {alias}")
    return h.drain(alias)


async def test_each_row_is_an_item_whose_typed_columns_templates_read_as_payload(
    harness: WorkerHarness, datasets: Path
) -> None:
    worker = await harness.worker("feeder", "generator", generator(), work_out="out", datasets=datasets)
    await harness.enable(worker)
    items = await produced(harness, ROWS)
    first = items[0]
    assert orjson.loads(first["steps"][-1]["payload"]) == {"user": "user1", "next": 2, "vip": "True"}
    assert first["headers"]["x-ph-csv-file"] == "users.csv"
    assert (first["headers"]["x-ph-csv-row"], first["headers"]["x-ph-csv-remaining"]) == (1, ROWS - 1)
    assert first["headers"]["x-ph-csv-pass"] == 1
    assert [i["headers"]["x-ph-csv-row"] for i in items] == list(range(1, ROWS + 1))


async def test_without_rotate_the_input_stops_at_the_end_reports_out_of_data_and_alerts_once(
    harness: WorkerHarness, datasets: Path
) -> None:
    worker = await harness.worker("feeder", "generator", generator(), work_out="out", datasets=datasets)
    await harness.enable(worker)

    async def out_of_data() -> bool:
        return worker.source.state() == "out-of-data"

    await eventually(out_of_data, timeout=10, what="the end of the file")
    await harness.signal(worker, "status-request")
    assert harness.queue("out").qsize() == ROWS, "every row once, then nothing"
    status = harness.of("metric", "status-full")[-1].data
    assert status["ioState"]["work"]["input"] == "out-of-data"
    assert status["context"]["csvDataset"]["dispatched"] == ROWS
    assert status["context"]["csvDataset"]["cursor"] == "worker"
    assert len(harness.alerts("io.out-of-data")) == 1


async def test_with_rotate_the_next_pass_starts_over_at_the_first_row(harness: WorkerHarness, datasets: Path) -> None:
    worker = await harness.worker("feeder", "generator", generator(rotate=True), work_out="out", datasets=datasets)
    await harness.enable(worker)
    items = await produced(harness, 2 * ROWS + 1)
    second = items[ROWS]
    assert (second["headers"]["x-ph-csv-row"], second["headers"]["x-ph-csv-pass"]) == (1, 2)
    assert worker.source.state() == "ok"


async def test_replicas_share_one_cursor_through_the_store_so_each_row_goes_out_once_per_pass(
    shared: WorkerHarness, datasets: Path
) -> None:
    workers = [
        await shared.worker("feeder", "generator", generator(rate=500), work_out="out", index=n, datasets=datasets)
        for n in range(3)
    ]
    await shared.enable(*workers)

    async def done() -> bool:
        return all(w.source.state() == "out-of-data" for w in workers)

    await eventually(done, timeout=10, what="every replica at the end of the file")
    rows = Counter(item["headers"]["x-ph-csv-row"] for item in shared.drain("out"))
    assert rows == Counter(range(1, ROWS + 1)), "each row exactly once over the three replicas"
    contexts = [w.source.context() for w in workers]
    assert {c["cursor"] for c in contexts} == {"shared"}
    assert sum(c["dispatched"] for c in contexts) == ROWS


async def test_without_a_store_each_replica_walks_the_whole_file(harness: WorkerHarness, datasets: Path) -> None:
    workers = [
        await harness.worker("feeder", "generator", generator(), work_out="out", index=n, datasets=datasets)
        for n in range(2)
    ]
    await harness.enable(*workers)
    rows = Counter(item["headers"]["x-ph-csv-row"] for item in await produced(harness, 2 * ROWS))
    assert rows == Counter(dict.fromkeys(range(1, ROWS + 1), 2))


async def test_the_rate_and_rotate_are_live_but_the_file_is_not(harness: WorkerHarness, datasets: Path) -> None:
    worker = await harness.worker("feeder", "generator", generator(rate=5), work_out="out", datasets=datasets)
    applied = await harness.configure(worker, {"inputs": {"csv": {"ratePerSec": 50, "rotate": True}}})
    assert applied.data["status"] == "Applied"
    assert worker.source.context()["ratePerSec"] == 50
    refused = await harness.configure(worker, {"inputs": {"csv": {"filePath": "other.csv"}}})
    assert refused.data["status"] == "Failed"
    assert (
        "inputs.csv.filePath: cannot change from users.csv to other.csv while the worker runs"
        in refused.data["context"]["reason"]
    )


async def test_a_worker_whose_file_is_broken_does_not_start_and_names_the_cell(
    harness: WorkerHarness, datasets: Path
) -> None:
    (datasets / "users.csv").write_text("id,name,vip\n1,ann,true\n2,bob,perhaps\n")
    with pytest.raises(ConfigError) as caught:
        await harness.worker("feeder", "generator", generator(), work_out="out", datasets=datasets)
    [(path, message)] = caught.value.problems
    assert path == "inputs.csv.columns.vip"
    assert "row 2 (line 3), column 'vip': 'perhaps'" in message
