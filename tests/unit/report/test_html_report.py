"""The HTML report: one well-formed, self-contained page whose plots carry the run's numbers, with the stages and
thresholds drawn and listed when given."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from typing import Any

from hivekeeper.report import html, svg
from hivekeeper.report.model import Report, RunMarks, StageSpan, ThresholdResult, from_run_summary
from hivekeeper.report.timeseries import Point, TimeSeries

VOID = {"meta", "br", "hr", "img", "input", "link", "col", "area", "base", "source", "wbr"}
SVG_NS = "{http://www.w3.org/2000/svg}"


class _Balance(HTMLParser):
    """Fails on a closing tag that does not close the innermost open element."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.errors: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        pass  # <path/>, <line/>: closed at once

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:]} at {self.getpos()}")
        else:
            self.stack.pop()


def _summary() -> dict[str, Any]:
    series = TimeSeries(interval=1.0)
    for second, (done, p95) in enumerate([(200, 12.5), (210, 14.0), (190, None)], start=1):
        series.append("feeder", Point(t=float(second), seconds=1.0, processed=done))
        series.append(
            "<caller>",
            Point(
                t=float(second),
                seconds=1.0,
                processed=done,
                errors=second,
                errors_by_kind={"timeout": second},
                latency_count=done if p95 else 0,
                p50=p95 and p95 / 2,
                p95=p95,
                p99=p95 and p95 * 2,
                queue_depth=second * 3,
            ),
        )
    return {
        "swarm": "demo",
        "startedAt": 1_800_000_000.0,
        "durationSeconds": 3.0,
        "drainSeconds": 0.4,
        "roles": [
            {"name": "feeder", "role": "generator", "instances": 1, "processed": 600, "tps": 200.0},
            {
                "name": "<caller>",
                "role": "processor",
                "instances": 2,
                "processed": 600,
                "tps": 200.0,
                "errors": 6,
                "latencyMs": {"p50": 6.5, "p95": 13.0, "p99": 26.0},
                "statusCodes": {"200": 594, "503": 6},
            },
        ],
        "timeseries": series.as_json(),
    }


def _report(**marks: Any) -> str:
    return html.render(from_run_summary(_summary(), marks=lambda entry: RunMarks(**marks)))


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


def test_the_page_is_well_formed_and_every_chart_is_well_formed_svg() -> None:
    page = _report()
    assert page.startswith('<!DOCTYPE html>\n<html lang="en">')
    parser = _Balance()
    parser.feed(page)
    parser.close()
    assert parser.errors == []
    assert parser.stack == []
    assert len(_charts(page)) == 2 + 4 + 2  # overview (rate, p95); caller: rate, latency, errors, queue; feeder: 2


def test_the_page_fetches_nothing() -> None:
    page = _report()
    assert "Content-Security-Policy" in page
    assert "default-src 'none'" in page
    urls = set(re.findall(r"https?://[^\s\"'<>]+", page))
    assert urls == {"http://www.w3.org/2000/svg"}  # the SVG namespace name, never fetched
    assert "<script" not in page
    assert "<link" not in page
    assert " src=" not in page


def test_the_plots_carry_the_run_s_numbers() -> None:
    charts = _charts(_report())
    slug = "demo--caller-"
    assert _points(charts[f"{slug}-rate"], "processed/s") == [[1, 200], [2, 210], [3, 190]]
    assert _points(charts[f"{slug}-latency"], "p95") == [[1, 12.5], [2, 14.0]]  # no latency in the third: a gap
    assert _points(charts[f"{slug}-errors"], "timeout/s") == [[1, 1], [2, 2], [3, 3]]
    assert _points(charts[f"{slug}-queue"], "queue depth") == [[1, 3], [2, 6], [3, 9]]
    assert _points(charts["demo-all-rate"], "feeder") == [[1, 200], [2, 210], [3, 190]]
    assert "feeder-latency" not in " ".join(charts)


def test_every_chart_has_a_title_a_description_axes_with_units_and_a_legend() -> None:
    page = _report()
    for chart_id, chart in _charts(page).items():
        assert chart.get("role") == "img", chart_id
        title, desc = chart.find(f"{SVG_NS}title"), chart.find(f"{SVG_NS}desc")
        assert title is not None, chart_id
        assert title.text, chart_id
        assert desc is not None, chart_id
        assert "points from" in (desc.text or ""), chart_id
        texts = " ".join(t.text or "" for t in chart.iter(f"{SVG_NS}text"))
        assert "time since the run started (s)" in texts, chart_id
        assert any(unit in texts for unit in ("items/s", "milliseconds", "per second", "items")), chart_id
        assert chart.find(f".//{SVG_NS}g[@class='legend']/{SVG_NS}text") is not None, chart_id
    assert "the plotted numbers as a table" in page


def test_the_summary_table_and_the_status_codes_are_listed() -> None:
    page = _report()
    assert "&lt;caller&gt;" in page
    assert "<caller>" not in page
    assert "200: 594, 503: 6" in page
    assert ">13.00<" in page  # the caller's p95 in the summary
    assert "started 2027-01-15 08:00:00 UTC; load for 3.0 s; then drained for 0.4 s" in page


