"""A cluster run's record on the operator core's fakes: the verdict judges the whole run's percentiles (from the
workers' histograms, not the worst status interval), the record (figures, verdict, time series) lands in a
ConfigMap owned by the Swarm and named in ``status.run.series`` and the history, an operator restarted mid-run
picks the recording up from it, and records that dropped out of the history are deleted."""

from __future__ import annotations

import pytest

from hivekeeper.api.run_status import HISTORY_LENGTH
from hivekeeper.operator import run_store
from hivekeeper.operator.bodies import SwarmBody
from hivekeeper.protocol import naming
from hivekeeper.report.run_document import DATA_KEY, RunDocument
from hivekeeper.worker.stats import RoleStats
from operator_harness import NAMESPACE, Operator
from run_harness import CALLER_OK, START, _at, end, run_status, staged, start, stored, tick, with_children

SWARM_ID = naming.swarm_id("staged-run", NAMESPACE)
ROLES = ("feeder", "builder", "caller", "stats")
WORST_INTERVAL = {**CALLER_OK, "latencyMs": {"p50": 500, "p95": 500, "p99": 500}}
"""The caller's status: its last interval was all slow (10 slow requests), so the worst interval's p95 is 500 ms."""


def caller_stats(fast: int, slow: int) -> RoleStats:
    stats = RoleStats()
    for value in [0.002] * fast + [0.5] * slow:
        stats.latency.record(value)
        stats.processed += 1
    return stats


def report_all(op: Operator, caller: RoleStats) -> None:
    """Every role's worker reports now; the caller with ``caller``'s figures, the others with none."""
    for role in ROLES:
        op.observations.manage(SWARM_ID, role)
        stats = caller if role == "caller" else RoleStats()
        op.workers.status(SWARM_ID, role, f"{role}-0", generation=1, context=stats.snapshot(), kind="status-delta")


async def at(op: Operator, swarm: SwarmBody, seconds: int, caller: RoleStats) -> SwarmBody:
    """The workers report, then a roll-up tick, ``seconds`` into the run (monotonic and wall clocks together)."""
    op.clock.now = 1000.0 + seconds
    report_all(op, caller)
    return await tick(op, swarm, _at(seconds))


async def finish(op: Operator, swarm: SwarmBody) -> SwarmBody:
    """The run's 20 s are over; the WorkerRoles' counters show the run's items; the verdict follows."""
    op.clock.now = 1028.0
    caller = {**WORST_INTERVAL, "processed": 6000, "statusCodes": {"200": 6000}}
    with_children(op, swarm, caller=caller, feeder={"processed": 9800})
    return await end(op, swarm, 20)


async def started(op: Operator, before: RoleStats) -> SwarmBody:
    op.clock.now = 1000.0
    report_all(op, before)
    return await start(op, staged(), START, caller=WORST_INTERVAL, feeder={"processed": 4900})


def record(op: Operator, name: str = "staged-run-run-1") -> RunDocument:
    body = op.cluster.configmap_bodies[(NAMESPACE, name)]
    return RunDocument.model_validate_json(body["data"][DATA_KEY])


async def test_the_verdict_judges_the_whole_runs_p95_not_the_worst_status_interval() -> None:
    op = Operator()
    swarm = await started(op, caller_stats(0, 300))  # 300 slow requests before the run: they never count
    swarm = await at(op, swarm, 10, caller_stats(990, 300))
    swarm = await at(op, swarm, 20, caller_stats(990, 310))  # the last interval: 10 slow requests
    swarm = await finish(op, swarm)
    run = run_status(op)
    assert run["phase"] == "Succeeded", run["verdict"]["reason"]
    [p95] = [t for t in run["verdict"]["thresholds"] if t["threshold"] == "caller p95 <= 300"]
    assert p95["observed"] == pytest.approx(2, rel=0.07), "990 of the run's 1,000 requests took 2 ms"


async def test_the_record_is_written_at_the_start_every_minute_and_with_the_verdict() -> None:
    op = Operator()
    swarm = await started(op, caller_stats(0, 0))
    assert run_status(op)["series"] == "staged-run-run-1"
    first = record(op)
    assert (first.phase, first.runId, first.startedAt, first.swarm) == ("Running", "1", START, "staged-run")
    body = op.cluster.configmap_bodies[(NAMESPACE, "staged-run-run-1")]
    [owner] = body["metadata"]["ownerReferences"]
    assert (owner["kind"], owner["name"], owner["uid"]) == ("Swarm", "staged-run", swarm.metadata.uid)
    assert body["metadata"]["labels"]["hivekeeper.io/run"] == "1"
    writes = sum(1 for c in op.cluster.calls if c[:2] == ("apply", "ConfigMap"))
    for second in (5, 10, 15):
        swarm = await at(op, swarm, second, caller_stats(100 * second, 0))
    assert sum(1 for c in op.cluster.calls if c[:2] == ("apply", "ConfigMap")) == writes, "not before a minute"
    swarm = await at(op, swarm, 20, caller_stats(2000, 0))
    swarm = await finish(op, swarm)
    last = record(op)
    assert last.phase == "Succeeded"
    assert last.verdict is not None
    assert last.verdict.result == "Passed"
    assert last.finishedAt == _at(20)
    caller = next(r for r in last.roles if r.name == "caller")
    assert caller.latencyMs["p50"] == pytest.approx(2, rel=0.07)
    assert set(caller.latencyMs) == {"p50", "p90", "p95", "p99", "max", "mean"}
    assert last.timeseries is not None
    points = next(r["points"] for r in last.timeseries["roles"] if r["role"] == "caller")
    assert [p["processed"] for p in points] == [500, 500, 500, 500]
    assert [p["processedPerSec"] for p in points] == [100.0] * 4
    history = op.cluster.swarm_statuses[(NAMESPACE, "staged-run")]["runs"]
    assert history[0]["series"] == "staged-run-run-1"


