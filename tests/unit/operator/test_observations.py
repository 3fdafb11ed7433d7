"""The operator's memory of each worker, folded from the envelopes the workers really send."""

from __future__ import annotations

import tracemalloc

import pytest

from hivekeeper.operator.observations import MalformedEvent, Observations
from hivekeeper.protocol import envelope as env

SCOPE = env.Scope(swarmId="perf_q", role="caller", instance="caller-abc")


def _managed() -> Observations:
    seen = Observations()
    seen.manage(SCOPE.swarmId, SCOPE.role)
    return seen


def _status(kind: str, generation: int, enabled: bool = True) -> env.Envelope:
    data = {
        "enabled": enabled,
        "tps": 12,
        "ioState": {"work": {"input": "ok", "output": "ok"}},
        "context": {
            "configGeneration": generation,
            "processedPerSec": 12.5,
            "errors": 3,
            "latencyMs": {"p50": 1.5, "p95": 4.0, "p99": 9.25, "max": 12.0, "mean": 2.0},
        },
    }
    return env.metric(kind, SCOPE, data, origin=SCOPE.instance)


def _outcome(status: env.OutcomeStatus, **extra: object) -> env.Envelope:
    signal = env.signal("config-update", SCOPE, {}, origin="operator")
    return env.outcome(
        signal, status, SCOPE, origin=SCOPE.instance, context={"reason": "ratePerSec: too low"}, extra=dict(extra)
    )


def test_status_reports_become_the_instances_last_known_state() -> None:
    seen = _managed()
    seen.record(_status("status-full", 2), now=10.0)
    [report] = seen.instances("perf_q", "caller")
    assert (report.name, report.enabled, report.config_generation, report.tps, report.errors) == (
        "caller-abc",
        True,
        2,
        12.5,
        3,
    )
    assert (report.io_input, report.seen_at, report.latency_ms) == ("ok", 10.0, (1.5, 4.0, 9.25))


def test_a_failed_outcome_is_remembered_with_the_refused_generation_until_a_newer_one_applies() -> None:
    seen = _managed()
    seen.record(_status("status-full", 2), now=1.0)
    seen.record(_outcome("Failed", configGeneration=2, requestedGeneration=3), now=2.0)
    [report] = seen.instances("perf_q", "caller")
    assert (report.rejected_generation, report.rejected_reason, report.config_generation) == (
        3,
        "ratePerSec: too low",
        2,
    )
    assert seen.behind("perf_q", "caller", 3) == [], "a refused generation is not re-sent in a loop"
    seen.record(_status("status-delta", 4), now=3.0)
    [report] = seen.instances("perf_q", "caller")
    assert report.rejected_generation is None


def test_a_delayed_update_refused_as_stale_does_not_hide_the_refusal_of_a_newer_generation() -> None:
    seen = _managed()
    seen.record(_status("status-full", 4), now=1.0)
    seen.record(_outcome("Failed", configGeneration=4, requestedGeneration=5), now=2.0)
    seen.record(_outcome("Failed", configGeneration=4, requestedGeneration=3), now=3.0)  # delayed, refused as stale
    [report] = seen.instances("perf_q", "caller")
    assert (report.rejected_generation, report.config_generation) == (5, 4)
    assert seen.behind("perf_q", "caller", 5) == [], "generation 5 stays refused: it is not re-sent"


def test_a_delayed_update_refused_by_a_worker_that_runs_the_wanted_generation_changes_nothing() -> None:
    seen = _managed()
    seen.record(_status("status-full", 5), now=1.0)
    seen.record(_outcome("Failed", configGeneration=5, requestedGeneration=3), now=2.0)
    assert seen.behind("perf_q", "caller", 5) == []
    seen.record(_status("status-delta", 5), now=3.0)
    [report] = seen.instances("perf_q", "caller")
    assert (report.rejected_generation, report.config_generation) == (None, 5)


def test_an_applied_outcome_moves_the_generation_and_stale_pods_are_forgotten() -> None:
    seen = _managed()
    seen.record(_status("status-full", 1), now=1.0)
    assert seen.behind("perf_q", "caller", 2) == ["caller-abc"]
    seen.record(_outcome("Applied", configGeneration=2, enabled=False), now=2.0)
    [report] = seen.instances("perf_q", "caller")
    assert (report.config_generation, report.enabled) == (2, False)
    seen.forget("perf_q", "caller", keep=set())
    assert seen.instances("perf_q", "caller") == []


def test_events_of_other_kinds_are_ignored() -> None:
    seen = _managed()
    seen.record(env.alert("http.timeout", "slow", SCOPE, origin=SCOPE.instance), now=1.0)
    seen.record(_outcome("Applied", configGeneration=1), now=1.0)  # no status yet: nothing to update
    assert seen.instances("perf_q", "caller") == []


def test_the_first_ack_of_a_pushed_generation_yields_its_latency_once() -> None:
    seen = _managed()
    seen.record(_status("status-full", 1), now=1.0)
    seen.pushed("perf_q", "caller", "ALL", 2, now=5.0)
    assert seen.record(_outcome("Applied", configGeneration=2), now=5.25) == 0.25
    assert seen.record(_outcome("Applied", configGeneration=2), now=9.0) is None, "a repeated ack is not timed again"


