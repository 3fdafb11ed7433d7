"""The latency histogram's wire form: what a worker's status carries round-trips, merges exactly, stays
within its bounds, and anything malformed or oversized is refused."""

from __future__ import annotations

import random
from typing import Any

import orjson
import pytest
from pydantic import ValidationError

from hivekeeper.protocol.latency import (
    MAX_COUNT,
    MAX_ENTRIES,
    MAX_REPORT_BYTES,
    MAX_STEPS,
    STEP_ID_LIMIT,
    WIRE_BUCKETS,
    LatencyHistogram,
    LatencyReport,
    bucket_index,
    bucket_upper_us,
    merge,
)
from hivekeeper.worker.stats import Histogram


def _recorded(*seconds: float) -> Histogram:
    histogram = Histogram()
    for value in seconds:
        histogram.record(value)
    return histogram


def _wire(report: LatencyReport) -> dict[str, Any]:
    """What the operator reads: the report serialised the way the status envelope is, and parsed back."""
    parsed: dict[str, Any] = orjson.loads(orjson.dumps(report.to_json()))
    return parsed


def test_every_value_lies_in_its_bucket_within_6_percent() -> None:
    for micros in [0, 1, 15, 16, 17, 31, 32, 1000, 123_456, 2**40 + 12345]:
        index = bucket_index(micros)
        assert micros <= bucket_upper_us(index)
        assert index == 0 or bucket_upper_us(index - 1) < micros
        assert bucket_upper_us(index) - micros <= micros * 0.0625


def test_a_worker_histogram_round_trips_through_json_with_its_percentiles() -> None:
    rng = random.Random(3)
    local = _recorded(*(rng.uniform(0.001, 0.2) for _ in range(5000)))
    report = LatencyReport.build(local.to_wire(), [])
    back = LatencyReport.model_validate(_wire(report))
    assert back == report
    assert back.role.count == local.count == 5000
    assert (back.role.sumUs, back.role.maxUs) == (local.total_us, local.max_us)
    for pct in (50, 95, 99, 100):
        assert back.role.percentile_ms(pct) == local.percentile(pct)
    assert all(isinstance(key, str) for key in _wire(report)["role"]["counts"]), "JSON object keys"


def test_merged_histograms_give_the_percentile_of_all_requests_not_of_the_worst_instance() -> None:
    fast = _recorded(*([0.002] * 990))
    slow = _recorded(*([0.5] * 10))
    merged = merge([fast.to_wire(), slow.to_wire()])
    everything = _recorded(*([0.002] * 990 + [0.5] * 10))
    assert merged == everything.to_wire()
    assert merged.percentile_ms(95) == pytest.approx(2.0, rel=0.07)
    assert slow.percentile(95) == pytest.approx(500, rel=0.07), "the old roll-up would have said 500 ms"
    assert merged.percentile_ms(99.5) == pytest.approx(500, rel=0.07)


def test_the_window_between_two_reports_is_their_difference_and_a_restart_is_no_continuation() -> None:
    earlier = _recorded(0.001, 0.002).to_wire()
    later = _recorded(0.001, 0.002, 0.3, 0.3).to_wire()
    window = later.since(earlier)
    assert window is not None
    assert (window.count, window.percentile_ms(50)) == (2, pytest.approx(300, rel=0.07))
    assert _recorded(0.3).to_wire().since(earlier) is None, "a bucket went down: the worker restarted"


def test_values_beyond_the_wire_range_fold_into_its_last_bucket() -> None:
    histogram = _recorded(0.001, 50_000.0)  # ~14 hours: past bucket 511
    wire = histogram.to_wire()
    assert max(wire.counts) == WIRE_BUCKETS - 1
    assert wire.count == 2
    assert wire.percentile_ms(100) == histogram.max_us / 1000.0, "the maximum is kept exactly"


