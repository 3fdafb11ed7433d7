"""The time series model: points as counts over an interval, bounded by pairwise merging, JSON both ways."""

from __future__ import annotations

import orjson

from hivekeeper.report.timeseries import MAX_POINTS, Point, TimeSeries, interval_for, within


def _point(t: float, processed: int, *, p95: float | None = None, depth: int | None = None, **kinds: int) -> Point:
    return Point(
        t=t,
        seconds=1.0,
        processed=processed,
        errors=sum(kinds.values()),
        errors_by_kind=dict(kinds),
        latency_count=processed if p95 is not None else 0,
        p50=None if p95 is None else p95 / 2,
        p95=p95,
        p99=None if p95 is None else p95 * 2,
        queue_depth=depth,
    )


def test_a_run_under_a_minute_gets_a_point_a_second_and_longer_or_open_runs_one_every_five() -> None:
    assert interval_for(3.0) == 1.0
    assert interval_for(59.9) == 1.0
    assert interval_for(60.0) == 5.0
    assert interval_for(None) == 5.0


def test_rates_are_counts_over_the_interval_length() -> None:
    point = Point(t=10.0, seconds=2.5, processed=50, errors=5, dropped=1, errors_by_kind={"timeout": 5})
    data = point.as_json()
    assert (data["processedPerSec"], data["errorsPerSec"], data["droppedPerSec"]) == (20.0, 2.0, 0.4)
    assert data["errorsByKindPerSec"] == {"timeout": 2.0}
    assert point.start == 7.5


def test_merging_two_points_adds_counts_and_keeps_the_higher_percentiles_and_depth() -> None:
    merged = _point(1, 10, p95=5.0, depth=3, timeout=1).merged(_point(2, 30, p95=2.0, depth=7, connect=2))
    assert (merged.t, merged.seconds, merged.processed, merged.errors) == (2, 2.0, 40, 3)
    assert merged.errors_by_kind == {"timeout": 1, "connect": 2}
    assert (merged.p50, merged.p95, merged.p99, merged.queue_depth) == (2.5, 5.0, 10.0, 7)
    assert merged.rate(merged.processed) == 20.0


def test_a_point_without_latencies_merged_with_one_with_keeps_the_latencies() -> None:
    merged = _point(1, 0).merged(_point(2, 10, p95=4.0))
    assert merged.p95 == 4.0
    assert _point(1, 0).merged(_point(2, 0)).p95 is None


def test_reaching_the_cap_halves_every_role_and_doubles_the_interval() -> None:
    series = TimeSeries(interval=1.0, max_points=8)
    for second in range(1, 8):
        series.append("caller", _point(second, 10))
        series.append("stats", _point(second, 10))
    assert len(series.roles["caller"]) == 7
    assert series.interval == 1.0
    series.append("caller", _point(8, 10))
    assert series.interval == 2.0
    assert series.downsampled == 1
    assert [p.t for p in series.roles["caller"]] == [2, 4, 6, 8]
    assert [p.t for p in series.roles["stats"]] == [2, 4, 6, 7]  # 7 points: the odd last one stays as it was
    assert sum(p.processed for p in series.roles["caller"]) == 80


def test_a_long_run_stays_within_the_cap_and_keeps_every_count() -> None:
    series = TimeSeries(interval=5.0)
    for index in range(1, 10_001):
        series.append("caller", Point(t=index * 5.0, seconds=5.0, processed=3))
    points = series.roles["caller"]
    assert len(points) < MAX_POINTS
    assert sum(p.processed for p in points) == 30_000
    assert series.interval == 5.0 * 2**series.downsampled
    assert points[-1].t == 50_000.0


def test_the_json_form_reads_back_to_the_same_series() -> None:
    series = TimeSeries(interval=1.0, max_points=100)
    series.append("caller", _point(1, 10, p95=3.5, depth=2, timeout=1))
    series.append("feeder", _point(1, 10))
    text = orjson.dumps(series.as_json())
    again = TimeSeries.from_json(orjson.loads(text))
    assert again == series
    assert orjson.loads(text)["roles"][0]["points"][0]["latencyMs"] == {"p50": 1.75, "p95": 3.5, "p99": 7.0}


def test_a_stage_s_figures_merge_the_points_whose_interval_falls_in_it() -> None:
    points = [_point(1, 10, p95=2.0), _point(2, 20, p95=9.0), _point(3, 30, p95=4.0), _point(4, 40, p95=1.0)]
    stage = within(points, 1.0, 3.0)  # intervals (1, 2] and (2, 3]: middles 1.5 and 2.5
    assert stage is not None
    assert (stage.processed, stage.seconds, stage.p95) == (50, 2.0, 9.0)
    assert stage.rate(stage.processed) == 25.0
    assert within(points, 10.0, 20.0) is None
