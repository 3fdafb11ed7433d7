"""The self-contained HTML report of a run: one file, no network at view time.

The page holds its CSS and its charts (inline SVG from :mod:`hivekeeper.report.svg`); a Content-Security-Policy
forbids every fetch, so even a stray URL could not load. Per swarm: the summary table, the stages and
thresholds (when given), then per role its rate, latency, errors and queue-depth plots, each followed by its
numbers as a table (the text fallback of the plots).
"""

from __future__ import annotations

import datetime as dt
import re
from html import escape
from typing import Any

from hivekeeper.report import svg
from hivekeeper.report.model import Report, StageSpan, SwarmRun, ThresholdResult
from hivekeeper.report.timeseries import Point, within

_NUMERIC = re.compile(r"-|n/a|-?[\d.,]+( [a-z/%]+)?")
"""Cells aligned right (numbers, with a unit or not)."""
CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"

STYLE = """
body { font: 15px/1.45 system-ui, sans-serif; color: #1a1a1a; margin: 2rem auto; max-width: 820px; padding: 0 1rem; }
h1 { font-size: 1.6rem; } h2 { margin-top: 2.5rem; border-bottom: 1px solid #ccc; } h3 { margin-top: 2rem; }
table { border-collapse: collapse; margin: .5rem 0 1rem; font-size: 13px; }
th, td { border: 1px solid #ccc; padding: 2px 6px; text-align: left; } th { background: #f2f2f2; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.verdict { display: inline-block; padding: 2px 10px; border-radius: 4px; font-weight: bold; color: #fff; }
.verdict.Passed { background: #1b7a3a; } .verdict.Failed { background: #b00020; }
.failed-row td { background: #fde7ea; } .note { color: #555; }
svg.chart { display: block; max-width: 100%; height: auto; margin: 1rem 0 .25rem; font-size: 12px; }
svg.chart .chart-title { font-size: 14px; font-weight: bold; }
svg.chart .grid { stroke: #e6e6e6; } svg.chart .axis.x line { stroke: #888; }
svg.chart .axis-label { fill: #333; }
svg.chart .band.stage rect { fill: #0072b2; fill-opacity: .07; } svg.chart .band.stage.odd rect { fill-opacity: .14; }
svg.chart .band line { stroke: #0072b2; stroke-dasharray: 3 3; }
svg.chart .band.drain rect { fill: #999; fill-opacity: .15; } svg.chart .band text { fill: #555; font-size: 11px; }
svg.chart .limit line { stroke-width: 1.5; stroke-dasharray: 8 4; }
svg.chart .limit text { paint-order: stroke; stroke: #fff; stroke-width: 4px; stroke-linejoin: round; }
svg.chart .limit.passed line { stroke: #1b7a3a; } svg.chart .limit.passed text { fill: #1b7a3a; }
svg.chart .limit.failed line { stroke: #b00020; } svg.chart .limit.failed text { fill: #b00020; font-weight: bold; }
details { margin-bottom: 1rem; }
"""

SUMMARY_COLUMNS = (
    ("role", "name"),
    ("kind", "role"),
    ("instances", "instances"),
    ("processed", "processed"),
    ("items/s", "tps"),
    ("errors", "errors"),
    ("dropped", "dropped"),
)


def render(report: Report) -> str:
    """The whole page as a string (UTF-8 when written)."""
    verdict = report.shown_verdict
    body = [f"<h1>{escape(report.title)}</h1>"]
    if report.subtitle:
        body.append(f'<p class="note subtitle">{escape(report.subtitle)}</p>')
    if verdict:
        reason = report.runs[0].marks.reason if len(report.runs) == 1 else None
        body.append(_verdict(verdict, reason))
    for run in report.runs:
        body.append(_run(run, multi=len(report.runs) > 1))
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(report.title)}</title><style>{STYLE}</style></head>"
        f"<body>{''.join(body)}</body></html>\n"
    )