def test_a_report_keeps_steps_in_order_within_the_bounds_and_counts_the_rest() -> None:
    wide = LatencyHistogram.model_construct(counts=dict.fromkeys(range(400), 1), sumUs=1, maxUs=1)
    steps = [(f"step{i}", wide) for i in range(10)] + [("x" * (STEP_ID_LIMIT + 1), wide)]
    report = LatencyReport.build(wide, steps)
    entries = len(report.role.counts) + sum(len(h.counts) for h in report.steps.values())
    assert entries <= MAX_ENTRIES
    assert list(report.steps) == ["step0", "step1", "step2", "step3"]
    assert report.stepsOmitted == 7
    LatencyReport.model_validate(_wire(report))  # what the worker sends, the operator accepts


def test_the_worst_case_report_stays_within_its_byte_bound() -> None:
    """Every bucket as wide as JSON allows: the bound stated in protocol/latency.py holds."""
    full = LatencyHistogram.model_construct(
        counts=dict.fromkeys(range(WIRE_BUCKETS), MAX_COUNT), sumUs=2**63 - 1, maxUs=2**63 - 1
    )
    empty = LatencyHistogram.model_construct(counts={}, sumUs=2**63 - 1, maxUs=2**63 - 1)
    steps = [(f"{i:02d}" + "s" * (STEP_ID_LIMIT - 2), full if i < 3 else empty) for i in range(MAX_STEPS + 5)]
    report = LatencyReport.build(full, steps)
    assert len(report.steps) == MAX_STEPS
    assert len(orjson.dumps(report.to_json())) <= MAX_REPORT_BYTES


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"scheme": 2}, "scheme"),
        ({"role": {"counts": {"512": 1}}}, "bucket index '512'"),
        ({"role": {"counts": {"-1": 1}}}, "bucket index"),
        ({"role": {"counts": {"1e2": 1}}}, "bucket index"),
        ({"role": {"counts": {"3": 0}}}, "count 0"),
        ({"role": {"counts": {"3": -4}}}, "count -4"),
        ({"role": {"counts": {"3": 1.5}}}, "count 1.5"),
        ({"role": {"counts": {"3": True}}}, "count True"),
        ({"role": {"counts": {"3": "7"}}}, "count '7'"),
        ({"role": {"counts": {"3": MAX_COUNT + 1}}}, "count"),
        ({"role": {"counts": [1, 2]}}, "must be an object"),
        ({"role": {"counts": {str(i): 1 for i in range(WIRE_BUCKETS)} | {"0": 1}, "sumUs": -1}}, "microseconds"),
        ({"role": {"maxUs": 2**64}}, "microseconds"),
        ({"role": {"counts": {}, "extra": 1}}, "extra"),
        ({"steps": {"": {}}}, "steps"),
        ({"steps": {"s" * (STEP_ID_LIMIT + 1): {}}}, "steps"),
        ({"steps": {f"s{i}": {} for i in range(MAX_STEPS + 1)}}, "steps"),
        (
            {"steps": {f"s{i}": {"counts": {str(b): 1 for b in range(WIRE_BUCKETS)}} for i in range(4)}},
            "buckets in all; at most 2048",
        ),
        ({"role": {"counts": {str(b): 1 for b in range(WIRE_BUCKETS)} | {"x": 1}}}, "at most 512"),
    ],
)
def test_a_malformed_or_oversized_report_is_refused_with_what_is_wrong(change: dict[str, Any], problem: str) -> None:
    body: dict[str, Any] = {"scheme": 1, "role": {"counts": {"3": 1}, "sumUs": 3, "maxUs": 3}, "steps": {}}
    body.update(change)
    with pytest.raises(ValidationError) as caught:
        LatencyReport.model_validate(body)
    assert problem in str(caught.value)


def test_the_sparse_entries_of_a_report_cannot_add_up_past_the_entry_bound_through_many_steps() -> None:
    within = {"steps": {f"s{i}": {"counts": {str(b): 1 for b in range(256)}} for i in range(MAX_ENTRIES // 256)}}
    LatencyReport.model_validate({"scheme": 1, "role": {}, **within})
    with pytest.raises(ValidationError, match="buckets in all"):
        LatencyReport.model_validate({"scheme": 1, "role": {"counts": {"0": 1}}, **within})
