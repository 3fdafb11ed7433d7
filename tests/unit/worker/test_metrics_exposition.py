"""A worker's Prometheus exposition, parsed the way Prometheus reads it: latency is a histogram in seconds
(cumulative buckets, ``le`` exact edges of the log-linear scheme, ``+Inf`` equal to the count), one series
per http-sequence step, and counters end in ``_total``."""

from __future__ import annotations

import random
from collections import Counter
from types import SimpleNamespace
from typing import Any, cast

import pytest
from prometheus_client.exposition import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from hivekeeper.api.roles.buffer_guard import BufferGuard
from hivekeeper.worker.buffer_guard import GuardState
from hivekeeper.worker.metrics import DURATION, EDGES, registry_for
from hivekeeper.worker.result_counts import MAX_KEYS, OTHER
from hivekeeper.worker.result_rules import RuleValues
from hivekeeper.worker.runtime.worker import Worker
from hivekeeper.worker.stats import RoleStats

LABELS = {"swarm": "perf_q", "role": "caller", "instance": "caller-a", "run": "run-7"}


def _worker(stats: RoleStats, guard: Any = None) -> Worker:
    """What the collector reads of a worker, and nothing else."""
    output = SimpleNamespace(refused=0, poisoned=0, retries=0, given_back=0)
    fake = SimpleNamespace(
        identity=SimpleNamespace(swarm="perf_q", role="caller", instance="caller-a", run_id="run-7"),
        stats=stats,
        output=output,
        sink=None,
        state=SimpleNamespace(enabled=True, generation=3),
        engine=SimpleNamespace(budget_exceeded=Counter()),
        guard=guard or SimpleNamespace(config=None),
    )
    return cast(Worker, fake)


def _families(stats: RoleStats) -> dict[str, Any]:
    text = generate_latest(registry_for(_worker(stats))).decode()
    return {family.name: family for family in text_string_to_metric_families(text)}


def _series(family: Any, step: str) -> tuple[list[tuple[float, float]], float, float]:
    """(cumulative (le, count) pairs, sum, count) of one step's series."""
    samples = [s for s in family.samples if s.labels.get("step") == step]
    for sample in samples:
        assert {k: v for k, v in sample.labels.items() if k not in ("le", "step")} == LABELS
    buckets = [(float(s.labels["le"]), s.value) for s in samples if s.name.endswith("_bucket")]
    [total] = [s.value for s in samples if s.name.endswith("_sum")]
    [count] = [s.value for s in samples if s.name.endswith("_count")]
    return buckets, total, count


def test_latency_is_a_histogram_in_seconds_whose_buckets_count_exactly_the_faster_requests() -> None:
    rng = random.Random(11)
    values = [rng.uniform(0.0002, 3.0) for _ in range(3000)] + [200.0]  # one past the last finite edge
    stats = RoleStats()
    for value in values:
        stats.latency.record(value)
    family = _families(stats)[DURATION]
    assert family.type == "histogram"
    buckets, total, count = _series(family, "")
    les = [le for le, _ in buckets]
    assert les == sorted(les)
    assert les[-1] == float("inf")
    assert les[:3] == [0.000256, 0.000384, 0.000512]
    assert les[-2] == pytest.approx(67.108864)
    counts = [n for _, n in buckets]
    assert counts == sorted(counts), "cumulative buckets never go down"
    assert counts[-1] == count == len(values)
    micros = [int(v * 1_000_000) for v in values]
    for le, n in buckets[:-1]:
        assert n == sum(1 for m in micros if m < round(le * 1_000_000)), f"le={le}"
    assert total == pytest.approx(sum(micros) / 1_000_000)


def test_an_http_sequence_exports_one_series_per_step_that_add_up_to_the_role() -> None:
    stats = RoleStats()
    for step, value in [("login", 0.01), ("login", 0.02), ("pay", 0.3)]:
        stats.latency.record(value)
        stats.step(step).record(value)
    family = _families(stats)[DURATION]
    steps = {s.labels["step"] for s in family.samples}
    assert steps == {"login", "pay"}, "no role-wide series besides: sum without (step) is the role"
    assert _series(family, "login")[2] + _series(family, "pay")[2] == stats.latency.count