def _verdict(verdict: str, reason: str | None) -> str:
    said = f" {escape(reason)}" if reason else ""
    return (
        f'<p class="verdict-line">Verdict: <span class="verdict {escape(verdict)}">{escape(verdict)}</span>{said}</p>'
    )


def _table(headers: list[str], rows: list[list[str]], classes: list[str] | None = None, caption: str = "") -> str:
    head = "".join(f'<th scope="col">{escape(h)}</th>' for h in headers)
    lines = []
    for index, row in enumerate(rows):
        cls = f' class="{classes[index]}"' if classes and classes[index] else ""
        cells = "".join(
            f'<td class="num">{escape(c)}</td>' if _NUMERIC.fullmatch(c) else f"<td>{escape(c)}</td>" for c in row
        )
        lines.append(f"<tr{cls}>{cells}</tr>")
    cap = f"<caption>{escape(caption)}</caption>" if caption else ""
    return f"<table>{cap}<thead><tr>{head}</tr></thead><tbody>{''.join(lines)}</tbody></table>"


def _num(value: Any, digits: int = 1) -> str:
    if value is None:
        return "-"
    if isinstance(value, int):
        return f"{value:,}"
    return f"{float(value):,.{digits}f}"


def _run(run: SwarmRun, *, multi: bool) -> str:
    out = [f"<h2>swarm {escape(run.swarm)}</h2>" if multi else f"<h2>Run of swarm {escape(run.swarm)}</h2>"]
    facts = [f"load for {run.duration_seconds:.1f} s"]
    if run.drain_seconds >= 0.05:
        facts.append(f"then drained for {run.drain_seconds:.1f} s (producers off)")
    if run.started_at:
        started = dt.datetime.fromtimestamp(run.started_at, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        facts.insert(0, f"started {started}")
    series = run.timeseries
    if series is not None:
        facts.append(f"one point every {series.interval:g} s")
        if series.downsampled:
            facts.append(f"merged pairwise {series.downsampled} time(s) to stay within {series.max_points} points")
    out.append(f'<p class="note">{escape("; ".join(facts))}.</p>')
    verdict = run.marks.shown_verdict
    if verdict and multi:  # a single run's verdict heads the page
        out.append(_verdict(verdict, run.marks.reason))
    out.append("<h3>Summary</h3>" + _summary(run.roles))
    out.append(_results(run.roles))
    roles = {str(row.get("name")) for row in run.roles} | set(series.roles if series else ())
    thresholds = [t for t in run.marks.thresholds if t.role in roles]
    if thresholds:
        out.append("<h3>Thresholds</h3>" + _thresholds(thresholds))
    stages = [s for s in run.marks.stages if s.role is None or s.role in roles]
    if stages:
        rows = [[s.label, s.role or "all roles", f"{s.start:g}", f"{s.end:g}"] for s in stages]
        out.append("<h3>Stages</h3>" + _table(["stage", "role", "from (s)", "to (s)"], rows))
    if series is None or not series.roles:
        out.append('<p class="note">No time series was recorded for this run.</p>')
        return "".join(out)
    if stages:
        out.append(_per_stage(stages, series.roles))
    x_max = max([run.duration_seconds + run.drain_seconds] + [p.t for ps in series.roles.values() for p in ps])
    out.append(_overview(run, series.roles, x_max, stages))
    for role, points in series.roles.items():
        out.append(_role(run, role, points, x_max, stages, thresholds))
    return "".join(out)


def _per_stage(stages: list[StageSpan], roles: dict[str, list[Point]]) -> str:
    """Each role during each stage, from the points whose interval falls in it."""
    rows = []
    for stage in stages:
        for role, points in roles.items():
            seen = within(points, stage.start, stage.end)
            if seen is None:
                continue
            rows.append(
                [stage.label, role]
                + [_num(seen.rate(n)) for n in (seen.processed, seen.errors, seen.dropped)]
                + [_num(seen.p95, 2), _num(seen.p99, 2)]
            )
    headers = ["stage", "role", "items/s", "errors/s", "dropped/s", "highest p95 ms", "highest p99 ms"]
    note = (
        '<p class="note">Rates are means over the stage\'s intervals; the percentiles are the highest of an '
        "interval in the stage (an upper bound of the stage's own).</p>"
    )
    return "<h3>Per stage</h3>" + _table(headers, rows) + note


def _overview(run: SwarmRun, roles: dict[str, list[Point]], x_max: float, stages: list[StageSpan]) -> str:
    """Every role on one chart: the rate of each, and the p95 of those that time calls."""
    slug = "".join(c if c.isalnum() else "-" for c in run.swarm)
    bands = _bands(run, None, stages)
    rates = [svg.Series(role, [(p.t, p.rate(p.processed)) for p in points]) for role, points in roles.items()]
    out = ["<h3>All roles</h3>"]
    out.append(
        svg.render(
            svg.Chart(f"{slug}-all-rate", "items processed per second, per role", "items/s", rates, x_max, bands)
        )
    )
    timed = {role: points for role, points in roles.items() if any(p.latency_count for p in points)}
    if timed:
        p95 = [svg.Series(role, [(p.t, p.p95) for p in points]) for role, points in timed.items()]
        title = "p95 latency per interval, per role"
        out.append(svg.render(svg.Chart(f"{slug}-all-p95", title, "milliseconds", p95, x_max, bands)))
    return "".join(out)


def _summary(rows: list[dict[str, Any]]) -> str:
    headers = [h for h, _ in SUMMARY_COLUMNS] + ["p50 ms", "p95 ms", "p99 ms", "status codes"]
    cells = []
    for row in rows:
        latency = row.get("latencyMs") or {}
        has_latency = any(latency.get(p) for p in ("p50", "p95", "p99"))
        codes = ", ".join(f"{code}: {n:,}" for code, n in sorted((row.get("statusCodes") or {}).items()))
        cells.append(
            [_num(row.get(key)) if key not in {"name", "role"} else str(row.get(key, "")) for _, key in SUMMARY_COLUMNS]
            + [_num(latency.get(p), 2) if has_latency else "-" for p in ("p50", "p95", "p99")]
            + [codes or "-"]
        )
    return _table(headers, cells)


def _results(rows: list[dict[str, Any]]) -> str:
    """Results by business code and by dimension value, per role whose result rules read any ("" when none)."""
    cells = []
    for row in rows:
        counts = [("business code", row.get("businessCodes") or {})]
        counts += [(f"dimension {name}", values) for name, values in (row.get("dimensions") or {}).items()]
        for what, values in counts:
            for value, n in values.items():
                cells.append([str(row.get("name", "")), what, str(value), _num(n)])
    if not cells:
        return ""
    note = (
        '<p class="note">What the result rules read from each answer; at most 32 values each per worker, '
        "the rest counted as (other).</p>"
    )
    return "<h3>Results by business code and dimension</h3>" + _table(["role", "by", "value", "results"], cells) + note


def _thresholds(thresholds: list[ThresholdResult]) -> str:
    rows = [
        [
            t.role + (f" / {t.step}" if t.step else ""),
            t.metric,
            f"{t.limit:g} {t.unit}".strip(),
            "n/a" if t.observed is None else f"{t.observed:g} {t.unit}".strip(),
            "passed" if t.passed else "FAILED",
            t.plot or "listed only",
        ]
        for t in thresholds
    ]
    classes = ["" if t.passed else "failed-row" for t in thresholds]
    return _table(["role", "metric", "limit", "observed", "result", "drawn on"], rows, classes)


def _bands(run: SwarmRun, role: str | None, stages: list[StageSpan]) -> list[svg.Band]:
    """The stages and the drain as shaded bands: on a role's plots its own stages and the run-wide ones, or
    every stage when one role alone has stages (the whole pipeline follows its shape); all on the overview."""
    staged = {s.role for s in stages if s.role is not None}
    shown = [s for s in stages if role is None or s.role in (None, role) or len(staged) == 1]
    bands = [svg.Band(s.start, s.end, s.label) for s in shown]
    if run.drain_seconds >= 0.05:
        bands.append(svg.Band(run.duration_seconds, run.duration_seconds + run.drain_seconds, "drain", "drain"))
    return bands


def _limits(thresholds: list[ThresholdResult], role: str, plot: str) -> list[svg.Limit]:
    return [svg.Limit(t.limit, t.describe(), t.passed) for t in thresholds if t.role == role and t.plot == plot]


def _role(
    run: SwarmRun,
    role: str,
    points: list[Point],
    x_max: float,
    stages: list[StageSpan],
    thresholds: list[ThresholdResult],
) -> str:
    slug = "".join(c if c.isalnum() else "-" for c in f"{run.swarm}-{role}")
    bands = _bands(run, role, stages)
    out = [f'<section class="role" data-role="{escape(role)}"><h3>Role {escape(role)}</h3>']

    def chart(kind: str, title: str, unit: str, series: list[svg.Series]) -> None:
        limits = _limits(thresholds, role, kind)
        out.append(svg.render(svg.Chart(f"{slug}-{kind}", title, unit, series, x_max, bands, limits)))

    chart(
        "rate",
        f"{role}: items processed per second",
        "items/s",
        [
            svg.Series("processed/s", [(p.t, p.rate(p.processed)) for p in points]),
        ],
    )
    if any(p.latency_count for p in points):
        chart(
            "latency",
            f"{role}: latency percentiles per interval",
            "milliseconds",
            [svg.Series(name, [(p.t, getattr(p, name)) for p in points]) for name in ("p50", "p95", "p99")],
        )
    else:
        out.append(f'<p class="note">{escape(role)} recorded no latencies (it makes no timed calls).</p>')
    kinds = sorted({k for p in points for k in p.errors_by_kind})
    chart(
        "errors",
        f"{role}: errors and drops per second",
        "per second",
        [
            svg.Series("errors/s", [(p.t, p.rate(p.errors)) for p in points]),
            svg.Series("dropped/s", [(p.t, p.rate(p.dropped)) for p in points]),
            *(svg.Series(f"{k}/s", [(p.t, p.rate(p.errors_by_kind.get(k, 0))) for p in points]) for k in kinds),
        ],
    )
    if any(p.queue_depth is not None for p in points):
        chart(
            "queue",
            f"{role}: items waiting in its input queue",
            "items",
            [
                svg.Series(
                    "queue depth", [(p.t, None if p.queue_depth is None else float(p.queue_depth)) for p in points]
                )
            ],
        )
    out.append(_data_table(role, points, kinds))
    out.append("</section>")
    return "".join(out)


def _data_table(role: str, points: list[Point], kinds: list[str]) -> str:
    """The plotted numbers as a table (collapsed): the plots' text fallback."""
    headers = ["end (s)", "length (s)", "processed/s", "errors/s", "dropped/s", "p50 ms", "p95 ms", "p99 ms", "queue"]
    headers += [f"{k}/s" for k in kinds]
    rows = [
        [
            f"{p.t:.1f}",
            f"{p.seconds:.1f}",
            _num(p.rate(p.processed)),
            _num(p.rate(p.errors)),
            _num(p.rate(p.dropped)),
            _num(p.p50, 2),
            _num(p.p95, 2),
            _num(p.p99, 2),
            _num(p.queue_depth),
            *(_num(p.rate(p.errors_by_kind.get(k, 0))) for k in kinds),
        ]
        for p in points
    ]
    table = _table(headers, rows, caption=f"{role}: one row per interval")
    return f"<details><summary>{escape(role)}: the plotted numbers as a table</summary>{table}</details>"
