"""Latency of a role from its instances' histograms (pure): the percentiles of all their requests.

Percentiles do not merge (the p95 of two instances is not the larger of their p95s: a slow instance that
served 1 % of the requests barely moves the role's p95), histogram counts do. Each worker reports its
histogram since start (``context.latencyHistogram``, :mod:`hivekeeper.protocol.latency`);
:class:`~hivekeeper.operator.observations.Observations` keeps each instance's last one and its window over
its last status interval (:func:`next_window`), and these functions merge them over the live instances.
"""

from __future__ import annotations

from collections.abc import Iterable

from hivekeeper.api.status import LatencyMs
from hivekeeper.operator.status import InstanceReport
from hivekeeper.protocol.latency import LatencyHistogram, LatencyReport, merge


def next_window(
    since_start: LatencyReport | None, previous: InstanceReport | None, *, delta: bool
) -> tuple[LatencyHistogram | None, LatencyHistogram | None]:
    """(window, baseline) of an instance's new report: the role's requests over its last status interval, and
    the histogram the next interval starts from.

    Windows run from one ``status-delta`` to the next (the worker's interval, as its ``latencyMs``): a
    ``status-full`` in between (after a config change, on request) keeps the window and the baseline, so it
    cannot cut a short, noisy interval. The window is unknown (None) for the first report heard and after a
    report whose histograms were not kept; it is everything the report holds when the baseline had no request
    yet or when the report does not continue it (the worker restarted)."""
    current = since_start.role if since_start is not None else None
    if previous is None or not previous.latency_known:
        return None, current
    if not delta:
        return previous.latency_window, previous.latency_baseline
    if current is None:
        return None, None
    base = previous.latency_baseline
    window = current.since(base) if base is not None else None
    return (window if window is not None else current), current


def latency_ms(histogram: LatencyHistogram) -> LatencyMs:
    """p50, p95 and p99 (ms) of one histogram; zeros when it is empty."""
    return LatencyMs(
        p50=round(histogram.percentile_ms(50), 3),
        p95=round(histogram.percentile_ms(95), 3),
        p99=round(histogram.percentile_ms(99), 3),
    )


def recent_latency(instances: Iterable[InstanceReport]) -> LatencyMs:
    """The role's latency over the instances' last status interval: their windows merged.

    Instances that send no histogram (a custom worker image that reports only ``latencyMs``) count only
    when none sends one: then the role shows, per percentile, the worst of theirs (an upper bound)."""
    reports = list(instances)
    windows = [i.latency_window for i in reports if i.latency_window is not None]
    if windows or any(i.latency_since_start is not None for i in reports):
        return latency_ms(merge(windows))
    summaries = [i.latency_ms for i in reports if i.latency_ms is not None]
    if not summaries:
        return LatencyMs()
    return LatencyMs(
        p50=max(s[0] for s in summaries), p95=max(s[1] for s in summaries), p99=max(s[2] for s in summaries)
    )


def since_start(instances: Iterable[InstanceReport], step: str | None = None) -> LatencyHistogram:
    """The merged histogram since start of the role (or of one http-sequence ``step``) over ``instances``:
    the requests of every instance for as long as it has run (an instance that restarted counts from then)."""
    histograms = []
    for instance in instances:
        report = instance.latency_since_start
        if report is None:
            continue
        found = report.role if step is None else report.steps.get(step)
        if found is not None:
            histograms.append(found)
    return merge(histograms)