def test_stages_and_thresholds_are_drawn_on_the_plots_and_listed() -> None:
    stages = [
        StageSpan(0, 1.5, "ramp"),
        StageSpan(1.5, 3, "hold"),
        StageSpan(2, 3, "spike", role="feeder"),
        StageSpan(2, 3, "calm", role="<caller>"),
    ]
    thresholds = [
        ThresholdResult("<caller>", "p95", 13.0, 14.0, passed=False, unit="ms"),
        ThresholdResult("<caller>", "rate", 150, 200, passed=True, unit="items/s"),
        ThresholdResult("<caller>", "errorRate", 1.0, 1.0, passed=True, unit="%"),
    ]
    page = _report(stages=stages, thresholds=thresholds)
    charts = _charts(page)
    latency = charts["demo--caller--latency"]
    [failed] = [g for g in latency.iter(f"{SVG_NS}g") if g.get("class") == "limit failed"]
    assert failed.get("data-limit") == "13"
    [passed] = [g for g in charts["demo--caller--rate"].iter(f"{SVG_NS}g") if g.get("class") == "limit passed"]
    assert passed.get("data-limit") == "150"
    bands = [t.text for t in latency.iter(f"{SVG_NS}text") if t.text in {"ramp", "hold", "spike", "calm", "drain"}]
    assert bands == ["ramp", "hold", "calm", "drain"]  # two staged roles: each role's stages on its own plots
    feeder = [t.text for t in charts["demo-feeder-rate"].iter(f"{SVG_NS}text")]
    assert "spike" in feeder
    assert "calm" not in feeder
    assert 'class="verdict Failed"' in page
    assert "errorRate" in page
    assert "listed only" in page
    assert "FAILED" in page


def test_the_stages_of_the_only_staged_role_are_drawn_on_every_role_s_plots() -> None:
    charts = _charts(_report(stages=[StageSpan(0, 1, "feeder step 1"), StageSpan(1, 3, "feeder step 2")]))
    for chart in ("demo--caller--rate", "demo-feeder-rate", "demo-all-rate"):
        texts = [t.text for t in charts[chart].iter(f"{SVG_NS}text")]
        assert "feeder step 1" in texts, chart


def test_each_stage_gets_each_role_s_rates_and_highest_percentiles() -> None:
    page = _report(stages=[StageSpan(0, 2, "warm-up"), StageSpan(2, 3, "peak")])
    table = page.split("<h3>Per stage</h3>", 1)[1].split("</table>", 1)[0]
    rows = re.findall(r"<tr>(.*?)</tr>", table)
    cells = [re.findall(r"<td[^>]*>(.*?)</td>", row) for row in rows]
    assert ["warm-up", "&lt;caller&gt;", "205.0", "1.5", "0.0", "14.00", "28.00"] in cells
    assert ["peak", "feeder", "190.0", "0.0", "0.0", "-", "-"] in cells


def test_the_verdict_and_its_reason_head_the_run() -> None:
    page = _report(verdict="Failed", reason="nothing succeeded: role caller made 3 calls and none succeeded")
    assert 'class="verdict Failed"' in page
    assert "nothing succeeded: role caller made 3 calls" in page


def test_a_report_without_a_time_series_says_so() -> None:
    summary = _summary()
    del summary["timeseries"]
    page = html.render(from_run_summary(summary))
    assert "No time series was recorded" in page
    assert "<svg" not in page


def test_several_swarms_get_a_section_each() -> None:
    other = {**_summary(), "swarm": "other"}
    report = from_run_summary({"swarms": [_summary(), other]})
    assert isinstance(report, Report)
    assert [r.swarm for r in report.runs] == ["demo", "other"]
    page = html.render(report)
    assert "<h2>swarm demo</h2>" in page
    assert "<h2>swarm other</h2>" in page
    assert "other-all-rate" in page


def test_a_limit_far_above_the_data_sits_on_the_top_edge_and_leaves_the_scale_to_the_data() -> None:
    series = [svg.Series("p95", [(1.0, 2.0), (2.0, 3.0)])]
    far = ET.fromstring(
        svg.render(svg.Chart("c", "latency", "ms", series, 2.0, limits=[svg.Limit(300, "p95 <= 300", True)]))
    )
    near = ET.fromstring(
        svg.render(svg.Chart("c", "latency", "ms", series, 2.0, limits=[svg.Limit(10, "p95 <= 10", True)]))
    )
    ticks = [t.text for t in far.iter(f"{SVG_NS}text") if t.text and t.text.replace(".", "").isdigit()]
    assert "300" not in ticks  # the y axis stays at the data's scale
    [limit] = [g for g in far.iter(f"{SVG_NS}g") if (g.get("class") or "").startswith("limit")]
    assert limit.get("class") == "limit passed far"
    assert "above this scale" in "".join(limit.itertext())
    assert any(t.text == "10" for t in near.iter(f"{SVG_NS}text"))  # a near limit sets the scale: its line shows


def test_axis_steps_are_round_numbers() -> None:
    assert [svg.nice_step(span) for span in (1, 7, 230, 0.03, 0)] == [0.2, 2, 50, 0.01, 1.0]


def test_results_by_business_code_and_dimension_are_listed_per_role_and_only_when_read() -> None:
    assert "Results by business code" not in _report()
    summary = _summary()
    summary["roles"][1]["businessCodes"] = {"00": 590, "51": 4, "(other)": 6}
    summary["roles"][1]["dimensions"] = {"channel": {"web": 400, "app": 200}}
    page = html.render(from_run_summary(summary))
    assert "<h3>Results by business code and dimension</h3>" in page
    cell = r"<td[^>]*>([^<]*)</td>"
    rows = re.findall(rf"<tr><td>&lt;caller&gt;</td>{cell}{cell}{cell}</tr>", page)
    assert rows == [
        ("business code", "00", "590"),
        ("business code", "51", "4"),
        ("business code", "(other)", "6"),
        ("dimension channel", "web", "400"),
        ("dimension channel", "app", "200"),
    ]
