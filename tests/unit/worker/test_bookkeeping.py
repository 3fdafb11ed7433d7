"""Counters, histogram, alert throttling and topic routing: the cheap parts of the hot path."""

from __future__ import annotations

import asyncio

import pytest

from hivekeeper.local.progress import RoleRow, table
from hivekeeper.worker.alerts import AlertThrottle
from hivekeeper.worker.stats import Histogram, RoleStats
from hivekeeper.worker.transports.memory import MemoryBroker, topic_matches


@pytest.mark.parametrize("value_ms", [0.05, 0.9, 1.0, 7.3, 42.0, 999.0, 12_345.0])
def test_a_recorded_latency_is_reported_within_seven_percent(value_ms: float) -> None:
    histogram = Histogram()
    histogram.record(value_ms / 1000)
    assert histogram.percentile(50) == pytest.approx(value_ms, rel=0.07, abs=0.001)


def test_percentiles_follow_the_distribution() -> None:
    histogram = Histogram()
    for micros in range(1, 10_001):
        histogram.record(micros / 1_000_000)
    assert histogram.percentile(50) == pytest.approx(5.0, rel=0.07)
    assert histogram.percentile(99) == pytest.approx(9.9, rel=0.07)
    assert histogram.summary()["max"] == 10.0
    merged = Histogram()
    merged.merge(histogram)
    merged.merge(histogram)
    assert merged.count == 20_000
    assert merged.percentile(50) == histogram.percentile(50)


def test_a_window_holds_only_what_was_recorded_after_its_mark() -> None:
    histogram = Histogram()
    for _ in range(900):
        histogram.record(0.001)  # 1 ms
    mark = histogram.copy()
    for _ in range(100):
        histogram.record(0.040)  # 40 ms, after the mark
    window = histogram.since(mark)
    assert window.count == 100
    assert window.percentile(50) == pytest.approx(40.0, rel=0.07)
    assert window.mean_ms() == pytest.approx(40.0, rel=0.01)
    assert window.summary()["max"] == pytest.approx(40.0, rel=0.07)
    assert histogram.percentile(50) == pytest.approx(1.0, rel=0.07), "the whole run is still mostly fast"
    assert mark.count == 900, "the mark is a copy, not a view"
    assert histogram.since(histogram.copy()).count == 0


def test_truncated_responses_appear_in_the_status_once_there_are_any() -> None:
    stats = RoleStats()
    assert "responsesTruncated" not in stats.snapshot()
    stats.truncated += 3
    assert stats.snapshot()["responsesTruncated"] == 3


def test_a_status_snapshot_reports_the_window_and_the_run_separately() -> None:
    stats = RoleStats()
    stats.latency.record(0.002)
    mark = stats.latency.copy()
    assert "latencyMs" not in stats.snapshot(recent=stats.latency.since(mark)), "nothing completed in the window"
    stats.latency.record(0.030)
    snapshot = stats.snapshot(recent=stats.latency.since(mark))
    recent, since_start = snapshot["latencyMs"], snapshot["latencyMsSinceStart"]
    assert isinstance(recent, dict)
    assert isinstance(since_start, dict)
    assert recent["p50"] == pytest.approx(30.0, rel=0.07)
    assert since_start["p50"] == pytest.approx(2.0, rel=0.07)


def test_the_first_alert_goes_out_and_repeats_are_folded_with_a_count() -> None:
    throttle = AlertThrottle(window=5.0)
    assert throttle.offer(0.0, "http.timeout", "t1", {}) is not None
    for n in range(99):
        assert throttle.offer(0.1 + n / 100, "http.timeout", f"t{n}", {}) is None
    assert throttle.offer(0.5, "http.connect", "c", {}) is not None, "codes are throttled separately"
    assert throttle.flush(1.0) == []
    [folded] = throttle.flush(5.0)
    assert folded.context["occurrences"] == 99


@pytest.mark.parametrize(
    ("binding", "key", "expected"),
    [
        ("signal.*.s.r.i", "signal.config-update.s.r.i", True),
        ("signal.*.s.r.ALL", "signal.config-update.s.r.i", False),
        ("event.*.*.s.#", "event.metric.status-full.s.r.i", True),
        ("event.*.*.s.#", "event.metric.status-full.other.r.i", False),
        ("#", "anything.at.all", True),
    ],
)
def test_topic_bindings_match_like_amqp(binding: str, key: str, expected: bool) -> None:
    assert topic_matches(binding, key) is expected


async def test_a_full_memory_queue_makes_the_publisher_wait() -> None:
    broker = MemoryBroker(queue_limit=2)
    broker.declare_queue("q")
    broker.bind("x", "q", "q")
    await broker.publish("x", "q", b"1")
    await broker.publish("x", "q", b"2")
    blocked = asyncio.create_task(broker.publish("x", "q", b"3"))
    await asyncio.sleep(0.05)
    assert not blocked.done()
    await broker.queues["q"].queue.get()
    assert await asyncio.wait_for(blocked, 1) == 1


def test_the_progress_table_has_one_line_per_role() -> None:
    rows = [
        RoleRow(
            name="caller", role="processor", instances=2, processed=1234, tps=99.5, p50=1.5, p95=3.0, p99=9.25, depth=7
        )
    ]
    lines = table(rows).splitlines()
    assert len(lines) == 3
    assert lines[0].split()[:3] == ["role", "kind", "inst"]
    assert lines[2].split() == ["caller", "processor", "2", "1,234", "99.5", "0", "0", "0", "1.50", "3.00", "9.25", "7"]


def test_the_run_summary_says_how_long_the_drain_took_when_it_took_time() -> None:
    from hivekeeper.local.progress import summary

    rows = [RoleRow(name="gate", role="moderator", instances=1)]
    assert summary("waves", 4.0, rows).splitlines()[0] == "swarm waves: ran 4.0s"
    assert summary("waves", 4.0, rows, drained=4.2).splitlines()[0] == (
        "swarm waves: ran 4.0s, then drained for 4.2s (producers off; consumers' counts and rates include the drain)"
    )


def test_the_run_summary_lists_business_codes_and_dimensions_and_the_json_carries_them() -> None:
    from hivekeeper.local.progress import summary

    row = RoleRow(name="caller", role="processor", instances=1, errors=4, error_kinds={"business": 4})
    row.business_codes = {"00": 96, "51": 4}
    row.dimensions = {"channel": {"web": 60, "app": 40}}
    lines = summary("payments", 2.0, [row]).splitlines()
    assert "caller errors by kind: business: 4" in lines
    assert "caller business codes: 00: 96, 51: 4" in lines
    assert "caller by channel: web: 60, app: 40" in lines
    data = row.as_json()
    assert (data["businessCodes"], data["dimensions"]) == ({"00": 96, "51": 4}, {"channel": {"web": 60, "app": 40}})
