"""``hivekeeper run``'s time series against a real HTTP service: every item in exactly one point, one point per
second in a short run, the interval's own latencies."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from hivekeeper.api.manifests import load_swarm
from hivekeeper.api.swarm import Swarm
from hivekeeper.local import demo_sut
from hivekeeper.local.endpoints import DEFAULT, aimed
from hivekeeper.local.runner import RunOptions, run

pytestmark = pytest.mark.integration
QUICKSTART = Path(__file__).resolve().parents[2] / "examples" / "quickstart.yaml"


@pytest.fixture
async def sut_url() -> AsyncIterator[str]:
    server = await demo_sut.serve("127.0.0.1", 0)
    yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    server.close()
    await server.wait_closed()


async def test_every_item_lands_in_exactly_one_point_of_its_role(sut_url: str) -> None:
    data = aimed(load_swarm(QUICKSTART), {DEFAULT: sut_url}).model_dump(mode="json", by_alias=True)
    data["spec"]["roles"][0]["config"]["inputs"]["scheduler"] = {"ratePerSec": 300, "maxMessages": 600}
    result = await run(Swarm.model_validate(data), RunOptions(duration=3.0, out=io.StringIO()))
    series = result["timeseries"]
    assert series["intervalSeconds"] == 1.0  # a run under a minute: a point a second
    roles = {r["role"]: r["points"] for r in series["roles"]}
    assert set(roles) == {"feeder", "builder", "caller", "stats"}
    for role, points in roles.items():
        assert sum(p["processed"] for p in points) == 600, role
        assert [p["t"] for p in points] == sorted(p["t"] for p in points), role
        assert 3 <= len(points) <= 4, role  # 3 s of load, the drain's tail folded in or its own point
    caller = roles["caller"]
    assert all(p["latencyMs"]["p50"] > 0 for p in caller if p["processed"])
    assert [p["queueDepth"] is not None for p in caller] == [True] * len(caller)  # it has an input queue
    assert all(p["queueDepth"] is None for p in roles["feeder"])  # a producer has none
    assert caller[0]["processedPerSec"] == pytest.approx(300, rel=0.2)  # the first second at the scheduled rate