def test_a_resend_to_one_instance_times_that_instance_from_the_resend() -> None:
    seen = _managed()
    seen.record(_status("status-full", 1), now=1.0)
    seen.pushed("perf_q", "caller", "ALL", 2, now=2.0)
    seen.pushed("perf_q", "caller", "caller-abc", 2, now=4.0)
    assert seen.record(_outcome("Applied", configGeneration=2), now=4.5) == 0.5


def test_acks_of_generations_nobody_pushed_and_refusals_are_not_timed() -> None:
    seen = _managed()
    seen.record(_status("status-full", 1), now=1.0)
    seen.pushed("perf_q", "caller", "ALL", 2, now=2.0)
    assert seen.record(_outcome("Failed", configGeneration=1, requestedGeneration=2), now=3.0) is None
    assert seen.record(_outcome("Applied", configGeneration=7), now=3.0) is None


def test_push_times_are_bounded_per_role() -> None:
    seen = _managed()
    seen.record(_status("status-full", 1), now=1.0)
    for generation in range(2, 40):
        seen.pushed("perf_q", "caller", "ALL", generation, now=float(generation))
    assert seen.record(_outcome("Applied", configGeneration=3), now=50.0) is None, "an old push was forgotten"
    assert seen.record(_outcome("Applied", configGeneration=39), now=40.0) == 1.0


def _forged(swarm: str, role: str, instance: str, **data: object) -> env.Envelope:
    scope = env.Scope(swarmId=swarm, role=role, instance=instance)
    return env.metric(
        "status-full", scope, {"enabled": True, "context": {"configGeneration": 1}, **data}, origin=instance
    )


def test_the_rate_is_the_contexts_exact_one_else_the_whole_number_tps() -> None:
    """``data.tps`` is a whole number (PocketHive's status); ours also says the exact rate in the context, and a
    PocketHive worker's report, without it, counts at its ``tps``."""
    seen = _managed()
    seen.record(_forged("perf_q", "caller", "caller-abc", tps=3, context={"configGeneration": 2}), now=1.0)
    assert seen.instances("perf_q", "caller")[0].tps == 3.0
    seen.record(_forged("perf_q", "caller", "caller-abc", tps=0, context={"processedPerSec": 0.4}), now=2.0)
    [report] = seen.instances("perf_q", "caller")
    assert (report.tps, report.config_generation) == (0.4, 2), "a report without a generation keeps the last one"


def test_100k_events_for_swarms_nobody_manages_keep_a_bounded_memory() -> None:
    seen = _managed()
    seen.record(_status("status-full", 2), now=0.0)
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for i in range(100_000):
        seen.record(_forged(f"fake_{i}", "caller", f"pod-{i}"), now=float(i))
    grown = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    assert seen.kept() == 1 + Observations.MAX_UNMANAGED
    assert grown < 2_000_000, f"100k forged events grew the operator's memory by {grown} bytes"
    assert [r.name for r in seen.instances("perf_q", "caller")] == ["caller-abc"], "the managed role is untouched"
    assert seen.instances("fake_5", "caller") == [], "what nobody manages is never reported"


def test_reports_heard_before_the_role_is_managed_move_over_when_it_is() -> None:
    seen = Observations()
    seen.record(_status("status-full", 4), now=1.0)
    assert seen.instances("perf_q", "caller") == []
    seen.manage("perf_q", "caller")
    [report] = seen.instances("perf_q", "caller")
    assert report.config_generation == 4, "a restarted operator keeps what the workers answered at once"


def test_a_managed_role_keeps_at_most_max_instances_forged_names_push_out_the_oldest() -> None:
    seen = _managed()
    for i in range(Observations.MAX_INSTANCES + 50):
        seen.record(_forged("perf_q", "caller", f"forged-{i:05d}"), now=float(i))
    names = [r.name for r in seen.instances("perf_q", "caller")]
    assert len(names) == Observations.MAX_INSTANCES
    assert "forged-00000" not in names
    assert f"forged-{Observations.MAX_INSTANCES + 49:05d}" in names


def test_a_deleted_role_is_forgotten_and_its_later_events_are_not_kept_as_managed() -> None:
    seen = _managed()
    seen.record(_status("status-full", 2), now=1.0)
    seen.pushed("perf_q", "caller", "caller-abc", 2, now=0.5)
    seen.unmanage("perf_q", "caller")
    assert seen.instances("perf_q", "caller") == []
    assert seen.managed() == 0
    seen.record(_status("status-delta", 2), now=2.0)
    assert seen.instances("perf_q", "caller") == []


@pytest.mark.parametrize(
    "data",
    [
        {"context": {"configGeneration": "three"}},
        {"context": {"configGeneration": [1]}},
        {"context": {"configGeneration": float("inf")}},
        {"context": "not an object"},
        {"context": {"errors": {"many": 1}}},
        {"context": {"processedPerSec": -2.5}},
        {"ioState": ["work"]},
        {"tps": "fast"},
        {"tps": -1},
        {"tps": float("nan")},
    ],
)
def test_a_malformed_status_raises_malformed_event_and_stores_nothing(data: dict[str, object]) -> None:
    seen = _managed()
    seen.record(_status("status-full", 2), now=1.0)
    with pytest.raises(MalformedEvent, match="status-full from 'caller-abc'"):
        seen.record(_forged("perf_q", "caller", "caller-abc", **data), now=2.0)
    [report] = seen.instances("perf_q", "caller")
    assert (report.config_generation, report.seen_at) == (2, 1.0), "the last good report stays"
