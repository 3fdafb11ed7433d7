"""A cluster run's recording (pure): only what the instances did during the run counts, whatever instances come,
restart or go; a point per report interval, timed by the reports; whole-run percentiles of the role and its
steps."""

from __future__ import annotations

import pytest

from hivekeeper.operator.run_series import RunRecording, latency_figures
from hivekeeper.operator.status import InstanceReport
from hivekeeper.protocol.latency import LatencyReport
from hivekeeper.worker.stats import RoleStats

START = 100.0


def stats(fast: int = 0, slow: int = 0, *, steps: dict[str, list[float]] | None = None) -> RoleStats:
    """A worker's stats: ``fast`` requests of 2 ms and ``slow`` ones of 500 ms (and step latencies in s)."""
    out = RoleStats()
    for value in [0.002] * fast + [0.5] * slow:
        out.latency.record(value)
        out.processed += 1
    for step, values in (steps or {}).items():
        for value in values:
            out.step(step).record(value)
    return out


def report(
    name: str, at: float, role_stats: RoleStats, *, errors: int = 0, codes: dict[str, int] | None = None
) -> InstanceReport:
    wire = role_stats.snapshot().get("latencyHistogram")
    return InstanceReport(
        name=name,
        enabled=True,
        config_generation=1,
        seen_at=at,
        processed=role_stats.processed,
        errors=errors,
        status_codes=codes or {},
        latency_since_start=LatencyReport.model_validate(wire) if wire else None,
    )


def recording() -> RunRecording:
    return RunRecording(run_id="r1", started_at="2026-01-01T00:00:00Z", start=START)


def test_what_an_instance_did_before_the_start_never_counts() -> None:
    rec = recording()
    rec.begin("caller", [report("a", START - 3, stats(fast=500))])
    rec.observe("caller", [report("a", START + 5, stats(fast=500, slow=20))])
    found = rec.latency("caller")
    assert found is not None
    assert found.role["p50"] == pytest.approx(500, rel=0.07), "the run's 20 requests were all slow"
    [point] = rec.series.roles["caller"]
    assert (point.processed, point.latency_count) == (20, 20)


def test_a_restarted_instance_counts_its_new_figures_whole_and_one_that_went_away_keeps_its_share() -> None:
    rec = recording()
    rec.begin("caller", [report("a", START, stats()), report("b", START, stats())])
    rec.observe("caller", [report("a", START + 5, stats(fast=100)), report("b", START + 5, stats(slow=10))])
    # a restarted (its counts went down), b's pod is gone; c is new (started during the run)
    rec.observe("caller", [report("a", START + 10, stats(fast=30)), report("c", START + 10, stats(fast=60))])
    found = rec.latency("caller")
    assert found is not None
    points = rec.series.roles["caller"]
    assert [p.processed for p in points] == [110, 90]
    assert sum(p.latency_count for p in points) == 200
    assert found.role["max"] == pytest.approx(500, rel=0.07), "b's slow requests still count"
    assert found.role["p99"] == pytest.approx(500, rel=0.07), "10 of 200 requests (5 %) were slow"
    assert found.role["p95"] == pytest.approx(2, rel=0.07), "the 190th of 200 was still a fast one"


