"""A Redis outage in the middle of dataset traffic: ``hivekeeper run`` of the onboarding and usage examples (cards
pushed to Redis lists by one swarm, popped and pushed back by the other) against a Redis of this test alone,
restarted mid-run. The workers say what failed (``io.upstream-error`` / ``io.downstream-error`` for the lists,
never ``runtime.exception``), go on when it is back, and the datasets' books balance."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from testbench import registry
from testbench.packages import missing_packages
from testbench.redis import Redis, redis_pongs, start_redis
from testbench.waiting import eventually

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def outage_redis(tmp_path: Path) -> Iterator[Redis]:
    """Persistent (append-only, synced on every write) so that the restart itself loses no element."""
    assert not missing_packages(["redis"]), "redis-server is not installed: run `make test` (it installs it)"
    server = registry.track(start_redis(tmp_path / "redis", persistent=True))
    yield server
    registry.release(server)


async def test_a_redis_restart_mid_run_is_reported_as_such_and_the_dataset_books_balance(
    outage_redis: Redis, tmp_path: Path
) -> None:
    summary = tmp_path / "summary.json"
    log = tmp_path / "run.log"
    examples = [str(REPO / "examples" / name) for name in ("onboarding.yaml", "usage.yaml")]
    with log.open("w") as out:
        run = await asyncio.create_subprocess_exec(
            *(sys.executable, "-m", "hivekeeper.cli", "run", "--demo-sut", "--redis", outage_redis.url),
            *("--duration", "12", "--interval", "1", "--json", str(summary), *examples),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:

        async def cards_flowing() -> bool:
            return "--- usage at 3" in log.read_text()

        await eventually(cards_flowing, timeout=30, what="three seconds of the run before the outage")
        outage = time.monotonic()
        outage_redis.stop()
        await asyncio.sleep(2.0)  # the outage itself: two seconds without Redis, the length of the fault
        await asyncio.to_thread(outage_redis.restart)
        assert redis_pongs(outage_redis.port)
        code = await asyncio.wait_for(run.wait(), 60)
    finally:
        if run.returncode is None:
            run.kill()
            await run.wait()
    output = log.read_text()
    assert code == 0, output[-4000:]
    result = orjson.loads(summary.read_bytes())
    alerts = [a for swarm in result["swarms"] for a in swarm["alerts"]]
    codes = {a["code"] for a in alerts}
    assert codes & {"io.upstream-error", "io.downstream-error", "redis.unavailable"}, codes
    assert "runtime.exception" not in codes, [a for a in alerts if a["code"] == "runtime.exception"]
    books = result["datasetBooks"]
    print(f"outage of {time.monotonic() - outage:.1f}s; books: {orjson.dumps(books).decode()}")
    # A pop Redis ran but whose answer the outage cut off took its element (LPOP is at most once); the books say
    # so, counted, instead of showing it as lost: every element is accounted for.
    assert books["explained"], output[-4000:]
    assert abs(books["unaccounted"]) <= books["uncertain"], books
    assert ("balanced: every element is accounted for" in output) or ("accounted for:" in output), output[-4000:]
