"""``hivekeeper run --report``: a real headless Chromium (Debian package ``chromium``) opens the report of a real
run and draws every plot from the run's numbers, without a single network request.

Three looks at one report: the laid-out DOM (a copy with a measuring script: path lengths and the screen position
of every point), a screenshot (the colour under each point is its series' colour), and Chromium's net log (no
request started by the page). Chromium itself phones home (updates, accounts); those requests carry no page
initiator and are resolved to nowhere (``--host-resolver-rules``), so they never leave the machine.
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import pngread

pytestmark = pytest.mark.integration

HOW_TO_INSTALL = (
    "chromium is not installed (Debian package `chromium`, /usr/bin/chromium): run `make bench-install` "
    "(or `PYTHONPATH=tests/support python -m testbench install tools`)"
)
WIDTH = 900
QUICKSTART = Path(__file__).resolve().parents[2] / "examples" / "quickstart.yaml"
MEASURE = """
<script>
const charts = [];
for (const svg of document.querySelectorAll("svg.chart")) {
  for (const g of svg.querySelectorAll("g.series")) {
    const path = g.querySelector("path");
    const box = path.getBoundingClientRect();
    const circles = [...g.querySelectorAll("circle")].map((c) => {
      const b = c.getBoundingClientRect();
      return [b.left + b.width / 2 + scrollX, b.top + b.height / 2 + scrollY];
    });
    charts.push({chart: svg.id, series: g.dataset.series, length: path.getTotalLength(),
                 box: [box.left + scrollX, box.top + scrollY, box.right + scrollX, box.bottom + scrollY],
                 color: path.getAttribute("stroke"), points: JSON.parse(path.dataset.points), circles});
  }
}
const marks = [];
for (const svg of document.querySelectorAll("svg.chart")) {
  for (const g of svg.querySelectorAll("g.band, g.limit")) {
    const box = g.querySelector("rect, line").getBoundingClientRect();
    marks.push({chart: svg.id, kind: g.getAttribute("class"), text: g.querySelector("text").textContent,
                limit: g.dataset.limit, box: [box.left, box.top + scrollY, box.right, box.bottom + scrollY]});
  }
}
const pre = document.createElement("pre");
pre.id = "measured";
pre.textContent = JSON.stringify({charts, marks, height: document.documentElement.scrollHeight});
document.body.appendChild(pre);
</script>
"""


def _chromium() -> str:
    path = shutil.which("chromium") or "/usr/bin/chromium"
    if not os.access(path, os.X_OK):
        pytest.fail(HOW_TO_INSTALL, pytrace=False)
    return path


@dataclass
class Opened:
    stdout: str
    requests: list[tuple[str, str]]
    """(initiator, url) of every request the net log shows started."""


def _open(page: Path, work: Path, *extra: str, height: int = 1200) -> Opened:
    """Load ``page`` in a fresh headless Chromium (own profile) with the given action (``--dump-dom``,
    ``--screenshot=...``); return its output and the requests its net log shows."""
    profile, net_log = work / f"profile-{page.stem}", work / f"net-{page.stem}-{len(extra)}.json"
    shutil.rmtree(profile, ignore_errors=True)
    command = [
        _chromium(),
        "--headless",
        "--disable-gpu",
        "--hide-scrollbars",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
        "--host-resolver-rules=MAP * ~NOTFOUND",  # nothing resolves: an attempt is logged, never sent out
        f"--log-net-log={net_log}",
        "--net-log-capture-mode=Everything",
        f"--window-size={WIDTH},{height}",
        *(["--no-sandbox"] if os.geteuid() == 0 else []),  # Chromium's sandbox refuses to run as root
        *extra,
        page.as_uri(),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, f"chromium exited {done.returncode}: {done.stderr[-2000:]}"
    return Opened(done.stdout, _requests(net_log))


def _requests(net_log: Path) -> list[tuple[str, str]]:
    log = json.loads(net_log.read_text())
    start = log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
    return [
        (str(e["params"].get("initiator")), str(e["params"]["url"]))
        for e in log["events"]
        if e["type"] == start and "url" in e.get("params", {})
    ]


def _page_requests(opened: Opened) -> list[str]:
    """Requests the page started (the browser's own say ``not an origin``), other than the file itself."""
    return [
        url
        for initiator, url in opened.requests
        if initiator != "not an origin" and not url.startswith(("file:", "data:", "about:", "chrome"))
    ]


STAGED = """
  run:
    duration: 4s
    stages:
      - role: feeder
        startRate: 100
        steps: [{duration: 2s, target: 100}, {duration: 2s, target: 300}]
    thresholds:
      - {role: caller, metric: p95, max: 300}
      - {role: caller, metric: errorRate, max: 0.01}
"""


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """A 4-second staged run of the quickstart swarm (hold 100/s, ramp to 300/s; two thresholds) against the
    demo SUT, with its report and JSON summary."""
    _chromium()  # fail first, with the install hint, before spending the run
    work = tmp_path_factory.mktemp("report")
    manifest, report, summary = work / "staged.yaml", work / "report.html", work / "run.json"
    manifest.write_text(QUICKSTART.read_text().replace("spec:\n", "spec:\n" + STAGED.lstrip("\n"), 1))
    done = subprocess.run(
        [
            *(sys.executable, "-m", "hivekeeper.cli", "run", str(manifest), "--demo-sut", "--interval", "5"),
            *("--json", str(summary), "--report", str(report)),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr  # passed: 0
    assert f"report written to {report}" in done.stdout
    return report, json.loads(summary.read_text())


def _measure(report: Path) -> tuple[dict[str, Any], Opened]:
    """The report's layout as Chromium computed it: a copy without the CSP (which would block the script),
    with the measuring script at the end of the body (after everything, so nothing above it moves)."""
    page = report.read_text()
    copy = report.with_name("measured.html")
    copy.write_text(
        re.sub(r'<meta http-equiv="Content-Security-Policy"[^>]*>', "", page).replace("</body>", MEASURE + "</body>")
    )
    opened = _open(copy, report.parent, "--dump-dom")
    found = re.search(r'<pre id="measured">(.*?)</pre>', opened.stdout, flags=re.DOTALL)
    assert found, "the measuring script did not run"
    return json.loads(html.unescape(found.group(1))), opened


def test_every_plot_is_laid_out_from_the_run_s_numbers(run: tuple[Path, dict[str, Any]]) -> None:
    report, summary = run
    measured, _ = _measure(report)
    charts = {(c["chart"], c["series"]): c for c in measured["charts"]}
    series = {r["role"]: r["points"] for r in summary["timeseries"]["roles"]}
    assert set(series) == {"feeder", "builder", "caller", "stats"}
    for role, points in series.items():
        drawn = charts[(f"quickstart-{role}-rate", "processed/s")]
        assert [t for t, _ in drawn["points"]] == [p["t"] for p in points], role
        for (_, value), point in zip(drawn["points"], points, strict=True):
            assert value == pytest.approx(point["processedPerSec"], rel=1e-3, abs=0.01), role
        assert (
            sum(p["processed"] for p in points) == next(r for r in summary["roles"] if r["name"] == role)["processed"]
        )
    caller_p95 = charts[("quickstart-caller-latency", "p95")]
    assert [v for _, v in caller_p95["points"]] == [p["latencyMs"]["p95"] for p in series["caller"] if p["latencyMs"]]
    scales: dict[str, float] = {}  # the largest value or limit each chart's y axis has to hold
    for (chart_id, _), chart in charts.items():
        scales[chart_id] = max([scales.get(chart_id, 1e-9)] + [v for _, v in chart["points"]])
    for mark in measured["marks"]:
        if mark.get("limit") is not None:
            scales[mark["chart"]] = max(scales.get(mark["chart"], 1e-9), float(mark["limit"]))
    for key, chart in charts.items():
        assert len(chart["circles"]) == len(chart["points"]), key
        if len(chart["points"]) >= 2:
            assert chart["length"] > 0, key
            assert chart["box"][2] > chart["box"][0], key
        xs = [x for x, _ in chart["circles"]]
        assert xs == sorted(xs), key  # later points further right
        assert len(set(xs)) == len(xs), key
        for (_, a), (_, b), (_, ya), (_, yb) in zip(
            chart["points"], chart["points"][1:], chart["circles"], chart["circles"][1:], strict=False
        ):
            if abs(a - b) > 0.02 * scales[key[0]]:  # apart by more than a few pixels on that chart's axis
                assert (ya > yb) == (a < b), f"{key}: {a} drawn at y {ya}, {b} at y {yb}"  # higher value, higher up


def test_the_stages_and_the_threshold_are_drawn_where_the_run_s_numbers_put_them(
    run: tuple[Path, dict[str, Any]],
) -> None:
    report, summary = run
    measured, _ = _measure(report)
    rate = [m for m in measured["marks"] if m["chart"] == "quickstart-caller-rate"]
    bands = [m for m in rate if m["kind"].startswith("band stage")]
    assert [m["text"].split(":")[0] for m in bands] == ["feeder step 1", "feeder step 2"]
    (_, _, first_right, _), (second_left, _, second_right, _) = bands[0]["box"], bands[1]["box"]
    assert abs(first_right - second_left) < 1  # the ramp starts where the hold ends, at 2 s
    assert second_right - second_left == pytest.approx(first_right - bands[0]["box"][0], abs=1)  # both 2 s wide
    [limit] = [m for m in measured["marks"] if m["chart"] == "quickstart-caller-latency" and "limit" in m["kind"]]
    assert limit["kind"] in {"limit passed", "limit passed far"}  # far: 300 ms over ~1 ms latencies, on the top edge
    assert limit["limit"] == "300"
    assert "caller p95 <= 300" in limit["text"]
    [p95] = [c for c in measured["charts"] if c["chart"] == "quickstart-caller-latency" and c["series"] == "p95"]
    assert all(y > limit["box"][1] for _, y in p95["circles"])  # every interval's p95 drawn below the 300 ms line
    if limit["kind"].endswith("far"):
        assert "limit above this scale" in limit["text"]
    assert summary["verdict"]["result"] == "Passed"
    page = report.read_text()
    assert "<td>caller</td><td>errorRate</td>" in page  # a ratio threshold: listed
    assert "<td>listed only</td>" in page
    assert "<h3>Per stage</h3>" in page


def test_the_screenshot_shows_each_point_in_its_series_colour(run: tuple[Path, dict[str, Any]]) -> None:
    report, _ = run
    measured, _ = _measure(report)
    # The overview's rate chart: the last series is drawn on top of the others, so its points are visible.
    overview = [c for c in measured["charts"] if c["chart"] == "quickstart-all-rate"]
    top = overview[-1]
    height = int(max(y for _, y in top["circles"])) + 40
    shot = report.parent / "report.png"
    opened = _open(report, report.parent, f"--screenshot={shot}", height=height)
    assert not _page_requests(opened)
    image = pngread.read(shot)
    color = tuple(int(top["color"][i : i + 2], 16) for i in (1, 3, 5))
    assert len(top["circles"]) >= 3
    for x, y in top["circles"]:
        near = image.count(color, (int(x) - 1, int(y) - 1, int(x) + 2, int(y) + 2), tolerance=12)
        assert near >= 3, f"no {top['color']} pixel painted at the point ({x:.0f}, {y:.0f}) of {top['series']}"
    left, upper, right, lower = (int(v) for v in top["box"])
    assert image.count(color, (left, upper - 2, right, lower + 2), tolerance=12) > 100  # its line, not only dots


def test_opening_the_report_makes_no_network_request(run: tuple[Path, dict[str, Any]]) -> None:
    report, _ = run
    opened = _open(report, report.parent, "--dump-dom")
    assert "<svg" in opened.stdout
    assert _page_requests(opened) == []
    _, measured = _measure(report)  # even without its Content-Security-Policy the page fetches nothing
    assert _page_requests(measured) == []


def test_the_network_check_sees_a_page_that_fetches(tmp_path: Path) -> None:
    page = tmp_path / "fetches.html"
    page.write_text('<!DOCTYPE html><html><body><img src="http://127.0.0.1:9/pixel.png" alt=""></body></html>')
    assert _page_requests(_open(page, tmp_path, "--dump-dom")) == ["http://127.0.0.1:9/pixel.png"]