async def test_an_operator_restarted_mid_run_picks_the_recording_up_from_the_record() -> None:
    op = Operator()
    swarm = await started(op, caller_stats(0, 300))
    swarm = await at(op, swarm, 10, caller_stats(500, 300))
    restarted = Operator(cluster=op.cluster, clock=op.clock)  # a new process: no recording in memory
    swarm = stored(restarted, swarm)
    swarm = await at(restarted, swarm, 20, caller_stats(1000, 300))
    swarm = await finish(restarted, swarm)
    run = run_status(restarted)
    [p95] = [t for t in run["verdict"]["thresholds"] if t["threshold"] == "caller p95 <= 300"]
    assert p95["observed"] == pytest.approx(2, rel=0.07), "the baseline came back with the record"
    caller = next(r for r in record(restarted).roles if r.name == "caller")
    assert caller.latencyMs["max"] == pytest.approx(2, rel=0.07), "the 300 slow requests before the start"


async def test_records_that_drop_out_of_the_history_are_deleted() -> None:
    op = Operator()
    swarm = staged()
    for number in range(1, HISTORY_LENGTH + 3):
        swarm = stored(op, staged(status=swarm.status.model_dump(mode="json", exclude_unset=True), id=f"r{number}"))
        base = 100 * number
        with_children(op, swarm, caller=CALLER_OK, feeder={"processed": 4900})
        swarm = await tick(op, swarm, _at(base))
        swarm = await start(op, swarm, _at(base), caller=CALLER_OK, feeder={"processed": 4900})
        with_children(op, swarm, caller={**CALLER_OK, "processed": 6000}, feeder={"processed": 9800})
        swarm = await end(op, swarm, base + 20)
    names = sorted(name for (_, name) in op.cluster.configmap_bodies)
    kept = [f"staged-run-run-r{n}" for n in range(3, HISTORY_LENGTH + 3)]
    assert names == sorted(kept)
    assert ("delete-configmap", "staged-run-run-r1") in op.cluster.calls


def test_a_long_name_is_cut_with_a_hash_and_stays_unique() -> None:
    short = run_store.configmap_name("s", "1")
    assert short == "s-run-1"
    long_a = run_store.configmap_name("a" * 63, "x" * 200)
    long_b = run_store.configmap_name("a" * 63, "x" * 199 + "y")
    assert len(long_a) <= 253
    assert len(long_b) <= 253
    assert long_a != long_b


def _big_document(points: int, roles: int) -> RunDocument:
    from hivekeeper.api.run import RunSpec
    from hivekeeper.report.timeseries import Point, TimeSeries

    series = TimeSeries(interval=5.0, max_points=10**6)
    for role in range(roles):
        for n in range(points):
            series.append(f"role-{role}", Point(t=5.0 * (n + 1), seconds=5.0, processed=n, p50=1.0, p95=2.0, p99=3.0))
    return RunDocument(
        namespace=NAMESPACE,
        swarm="s",
        runId="1",
        startedAt=START,
        updatedAt=START,
        run=RunSpec(id="1", duration="1h"),
        timeseries=series.as_json(),
        baseline={"whole": True, "roles": {"caller": {"seen": {}}}},
    )


def test_a_record_over_its_bound_is_thinned_until_it_fits_and_says_how_much() -> None:
    doc = _big_document(points=3000, roles=4)
    text = run_store.bounded_json(doc, limit=200_000)
    assert len(text) <= 200_000
    kept = RunDocument.model_validate_json(text)
    assert kept.timeseries is not None
    assert kept.timeseries["downsampled"] >= 1
    assert kept.timeseries["intervalSeconds"] == 5.0 * 2 ** kept.timeseries["downsampled"]
    assert kept.baseline["whole"] is True, "the baseline stays while thinning the series is enough"
    first = sum(p["processed"] for p in kept.timeseries["roles"][0]["points"])
    assert first == sum(range(3000)), "thinning merges points: no item is lost"


def test_a_record_that_cannot_fit_drops_the_series_but_keeps_the_figures() -> None:
    doc = _big_document(points=10, roles=1)
    text = run_store.bounded_json(doc, limit=600)  # not even one point per role fits
    assert len(text) <= 600
    kept = RunDocument.model_validate_json(text)
    assert kept.timeseries is None
    assert kept.baseline.get("whole") is False, "the baseline went first: a restarted operator says so"
    assert (kept.runId, kept.run.duration) == ("1", "1h")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({}, "no run.json key"),
        ({DATA_KEY: "{"}, "not a run record"),
        ({DATA_KEY: '{"format": "other"}'}, "not a run record"),
        ({DATA_KEY: "x" * (3 * 900 * 1024)}, "at most"),
    ],
)
def test_a_configmap_that_is_not_a_run_record_is_refused_by_name(data: dict[str, str], message: str) -> None:
    with pytest.raises(run_store.RunRecordError, match=message) as caught:
        run_store.read_document("staged-run-run-1", data)
    assert "ConfigMap staged-run-run-1" in str(caught.value)
