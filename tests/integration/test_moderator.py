"""The moderator between two stages: items go on unchanged, at the shaped rate, and the mode is live."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import orjson
import pytest

from hivekeeper.protocol import naming
from hivekeeper.protocol.workitem import new_item
from hivekeeper.worker.runtime.worker import Worker
from testbench.waiting import eventually
from testbench.workers import WorkerHarness

pytestmark = pytest.mark.integration
SWARM = "moderated"


@pytest.fixture
async def harness() -> AsyncIterator[WorkerHarness]:
    made = WorkerHarness(SWARM)
    await made.start()
    yield made
    await made.stop()


async def _backlog(harness: WorkerHarness, count: int) -> None:
    for n in range(count):
        item = new_item(orjson.dumps({"n": n}).decode(), swarm=SWARM, service="feeder", instance="feeder-0")
        await harness.broker.publish(naming.work_exchange(SWARM), naming.work_routing_key(SWARM, "raw"), item.to_json())


async def _flowing(harness: WorkerHarness, mode: dict[str, object]) -> Worker:
    """A moderator in ``mode`` between a backlog of 600 items in ``raw`` and ``paced``, its first item through."""
    harness.transports.declare_work_queue("raw")
    await _backlog(harness, 600)
    gate = await harness.worker("gate", "moderator", {"mode": mode}, work_in="raw", work_out="paced")
    await harness.enable(gate)

    async def started() -> bool:
        return gate.stats.processed >= 1

    await eventually(started, timeout=5, what="the first item through the moderator")
    return gate


async def _through_in(harness: WorkerHarness, gate: Worker, seconds: float) -> int:
    """Items the moderator forwarded during a window of ``seconds`` (a measuring window, not a wait)."""
    before = gate.stats.processed
    await asyncio.sleep(seconds)
    return gate.stats.processed - before


async def test_rate_per_sec_spaces_items_and_a_live_change_applies(harness: WorkerHarness) -> None:
    gate = await _flowing(harness, {"type": "rate-per-sec", "ratePerSec": 40})
    slow = await _through_in(harness, gate, 1.0)
    assert 34 <= slow <= 46, f"about 40 items in 1 s at 40/s, got {slow}"
    assert harness.queue("raw").qsize() > 400, "the backlog waits in the queue, not in the moderator"

    applied = await harness.configure(gate, {"mode": {"ratePerSec": 120}})
    assert applied.data["status"] == "Applied"
    fast = await _through_in(harness, gate, 1.0)
    assert 100 <= fast <= 140, f"about 120 items in 1 s at the new rate, got {fast}"
    context = gate.status_data(full=False)["context"]
    assert (context["mode"], context["targetRatePerSec"]) == ("rate-per-sec", 120)

    await harness.configure(gate, {"mode": {"type": "pass-through"}})

    async def all_through() -> bool:
        return gate.stats.processed == 600

    await eventually(all_through, timeout=5, what="pass-through to forward the rest at once")
    forwarded = harness.drain("paced")
    assert sorted(orjson.loads(i["steps"][0]["payload"])["n"] for i in forwarded) == list(range(600))
    assert all(len(i["steps"]) == 1 for i in forwarded), "items go on unchanged"
    assert [h["service"] for h in forwarded[0]["observability"]["hops"]][-1] == "gate"


async def test_a_refused_mode_keeps_the_running_one(harness: WorkerHarness) -> None:
    harness.transports.declare_work_queue("raw")
    gate = await harness.worker(
        "gate", "moderator", {"mode": {"type": "rate-per-sec", "ratePerSec": 5}}, work_in="raw", work_out="paced"
    )
    refused = await harness.configure(gate, {"mode": {"type": "sine"}})
    assert refused.data["status"] == "Failed"
    assert "mode.type sine needs mode.sine" in refused.data["context"]["problems"][0]["message"]
    assert gate.status_data(full=False)["context"]["targetRatePerSec"] == 5


async def test_a_sine_wave_lets_through_its_mean_rate_over_one_period(harness: WorkerHarness) -> None:
    """Between 0 and 100/s over 2 s: about 100 items in any whole period, whatever its phase; the
    target rate in the status moves with the wave."""
    wave = {"type": "sine", "sine": {"minRatePerSec": 0, "maxRatePerSec": 100, "periodSeconds": 2}}
    gate = await _flowing(harness, wave)
    period = await _through_in(harness, gate, 2.0)
    assert 88 <= period <= 112, f"about 100 items in one 2 s period, got {period}"
    targets = set()
    for _ in range(4):  # a quarter period apart: four different points of the wave
        targets.add(round(gate.status_data(full=False)["context"]["targetRatePerSec"]))
        await asyncio.sleep(0.5)
    assert len(targets) >= 3, targets
    assert all(0 <= t <= 100 for t in targets), targets