def test_points_are_timed_by_the_reports_so_every_point_holds_whole_report_intervals() -> None:
    rec = recording()
    rec.begin("caller", [report("a", START, stats())])
    made = 0
    for second in range(2, 31, 2):  # a roll-up every 2 s, a report every 5 s
        reported = 5 * (second // 5)
        if reported:
            made = 50 * reported  # 50 items/s
        rec.observe("caller", [report("a", START + reported, stats(fast=made))] if reported else [])
    points = rec.series.roles["caller"]
    assert [p.t for p in points] == [5, 10, 15, 20, 25, 30]
    assert {p.rate(p.processed) for p in points} == {50.0}, "no beat of the 2 s tick against the 5 s report"


def test_errors_by_kind_are_the_http_answers_that_failed_during_the_run() -> None:
    rec = recording()
    rec.begin("caller", [report("a", START, stats(fast=10), codes={"200": 9, "503": 1})])
    rec.observe("caller", [report("a", START + 5, stats(fast=20), errors=4, codes={"200": 16, "503": 4})])
    [point] = rec.series.roles["caller"]
    assert point.errors_by_kind == {"http 503": 3}
    assert point.errors == 4


def test_each_step_has_its_whole_run_percentiles() -> None:
    rec = recording()
    before = stats(steps={"login": [0.01] * 50, "buy": [0.2] * 50})
    rec.begin("journey", [report("a", START, before)])
    after = stats(steps={"login": [0.01] * 50 + [0.05] * 100, "buy": [0.2] * 50 + [0.1] * 100})
    rec.observe("journey", [report("a", START + 5, after)])
    found = rec.latency("journey")
    assert found is not None
    assert found.steps["login"]["p50"] == pytest.approx(50, rel=0.07)
    assert found.steps["buy"]["max"] == pytest.approx(100, rel=0.07), "the 200 ms calls came before the run"


def test_a_report_not_yet_making_a_point_still_counts_in_the_whole_run() -> None:
    rec = recording()
    rec.begin("caller", [report("a", START, stats())])
    rec.observe("caller", [report("a", START + 2, stats(slow=5))])  # 2 s of report: no point yet
    assert "caller" not in rec.series.roles
    found = rec.latency("caller")
    assert found is not None
    assert found.role["p50"] == pytest.approx(500, rel=0.07)
    rec.close()
    [point] = rec.series.roles["caller"]
    assert (point.t, point.processed) == (2, 5)


def test_the_latency_is_unknown_without_a_baseline_or_without_histograms() -> None:
    adopted = RunRecording(run_id="r1", started_at="2026-01-01T00:00:00Z", start=START, whole=False, adopt=True)
    adopted.observe("caller", [report("a", START + 40, stats(fast=100))])
    assert adopted.latency("caller") is None
    adopted.observe("caller", [report("a", START + 45, stats(fast=150))])
    [point] = adopted.series.roles["caller"]
    assert point.processed == 50, "an adopted instance's figures before it was first heard do not count"
    silent = recording()
    silent.begin("custom", [InstanceReport(name="x", enabled=True, config_generation=1, seen_at=START)])
    assert silent.latency("custom") is None, "a custom worker that sends no histogram: the fallback judges it"


def test_latency_figures_of_an_empty_histogram_are_empty() -> None:
    assert latency_figures(stats().latency.to_wire()) == {}
    figures = latency_figures(stats(fast=3, slow=1).latency.to_wire())
    assert figures["mean"] == pytest.approx((3 * 2 + 500) / 4, rel=0.01)
    assert set(figures) == {"p50", "p90", "p95", "p99", "max", "mean"}


def test_business_codes_dimensions_and_error_kinds_count_what_the_run_added() -> None:
    rec = recording()
    before = report("a", START, stats(fast=10))
    before.business_codes.update({"00": 8, "51": 2})
    before.dimensions.update({"channel": {"web": 10}})
    before.error_kinds.update({"business": 2})
    rec.begin("caller", [before])
    after = report("a", START + 5, stats(fast=30), codes={"200": 25, "503": 5})
    after.business_codes.update({"00": 20, "51": 5})
    after.dimensions.update({"channel": {"web": 20, "app": 5}})
    after.error_kinds.update({"business": 5, "timeout": 1})
    rec.observe("caller", [after])
    [point] = rec.series.roles["caller"]
    assert point.errors_by_kind == {"business": 3, "timeout": 1, "http 503": 5}
    kinds, codes, dimensions = rec.roles["caller"].counted()
    assert codes == {"00": 12, "51": 3}
    assert dimensions == {"channel": {"web": 10, "app": 5}}
    assert kinds == {"http 503": 5, "business": 3, "timeout": 1}
