"""A role's latency is the percentile of all its instances' requests (their histograms merged), not the worst
instance's percentile: in the pure functions, in what the event consumer keeps, and in the WorkerRole and
Swarm statuses the roll-ups write on the fakes."""

from __future__ import annotations

import dataclasses
import tracemalloc
from typing import Any

import pytest

from hivekeeper.api.status import QueueStatus
from hivekeeper.operator import latency, plan, role_rollup, swarm_rollup
from hivekeeper.operator.observations import MalformedEvent, Observations
from hivekeeper.operator.status import InstanceReport
from hivekeeper.protocol import envelope as env
from hivekeeper.protocol import naming
from hivekeeper.protocol.latency import LatencyReport
from hivekeeper.worker.stats import RoleStats
from operator_harness import NAMESPACE, Operator, swarm_body

SWARM_ID = naming.swarm_id("quickstart", NAMESPACE)
FAST_MS, SLOW_MS = 2.0, 500.0


def _stats(*seconds: float, steps: dict[str, list[float]] | None = None) -> RoleStats:
    stats = RoleStats()
    for value in seconds:
        stats.latency.record(value)
    for step, values in (steps or {}).items():
        for value in values:
            stats.step(step).record(value)
    return stats


def _fast() -> RoleStats:
    return _stats(*[FAST_MS / 1000] * 990)


def _slow() -> RoleStats:
    return _stats(*[SLOW_MS / 1000] * 10)


def _report(name: str, stats: RoleStats) -> InstanceReport:
    parsed = LatencyReport.model_validate(stats.snapshot()["latencyHistogram"])
    return InstanceReport(
        name=name,
        enabled=True,
        config_generation=1,
        seen_at=0.0,
        latency_since_start=parsed,
        latency_window=parsed.role,
        latency_ms=(stats.latency.percentile(50), stats.latency.percentile(95), stats.latency.percentile(99)),
    )


def test_the_role_p95_is_the_merged_one_not_the_slow_instances() -> None:
    found = latency.recent_latency([_report("fast", _fast()), _report("slow", _slow())])
    assert found.p95 == pytest.approx(FAST_MS, rel=0.07), "99 % of the requests took 2 ms"
    assert found.p99 == pytest.approx(FAST_MS, rel=0.07)
    assert _slow().latency.percentile(95) == pytest.approx(SLOW_MS, rel=0.07), "what the worst-instance rule said"


def test_instances_that_send_only_percentiles_count_only_when_none_sends_a_histogram() -> None:
    summary_only = [
        dataclasses.replace(_report("a", _fast()), latency_since_start=None, latency_window=None),
        dataclasses.replace(_report("b", _slow()), latency_since_start=None, latency_window=None),
    ]
    assert latency.recent_latency(summary_only).p95 == pytest.approx(SLOW_MS, rel=0.07), "an upper bound"
    mixed = [summary_only[1], _report("fast", _fast())]
    assert latency.recent_latency(mixed).p95 == pytest.approx(FAST_MS, rel=0.07)
    assert latency.recent_latency([]).p95 == 0.0


def test_since_start_merges_the_role_and_each_step() -> None:
    one = _stats(0.01, 0.01, steps={"login": [0.01], "pay": [0.01]})
    two = _stats(0.2, steps={"login": [0.2]})
    reports = [_report("one", one), _report("two", two)]
    assert latency.since_start(reports).count == 3
    assert latency.since_start(reports, step="login").count == 2
    assert latency.since_start(reports, step="pay").count == 1
    assert latency.since_start(reports, step="nope").count == 0


def _event(name: str, context: dict[str, Any], kind: str = "status-delta") -> env.Envelope:
    scope = env.Scope(swarmId=SWARM_ID, role="caller", instance=name)
    data = {"enabled": True, "tps": 1, "context": {"configGeneration": 1, **context}}
    return env.metric(kind, scope, data, origin=name)


def test_the_consumer_keeps_each_instances_window_between_its_reports() -> None:
    seen = Observations()
    seen.manage(SWARM_ID, "caller")
    stats = RoleStats()
    seen.record(_event("a", stats.snapshot(), "status-full"), now=1.0)
    [first] = seen.instances(SWARM_ID, "caller")
    assert first.latency_window is None, "no request yet"
    for _ in range(4):
        stats.latency.record(0.003)
    seen.record(_event("a", stats.snapshot()), now=6.0)
    [second] = seen.instances(SWARM_ID, "caller")
    assert second.latency_window is not None
    assert second.latency_window.count == 4
    stats.latency.record(0.4)
    seen.record(_event("a", stats.snapshot()), now=11.0)
    [third] = seen.instances(SWARM_ID, "caller")
    assert third.latency_window is not None
    assert (third.latency_window.count, third.latency_window.percentile_ms(50)) == (1, pytest.approx(400, rel=0.07))
    assert third.latency_since_start is not None
    assert third.latency_since_start.role.count == 5
    restarted = _stats(0.001, 0.001)
    seen.record(_event("a", restarted.snapshot()), now=16.0)
    [fourth] = seen.instances(SWARM_ID, "caller")
    assert fourth.latency_window is not None
    assert fourth.latency_window.count == 2, "counts from the restart"


