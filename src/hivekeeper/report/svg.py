"""Line charts as inline SVG, drawn in Python: no script, no font or image to fetch, readable without CSS.

Every chart has a title and a description for screen readers, both axes with their units, a legend, the
stages as shaded bands and the limits (thresholds) as dashed horizontal lines. Each series is one ``<path>``
carrying its points in ``data-points`` (``[[t, value], ...]``) so tools and tests can read what is drawn.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from html import escape

WIDTH = 760
HEIGHT = 260
LEFT, RIGHT, TOP, BOTTOM = 70, 20, 34, 62
"""Margins: the y labels on the left, the title on top, the x labels and the legend below."""
MAX_MARKERS = 240
"""Series with more points than this are drawn as a line only (no marker per point)."""
PALETTE = ("#0072b2", "#d55e00", "#009e73", "#cc79a7", "#e69f00", "#56b4e9", "#000000", "#f0e442")
"""Okabe-Ito: told apart with the common colour-vision deficiencies; dash patterns tell them apart too."""
DASHES = ("", "6 3", "2 3", "8 3 2 3")
FAR_LIMIT = 5.0
"""A limit more than this many times the highest value is marked on the top edge instead of setting the scale."""


@dataclass
class Series:
    name: str
    points: list[tuple[float, float | None]]
    """(seconds since start, value); None leaves a gap (e.g. no latency recorded in that interval)."""


@dataclass
class Band:
    start: float
    end: float
    label: str
    tone: str = "stage"
    """stage | drain (drawn differently)."""


@dataclass
class Limit:
    value: float
    label: str
    passed: bool


@dataclass
class Chart:
    chart_id: str
    title: str
    unit: str
    series: list[Series]
    x_max: float
    bands: list[Band] = field(default_factory=list)
    limits: list[Limit] = field(default_factory=list)


def nice_step(span: float, ticks: int = 5) -> float:
    """A step of 1, 2 or 5 times a power of ten giving about ``ticks`` ticks over ``span``."""
    if span <= 0 or not math.isfinite(span):
        return 1.0
    raw = span / ticks
    power = 10.0 ** math.floor(math.log10(raw))
    for factor in (1, 2, 5, 10):
        if raw <= factor * power:
            return factor * power
    return 10 * power


def _fmt(value: float) -> str:
    if value == 0:
        return "0"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.0f}" if value == round(value) else f"{value:.1f}"
    return f"{value:.3g}"


def render(chart: Chart) -> str:
    """The chart as an ``<svg>`` element."""
    values = [v for s in chart.series for _, v in s.points if v is not None]
    highest = max(values, default=0.0)
    # A limit far above the data (p95 <= 300 ms on 2 ms latencies) would flatten them: it sits on the top edge
    # (its label below the stage labels).
    far = [limit for limit in chart.limits if highest > 0 and limit.value > FAR_LIMIT * highest]
    values += [limit.value for limit in chart.limits if limit not in far]
    # 5 % headroom keeps a flat line at the maximum off the frame; all zero (no errors) still gets a 0..1 axis.
    top = max(values, default=0.0) * 1.05 or 1.0
    y_step = nice_step(top)
    y_max = math.ceil(top / y_step - 1e-9) * y_step
    x_max = chart.x_max if chart.x_max > 0 else 1.0
    x_step = nice_step(x_max, 8)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(t: float) -> float:
        return round(LEFT + plot_w * min(max(t, 0.0), x_max) / x_max, 2)

    def y(v: float) -> float:
        return round(TOP + plot_h * (1 - min(max(v, 0.0), y_max) / y_max), 2)

    title_id, desc_id = f"{chart.chart_id}-title", f"{chart.chart_id}-desc"
    out = [
        f'<svg class="chart" id="{chart.chart_id}" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'width="{WIDTH}" height="{HEIGHT}" role="img" aria-labelledby="{title_id} {desc_id}">',
        f'<title id="{title_id}">{escape(chart.title)}</title>',
        f'<desc id="{desc_id}">{escape(_describe(chart))}</desc>',
        f'<text class="chart-title" x="{LEFT}" y="20">{escape(chart.title)}</text>',
    ]
    for index, band in enumerate(chart.bands):
        cls = "drain" if band.tone == "drain" else f"stage {'odd' if index % 2 else 'even'}"
        width = max(x(band.end) - x(band.start), 0.5)
        out.append(
            f'<g class="band {cls}"><rect x="{x(band.start)}" y="{TOP}" width="{width}" height="{plot_h}">'
            f"<title>{escape(band.label)}: {_fmt(band.start)} to {_fmt(band.end)} s</title></rect>"
            f'<line x1="{x(band.start)}" y1="{TOP}" x2="{x(band.start)}" y2="{TOP + plot_h}"/>'
            f'<text x="{x(band.start) + 3}" y="{TOP + 12}">{escape(_fit(band.label, width - 6))}</text></g>'
        )
    out.append('<g class="axis y">')
    tick = 0.0
    while tick <= y_max + y_step / 1000:
        out.append(
            f'<line class="grid" x1="{LEFT}" y1="{y(tick)}" x2="{LEFT + plot_w}" y2="{y(tick)}"/>'
            f'<text x="{LEFT - 6}" y="{y(tick) + 4}" text-anchor="end">{_fmt(tick)}</text>'
        )
        tick += y_step
    mid = TOP + plot_h / 2
    out.append(
        f'<text class="axis-label" transform="translate(16 {mid}) rotate(-90)" text-anchor="middle">'
        f"{escape(chart.unit)}</text></g>"
    )
    out.append(f'<g class="axis x"><line x1="{LEFT}" y1="{TOP + plot_h}" x2="{LEFT + plot_w}" y2="{TOP + plot_h}"/>')
    tick = 0.0
    while tick <= x_max + x_step / 1000:
        out.append(
            f'<line x1="{x(tick)}" y1="{TOP + plot_h}" x2="{x(tick)}" y2="{TOP + plot_h + 4}"/>'
            f'<text x="{x(tick)}" y="{TOP + plot_h + 16}" text-anchor="middle">{_fmt(tick)}</text>'
        )
        tick += x_step
    out.append(
        f'<text class="axis-label" x="{LEFT + plot_w / 2}" y="{TOP + plot_h + 32}" text-anchor="middle">'
        "time since the run started (s)</text></g>"
    )
    for limit in chart.limits:
        cls = ("limit passed" if limit.passed else "limit failed") + (" far" if limit in far else "")
        at = TOP if limit in far else y(limit.value)
        label = f"↑ {limit.label} (limit above this scale)" if limit in far else limit.label
        out.append(
            f'<g class="{cls}" data-limit="{limit.value:g}"><line x1="{LEFT}" y1="{at}" x2="{LEFT + plot_w}" '
            f'y2="{at}"/><text x="{LEFT + plot_w - 4}" y="{at + 28 if limit in far else at - 4}" '
            f'text-anchor="end">{escape(label)}</text></g>'
        )
    for index, series in enumerate(chart.series):
        out.append(_series(series, index, x, y))
    out.append(_legend(chart, plot_h))
    out.append("</svg>")
    return "".join(out)


def _series(series: Series, index: int, x: Callable[[float], float], y: Callable[[float], float]) -> str:
    color, dash = PALETTE[index % len(PALETTE)], DASHES[index % len(DASHES)]
    drawn = [(t, v) for t, v in series.points if v is not None]
    segments: list[str] = []
    pen_up = True
    for t, v in series.points:
        if v is None:
            pen_up = True
            continue
        segments.append(f"{'M' if pen_up else 'L'}{x(t)},{y(v)}")
        pen_up = False
    dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
    data = escape(json.dumps([[round(t, 3), round(v, 3)] for t, v in drawn]))
    out = [
        f'<g class="series" data-series="{escape(series.name)}">'
        f'<path d="{" ".join(segments)}" fill="none" stroke="{color}" stroke-width="2"{dash_attr} '
        f'data-points="{data}"/>'
    ]
    if len(drawn) <= MAX_MARKERS:
        for t, v in drawn:
            out.append(
                f'<circle cx="{x(t)}" cy="{y(v)}" r="2.5" fill="{color}">'
                f"<title>{escape(series.name)} at {_fmt(t)} s: {_fmt(v)}</title></circle>"
            )
    out.append("</g>")
    return "".join(out)


def _legend(chart: Chart, plot_h: float) -> str:
    out = ['<g class="legend">']
    x0, y0 = LEFT, TOP + plot_h + 50
    for index, series in enumerate(chart.series):
        color, dash = PALETTE[index % len(PALETTE)], DASHES[index % len(DASHES)]
        dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
        out.append(
            f'<line x1="{x0}" y1="{y0 - 4}" x2="{x0 + 22}" y2="{y0 - 4}" stroke="{color}" stroke-width="2"{dash_attr}/>'
            f'<text x="{x0 + 27}" y="{y0}">{escape(series.name)}</text>'
        )
        x0 += 40 + 7 * len(series.name)
    out.append("</g>")
    return "".join(out)


def _fit(label: str, width: float) -> str:
    """``label`` cut to what ``width`` pixels hold at the band font (the whole label is in the band's tooltip)."""
    room = int(width / 6.2)
    if len(label) <= room:
        return label
    return label[: room - 1] + "…" if room >= 4 else ""


def _describe(chart: Chart) -> str:
    """One sentence per series for screen readers: how many points, over what time, lowest and highest."""
    parts = []
    for series in chart.series:
        values = [v for _, v in series.points if v is not None]
        if not values:
            parts.append(f"{series.name}: no data")
            continue
        times = [t for t, v in series.points if v is not None]
        parts.append(
            f"{series.name}: {len(values)} points from {_fmt(times[0])} s to {_fmt(times[-1])} s, "
            f"lowest {_fmt(min(values))}, highest {_fmt(max(values))} {chart.unit}"
        )
    parts += [limit.label for limit in chart.limits]
    return "; ".join(parts) + "."
