"""A cluster run's stored record renders as the report a local run gets: the roles, the verdict, the thresholds,
the stages and plots that carry the record's points; a running run without a verdict; a record that is too large,
not JSON, of another format or damaged is refused naming the ConfigMap."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from typing import Any

import pytest

from hivekeeper.report import html
from hivekeeper.report.cluster_run import MAX_READ_BYTES, BadRunDocument, parse_document, to_report, unix_time
from hivekeeper.report.run_document import MAX_DOCUMENT_BYTES, RunDocument
from hivekeeper.report.timeseries import Point, TimeSeries

SVG_NS = "{http://www.w3.org/2000/svg}"
WHERE = "ConfigMap perf/staged-run-r2 (run r2 of swarm perf/staged-run)"


def _series() -> dict[str, Any]:
    series = TimeSeries(interval=5.0)
    for index, (done, p95) in enumerate([(500, 40.0), (1000, 380.0), (1500, 120.0)], start=1):
        series.append("feeder", Point(t=5.0 * index, seconds=5.0, processed=done))
        series.append(
            "caller",
            Point(
                t=5.0 * index,
                seconds=5.0,
                processed=done,
                errors=index,
                errors_by_kind={"timeout": index},
                latency_count=done,
                p50=p95 / 4,
                p95=p95,
                p99=p95 * 2,
                queue_depth=index * 10,
            ),
        )
    return series.as_json()


def _record(**changes: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "format": "hivekeeper.io/run-record",
        "version": 1,
        "namespace": "perf",
        "swarm": "staged-run",
        "runId": "r2",
        "phase": "Failed",
        "startedAt": "2026-01-01T10:00:00Z",
        "finishedAt": "2026-01-01T10:00:15Z",
        "updatedAt": "2026-01-01T10:00:23Z",
        "durationSeconds": 15.0,
        "run": {
            "id": "r2",
            "duration": "15s",
            "stages": [
                {
                    "role": "feeder",
                    "startRate": 50,
                    "steps": [{"duration": "5s", "target": 200}, {"duration": "10s", "target": 300}],
                }
            ],
            "thresholds": [
                {"role": "caller", "metric": "p95", "max": 300},
                {"role": "caller", "metric": "errorRate", "max": 0.01},
            ],
        },
        "verdict": {
            "result": "Failed",
            "reason": "1 of 2 thresholds failed: caller p95 <= 300: observed 380 (failed)",
            "thresholds": [
                {"threshold": "caller p95 <= 300", "observed": 380.0, "passed": False, "message": "..."},
                {"threshold": "caller errorRate <= 0.01", "observed": 0.002, "passed": True, "message": "..."},
            ],
        },
        "roles": [
            {"name": "feeder", "role": "generator", "instances": 1, "processed": 3000, "tps": 200.0},
            {
                "name": "caller",
                "role": "processor",
                "instances": 2,
                "processed": 3000,
                "tps": 200.0,
                "errors": 6,
                "latencyMs": {"p50": 60.0, "p95": 380.0, "p99": 760.0},
                "statusCodes": {"200": 2994, "503": 6},
            },
        ],
        "timeseries": _series(),
        "baseline": {"caller": {"processed": 12}},
    }
    return record | changes


def _page(**changes: Any) -> str:
    return html.render(to_report(parse_document(json.dumps(_record(**changes)), WHERE)))


def _charts(page: str) -> dict[str, ET.Element]:
    return {
        chart.get("id", ""): chart
        for chart in (ET.fromstring(block) for block in re.findall(r"<svg .*?</svg>", page, flags=re.DOTALL))
    }


def _points(chart: ET.Element, series: str) -> list[list[float]]:
    [group] = [g for g in chart.iter(f"{SVG_NS}g") if g.get("data-series") == series]
    path = group.find(f"{SVG_NS}path")
    assert path is not None
    points: list[list[float]] = json.loads(path.get("data-points", ""))
    return points


def test_the_report_is_titled_by_run_and_swarm_and_says_it_ran_on_the_cluster() -> None:
    report = to_report(RunDocument.model_validate(_record()))
    assert report.title == "hivekeeper run r2 of perf/staged-run"
    assert report.subtitle == (
        "Ran on the cluster in namespace perf: started 2026-01-01 10:00:00 UTC, finished 2026-01-01 10:00:15 UTC "
        "(Failed)."
    )
    [run] = report.runs
    assert (run.swarm, run.duration_seconds, run.started_at) == (
        "perf/staged-run",
        15.0,
        unix_time("2026-01-01T10:00:00Z"),
    )
    page = html.render(report)
    assert "<h1>hivekeeper run r2 of perf/staged-run</h1>" in page
    assert '<p class="note subtitle">Ran on the cluster in namespace perf: started 2026-01-01 10:00:00 UTC' in page
    assert "started 2026-01-01 10:00:00 UTC; load for 15.0 s; one point every 5 s." in page


def test_the_summary_lists_each_role_with_its_figures_and_status_codes() -> None:
    summary = _page().split("<h3>Summary</h3>", 1)[1].split("<tbody>", 1)[1].split("</table>", 1)[0]
    rows = [re.findall(r"<td[^>]*>(.*?)</td>", row) for row in re.findall(r"<tr>(.*?)</tr>", summary)]
    assert rows == [
        ["feeder", "generator", "1", "3,000", "200.0", "0", "0", "-", "-", "-", "-"],
        ["caller", "processor", "2", "3,000", "200.0", "6", "0", "60.00", "380.00", "760.00", "200: 2,994, 503: 6"],
    ]


def test_the_verdict_and_each_threshold_s_row_are_shown_the_failed_one_marked() -> None:
    page = _page()
    assert '<span class="verdict Failed">Failed</span> 1 of 2 thresholds failed: caller p95 &lt;= 300' in page
    table = page.split("<h3>Thresholds</h3>", 1)[1].split("<tbody>", 1)[1].split("</table>", 1)[0]
    rows = re.findall(r"<tr( class=\"failed-row\")?>(.*?)</tr>", table)
    cells = [(bool(failed), re.findall(r"<td[^>]*>(.*?)</td>", row)) for failed, row in rows]
    assert cells == [
        (True, ["caller", "p95", "300 ms", "380 ms", "FAILED", "latency"]),
        (False, ["caller", "errorRate", "0.01", "0.002", "passed", "listed only"]),
    ]


def test_the_plots_carry_the_record_s_points_with_its_stages_and_limits() -> None:
    charts = _charts(_page())
    assert _points(charts["perf-staged-run-feeder-rate"], "processed/s") == [[5, 100], [10, 200], [15, 300]]
    latency = charts["perf-staged-run-caller-latency"]
    assert _points(latency, "p95") == [[5, 40], [10, 380], [15, 120]]
    assert _points(charts["perf-staged-run-caller-errors"], "timeout/s") == [[5, 0.2], [10, 0.4], [15, 0.6]]
    assert _points(charts["perf-staged-run-caller-queue"], "queue depth") == [[5, 10], [10, 20], [15, 30]]
    assert _points(charts["perf-staged-run-all-p95"], "caller") == [[5, 40], [10, 380], [15, 120]]
    [limit] = [g for g in latency.iter(f"{SVG_NS}g") if g.get("class") == "limit failed"]
    assert limit.get("data-limit") == "300"
    bands = [t.text for t in latency.iter(f"{SVG_NS}text") if (t.text or "").startswith("feeder step")]
    assert bands == ["feeder step 1: → 200/s", "feeder step 2: → 300/s"]  # the only staged role: on every plot


def test_a_running_run_renders_without_a_verdict_and_says_when_it_was_last_updated() -> None:
    page = _page(phase="Running", finishedAt=None, verdict=None, updatedAt="2026-01-01T10:00:10Z", durationSeconds=10.0)
    assert (
        '<p class="note subtitle">Running on the cluster in namespace perf: started 2026-01-01 10:00:00 UTC; '
        "last updated at 2026-01-01 10:00:10 UTC: no verdict yet; its 2 threshold(s) are judged when it ends.</p>"
    ) in page
    assert "verdict Failed" not in page
    assert "verdict Passed" not in page
    assert "<h3>Thresholds</h3>" not in page  # not judged yet: no row may read FAILED
    assert "<h3>Stages</h3>" in page
    assert "perf-staged-run-caller-latency" in _charts(page)


def test_a_record_without_a_time_series_still_renders_its_summary() -> None:
    page = _page(timeseries=None)
    assert "No time series was recorded for this run." in page
    assert "<svg" not in page
    assert "<h3>Thresholds</h3>" in page


def test_the_operator_s_baseline_is_read_past() -> None:
    assert "baseline" not in _page()
    assert parse_document(json.dumps(_record()), WHERE).baseline == {"caller": {"processed": 12}}


def test_a_record_larger_than_twice_the_writer_s_bound_is_refused_before_it_is_parsed() -> None:
    assert MAX_READ_BYTES == 2 * MAX_DOCUMENT_BYTES
    text = json.dumps(_record())
    padded = text[:-1] + ', "pad": "' + "x" * (MAX_READ_BYTES - len(text) - 11) + '"}'
    assert len(padded) == MAX_READ_BYTES
    assert parse_document(padded, WHERE).runId == "r2"  # up to the bound it reads (unknown keys ignored)
    with pytest.raises(BadRunDocument, match=rf"^{re.escape(WHERE)}: run.json is 1,843,201 bytes, more than"):
        parse_document("x" * (MAX_READ_BYTES + 1), WHERE)


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("{not json", "run.json is not JSON"),
        ("[1, 2]", "run.json holds a list, not a run record"),
        (
            json.dumps(_record(format="something/else")),
            "format 'something/else' version 1, not 'hivekeeper.io/run-record'",
        ),
        (json.dumps(_record(version=2)), "version 2, not 'hivekeeper.io/run-record' version 1"),
        (json.dumps(_record(phase="Exploded")), "run.json field phase: Input should be 'Running', 'Succeeded' or"),
        (json.dumps({k: v for k, v in _record().items() if k != "runId"}), "run.json field runId: Field required"),
        (json.dumps(_record(startedAt="yesterday")), "run.json field startedAt: 'yesterday' is not an RFC 3339 time"),
        (json.dumps(_record(timeseries={"roles": []})), "run.json field timeseries is malformed (KeyError"),
    ],
)
def test_a_malformed_or_foreign_record_is_refused_naming_the_configmap_and_the_problem(text: str, said: str) -> None:
    with pytest.raises(BadRunDocument) as caught:
        parse_document(text, WHERE)
    message = str(caught.value)
    assert message.startswith(WHERE + ": ")
    assert said in message