def test_counters_end_in_total_and_the_old_quantile_gauge_is_gone() -> None:
    stats = RoleStats(processed=5, errors=1)
    stats.latency.record(0.01)
    families = _families(stats)
    counters = [f for f in families.values() if f.type == "counter"]
    assert counters
    for family in counters:
        assert all(s.name.endswith(("_total", "_created")) for s in family.samples), family.name
    assert "hivekeeper_latency_ms" not in families
    text = generate_latest(registry_for(_worker(stats))).decode()
    assert 'hivekeeper_items_processed_total{instance="caller-a",role="caller",run="run-7",swarm="perf_q"} 5.0' in text


def test_the_edges_are_exact_bucket_boundaries() -> None:
    from hivekeeper.protocol.latency import bucket_upper_us

    for le, last in EDGES:
        assert bucket_upper_us(last) + 1 == round(float(le) * 1_000_000)


def test_a_buffer_guard_exports_its_trips_state_and_last_depth_labelled_with_its_queue() -> None:
    state = GuardState()
    config = BufferGuard(queue="calls", high=10, low=2)
    state.observe(12, config, at="now")
    guard = SimpleNamespace(config=config, state=state)
    text = generate_latest(registry_for(_worker(RoleStats(), guard))).decode()
    series = 'instance="caller-a",queue="calls",role="caller",run="run-7",swarm="perf_q"'
    assert f"hivekeeper_buffer_guard_trips_total{{{series}}} 1.0" in text
    assert f"hivekeeper_buffer_guard_throttled{{{series}}} 1.0" in text
    assert f"hivekeeper_buffer_guard_queue_depth{{{series}}} 12.0" in text
    assert "buffer_guard" not in generate_latest(registry_for(_worker(RoleStats()))).decode()


def test_errors_by_kind_business_codes_and_dimension_values_are_counters_with_bounded_labels() -> None:
    stats = RoleStats()
    stats.error_kinds.update({"timeout": 2, "business": 3})
    for n in range(MAX_KEYS + 10):
        stats.results.record(RuleValues(code=f"c{n}", dimensions=(("channel", "web"),)))
    families = _families(stats)
    kinds = {s.labels["kind"]: s.value for s in families["hivekeeper_request_errors"].samples}
    assert kinds == {"timeout": 2, "business": 3}
    codes = {s.labels["code"]: s.value for s in families["hivekeeper_business_codes"].samples}
    assert len(codes) == MAX_KEYS + 1
    assert codes[OTHER] == 10
    [dimension] = families["hivekeeper_result_dimensions"].samples
    assert (dimension.name, dimension.labels["dimension"], dimension.labels["value"], dimension.value) == (
        "hivekeeper_result_dimensions_total",
        "channel",
        "web",
        MAX_KEYS + 10,
    )
    assert {k: v for k, v in dimension.labels.items() if k not in ("dimension", "value")} == LABELS


def test_failed_calls_are_counted_by_kind_and_tcp_calls_by_behaviour_with_their_connect_time() -> None:
    stats = RoleStats(errors=3)
    stats.error_kinds.update({"tcp-timeout": 2, "timeout": 1})
    stats.tcp_replies.update({"LENGTH_PREFIX_2B": 7})
    stats.tcp_connect.record(0.002)
    families = _families(stats)
    errors = {
        s.labels["kind"]: s.value for s in families["hivekeeper_request_errors"].samples if s.name.endswith("_total")
    }
    assert errors == {"tcp-timeout": 2.0, "timeout": 1.0}
    [replies] = [s for s in families["hivekeeper_tcp_replies"].samples if s.name.endswith("_total")]
    assert (replies.labels["behavior"], replies.value) == ("LENGTH_PREFIX_2B", 7.0)
    connects = families["hivekeeper_tcp_connect_duration_seconds"]
    [count] = [s.value for s in connects.samples if s.name.endswith("_count")]
    assert count == 1.0