def test_a_status_full_between_two_deltas_does_not_cut_the_interval() -> None:
    seen = Observations()
    seen.manage(SWARM_ID, "caller")
    stats = _stats(0.002)
    seen.record(_event("a", stats.snapshot()), now=1.0)
    for _ in range(3):
        stats.latency.record(0.002)
    seen.record(_event("a", stats.snapshot()), now=6.0)
    stats.latency.record(0.002)
    seen.record(_event("a", stats.snapshot(), "status-full"), now=7.0)  # a config change, mid-interval
    [after_full] = seen.instances(SWARM_ID, "caller")
    assert after_full.latency_window is not None
    assert after_full.latency_window.count == 3, "the last interval's window stays"
    assert after_full.latency_since_start is not None
    assert after_full.latency_since_start.role.count == 5
    stats.latency.record(0.002)
    seen.record(_event("a", stats.snapshot()), now=11.0)
    [next_delta] = seen.instances(SWARM_ID, "caller")
    assert next_delta.latency_window is not None
    assert next_delta.latency_window.count == 2, "from the previous delta, through the status-full"


@pytest.mark.parametrize(
    "histogram",
    [
        {"scheme": 9, "role": {}},
        {"scheme": 1, "role": {"counts": {"600": 1}}},
        {"scheme": 1, "role": {"counts": {"3": -1}}},
        {"scheme": 1, "role": {"counts": "3:1"}},
        {"scheme": 1, "role": {}, "steps": {f"s{i}": {"counts": {str(b): 1 for b in range(512)}} for i in range(5)}},
        "not an object",
    ],
)
def test_a_malformed_or_oversized_histogram_is_a_malformed_event_and_nothing_is_kept(histogram: object) -> None:
    seen = Observations()
    seen.manage(SWARM_ID, "caller")
    with pytest.raises(MalformedEvent, match="status-delta from 'a'"):
        seen.record(_event("a", {"errors": 0, "latencyHistogram": histogram}), now=1.0)
    assert seen.instances(SWARM_ID, "caller") == []


async def test_the_workerrole_and_swarm_statuses_show_the_merged_percentiles() -> None:
    """Two callers: one fast that served 990 requests, one slow that served 10. The role's p95 is 2 ms."""
    op = Operator()
    swarm = swarm_body()
    op.add_swarm(swarm)
    role = op.add_workerrole(op.child(swarm, "caller").manifest)
    digest = plan.config_digest(role.spec.config, not role.spec.paused)
    op.cluster.workerrole_bodies[(NAMESPACE, role.metadata.name)]["status"] = {
        "configGeneration": 1,
        "configDigest": digest,
    }
    for alias in ("call", "results"):
        name = naming.work_queue(SWARM_ID, alias)
        op.broker.queues[name] = QueueStatus(name=name, depth=0, consumers=2)
    op.start_workers("caller", "caller-fast", "caller-slow", generation=1)
    for name, stats in (("caller-fast", _fast()), ("caller-slow", _slow())):
        op.workers.status(SWARM_ID, "caller", name, generation=1, context=stats.snapshot(), kind="status-delta")

    await role_rollup.roll_up_role(op.runtime, op.workerrole(role.metadata.name))
    await swarm_rollup.roll_up_swarm(op.runtime, swarm)

    role_status = op.workerrole(role.metadata.name).status
    assert role_status.latencyMs.p95 == pytest.approx(FAST_MS, rel=0.07)
    assert role_status.latencyMs.p99 == pytest.approx(FAST_MS, rel=0.07)
    [caller] = [r for r in op.cluster.swarm_statuses[(NAMESPACE, "quickstart")]["roles"] if r["name"] == "caller"]
    assert caller["latencyMs"]["p95"] == pytest.approx(FAST_MS, rel=0.07), f"not the slow instance's {SLOW_MS} ms"


def test_a_report_heard_before_its_role_is_managed_keeps_no_histogram_and_its_next_window_is_unknown() -> None:
    seen = Observations()
    stats = _stats(*[0.002] * 50)
    seen.record(_event("a", stats.snapshot(), "status-full"), now=1.0)  # a restarted operator, role not yet managed
    seen.manage(SWARM_ID, "caller")
    [waited] = seen.instances(SWARM_ID, "caller")
    assert (waited.latency_since_start, waited.latency_known) == (None, False)
    stats.latency.record(0.3)
    seen.record(_event("a", stats.snapshot()), now=6.0)
    [next_report] = seen.instances(SWARM_ID, "caller")
    assert next_report.latency_window is None, "not the worker's whole life as one interval"
    stats.latency.record(0.3)
    seen.record(_event("a", stats.snapshot()), now=11.0)
    [third] = seen.instances(SWARM_ID, "caller")
    assert third.latency_window is not None
    assert third.latency_window.count == 1


def test_forged_reports_with_full_histograms_for_roles_nobody_manages_keep_a_bounded_memory() -> None:
    seen = Observations()
    wide = {"scheme": 1, "role": {"counts": {str(i): 1000 + i for i in range(512)}, "sumUs": 10**9, "maxUs": 10**6}}
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for i in range(3 * Observations.MAX_UNMANAGED):
        scope = env.Scope(swarmId=f"fake_{i}", role="caller", instance=f"pod-{i}")
        data = {"enabled": True, "context": {"latencyHistogram": wide}}
        seen.record(env.metric("status-delta", scope, data, origin=scope.instance), now=float(i))
    grown = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    assert seen.kept() == Observations.MAX_UNMANAGED
    assert grown < 2_000_000, f"forged histograms grew the operator's memory by {grown} bytes"
