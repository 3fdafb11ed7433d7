"""Prometheus metrics of a worker, read from its counters at scrape time (nothing on the hot path).

Request latency is a classic Prometheus histogram in seconds, ``hivekeeper_request_duration_seconds``
(``_bucket{le}``, ``_sum``, ``_count``), built at scrape time from the worker's log-linear counts
(:mod:`hivekeeper.worker.stats`): every ``le`` is an exact edge of that scheme (2^k and 1.5·2^k µs from
256 µs to ~67 s), so a bucket counts exactly the requests below it; aggregate across pods with
``sum by (le, role)`` and ``histogram_quantile``. http-sequence workers export one series per step (label
``step``; ``sum without (step)`` is the role), other roles one series with ``step=""``. Token requests of auth
profiles are never in it: ``hivekeeper_auth_token_fetch_duration_seconds`` times them, and
``hivekeeper_auth_token_fetches``, ``_token_fetch_errors`` and ``_unauthorized_retries`` count them.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector, CollectorRegistry

from hivekeeper.protocol.latency import bucket_index
from hivekeeper.worker.runtime.worker import Worker
from hivekeeper.worker.stats import Histogram

LABELS = ["swarm", "role", "instance", "run"]
DURATION = "hivekeeper_request_duration_seconds"


def _edges() -> list[tuple[str, int]]:
    """(le in seconds, the last log-linear bucket below it): 2^k and 1.5·2^k µs, 256 µs to 2^26 µs (~67 s).

    A request of ``v`` whole µs is in bucket ``le`` when ``v < le`` (it was shorter than ``le`` seconds)."""
    edges_us = sorted([1 << k for k in range(8, 27)] + [3 << k for k in range(7, 25)])
    return [(str(edge / 1_000_000), bucket_index(edge - 1)) for edge in edges_us]


EDGES = _edges()


def duration_buckets(histogram: Histogram) -> list[tuple[str, float]]:
    """The cumulative ``(le, count)`` pairs of a histogram, ``+Inf`` last (its count).

    The scrape runs in the metrics server's thread while the event loop records: every figure, ``+Inf``
    too, is summed from one copy of the bucket counts, so the buckets never go down."""
    counts, out, seen, start = histogram.counts.copy(), [], 0, 0
    for le, last in EDGES:
        seen += sum(counts[start : last + 1])
        start = last + 1
        out.append((le, float(seen)))
    out.append(("+Inf", float(seen + sum(counts[start:]))))
    return out


class WorkerCollector(Collector):
    def __init__(self, worker: Worker) -> None:
        self.worker = worker

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily | HistogramMetricFamily]:
        ident = self.worker.identity
        labels = [ident.swarm, ident.role, ident.instance, ident.run_id]
        stats = self.worker.stats
        for name, help_text, value in (
            ("hivekeeper_items_processed", "Items the role finished.", stats.processed),
            ("hivekeeper_items_errors", "Failed items (transport errors, non-2xx, role errors).", stats.errors),
            (
                "hivekeeper_items_dropped",
                "Items dropped on purpose (invalid, no template), each alerted.",
                stats.dropped,
            ),
            (
                "hivekeeper_items_redelivered",
                "Items the broker delivered again (restart, lost connection): possible duplicates downstream.",
                stats.redelivered,
            ),
            (
                "hivekeeper_http_responses_truncated",
                "HTTP responses whose body exceeded maxResponseBytes; the rest was read and discarded.",
                stats.truncated,
            ),
            ("hivekeeper_auth_token_fetches", "OAuth2 token requests that returned a token.", stats.auth.token_fetches),
            (
                "hivekeeper_auth_token_fetch_errors",
                "OAuth2 token requests that failed after their retries (the calls waiting for them failed).",
                stats.auth.token_errors,
            ),
            (
                "hivekeeper_auth_unauthorized_retries",
                "Calls answered 401 that were sent once more with a fresh token.",
                stats.auth.unauthorized_retries,
            ),
        ):
            counter = CounterMetricFamily(name, help_text, labels=LABELS)
            counter.add_metric(labels, value)
            yield counter
        output = self.worker.output
        for name, help_text, value in (
            (
                "hivekeeper_items_refused",
                "Items whose result the output refused for good (too large, unroutable): dead-lettered or dropped.",
                output.refused,
            ),
            (
                "hivekeeper_items_poisoned",
                "Items delivered more than inputs.rabbitmq.maxRedeliveries times: dead-lettered or dropped.",
                output.poisoned,
            ),
            ("hivekeeper_publish_retries", "Publish attempts after a transient failure.", output.retries),
            (
                "hivekeeper_items_given_back",
                "Inputs given back to their queue after every publish attempt failed.",
                output.given_back,
            ),
        ):
            counter = CounterMetricFamily(name, help_text, labels=LABELS)
            counter.add_metric(labels, value)
            yield counter
        gauge = GaugeMetricFamily("hivekeeper_items_in_flight", "Items being processed now.", labels=LABELS)
        gauge.add_metric(labels, stats.in_flight)
        yield gauge
        blocked = GaugeMetricFamily(
            "hivekeeper_output_blocked",
            "1 while the broker blocks this worker's publishes (a memory or disk alarm; they wait).",
            labels=LABELS,
        )
        sink = self.worker.sink
        blocked.add_metric(labels, 1 if sink is not None and sink.state() == "blocked" else 0)
        yield blocked
        enabled = GaugeMetricFamily("hivekeeper_worker_enabled", "1 when the worker is enabled.", labels=LABELS)
        enabled.add_metric(labels, 1 if self.worker.state.enabled else 0)
        yield enabled
        generation = GaugeMetricFamily("hivekeeper_config_generation", "Applied config generation.", labels=LABELS)
        generation.add_metric(labels, self.worker.state.generation)
        yield generation
        duration = HistogramMetricFamily(
            DURATION,
            "Request latency (seconds): each HTTP call (attempt) or TCP call of the role, per step for http-sequence.",
            labels=[*LABELS, "step"],
        )
        steps = list(stats.step_latency.items()) or [("", stats.latency)]  # one copy: the loop may add a step
        for step, histogram in steps:
            duration.add_metric([*labels, step], duration_buckets(histogram), histogram.total_us / 1_000_000)
        yield duration
        tokens = HistogramMetricFamily(
            "hivekeeper_auth_token_fetch_duration_seconds",
            "Time of each successful OAuth2 token request, its retries included (not in the request latency).",
            labels=LABELS,
        )
        token_latency = stats.auth.token_latency
        tokens.add_metric(labels, duration_buckets(token_latency), token_latency.total_us / 1_000_000)
        yield tokens
        statuses = CounterMetricFamily(
            "hivekeeper_http_responses", "HTTP responses by status code.", labels=[*LABELS, "code"]
        )
        for code, n in stats.statuses.items():
            statuses.add_metric([*labels, str(code)], n)
        yield statuses
        yield from self._errors_and_results(labels)
        replies = CounterMetricFamily(
            "hivekeeper_tcp_replies", "Complete TCP calls by behaviour.", labels=[*LABELS, "behavior"]
        )
        for behavior, n in stats.tcp_replies.items():
            replies.add_metric([*labels, behavior], n)
        yield replies
        connects = HistogramMetricFamily(
            "hivekeeper_tcp_connect_duration_seconds",
            "Time to open each new TCP connection (connect retries and a TLS handshake included).",
            labels=LABELS,
        )
        connects.add_metric(labels, duration_buckets(stats.tcp_connect), stats.tcp_connect.total_us / 1_000_000)
        yield connects
        budget = CounterMetricFamily(
            "hivekeeper_template_budget_exceeded",
            "Template renders refused by the template budget, by limit (each item dropped and alerted).",
            labels=[*LABELS, "limit"],
        )
        for limit, n in self.worker.engine.budget_exceeded.items():
            budget.add_metric([*labels, limit], n)
        yield budget
        yield from self._buffer_guard(labels)

    def _errors_and_results(self, labels: list[str]) -> Iterator[CounterMetricFamily]:
        """Errors by kind, and results by business code and by dimension value (result rules). Every label set is
        bounded: error kinds are the roles' own words, codes and values are capped per worker (``(other)``)."""
        stats = self.worker.stats
        kinds = CounterMetricFamily(
            "hivekeeper_request_errors",
            "Failed calls by kind: HTTP transport errors (timeout, connect, ...), TCP ones (tcp-timeout, "
            "tcp-too-large, tcp-closed, tcp-frame-too-large, tcp-connect, tcp-echo-mismatch) and business (an answer "
            "the protocol calls a success and its result rules a failure).",
            labels=[*LABELS, "kind"],
        )
        for kind, n in list(stats.error_kinds.items()):  # a copy: the loop may add a kind while this reads
            kinds.add_metric([*labels, kind], n)
        yield kinds
        results = stats.results
        codes = CounterMetricFamily(
            "hivekeeper_business_codes",
            "Results by the business code their result rules read (at most 32 codes, the rest as (other)).",
            labels=[*LABELS, "code"],
        )
        for code, n in list(results.codes.counts.items()):
            codes.add_metric([*labels, code], n)
        yield codes
        dimensions = CounterMetricFamily(
            "hivekeeper_result_dimensions",
            "Results by the value of each dimension their result rules read (at most 32 values each, the rest as "
            "(other)).",
            labels=[*LABELS, "dimension", "value"],
        )
        for name, counts in list(results.dimensions.items()):
            for value, n in list(counts.counts.items()):
                dimensions.add_metric([*labels, name, value], n)
        yield dimensions

    def _buffer_guard(self, labels: list[str]) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        """The buffer guard's series, labelled with the queue it watches (only while one is configured)."""
        guard = self.worker.guard
        if guard.config is None:
            return
        labels = [*labels, guard.config.queue]
        state = guard.state
        trips = CounterMetricFamily(
            "hivekeeper_buffer_guard_trips",
            "Times bufferGuard slowed the producer (its queue reached high).",
            labels=[*LABELS, "queue"],
        )
        trips.add_metric(labels, state.trips)
        yield trips
        throttled = GaugeMetricFamily(
            "hivekeeper_buffer_guard_throttled",
            "1 while bufferGuard holds the producer at minRatePerSec.",
            labels=[*LABELS, "queue"],
        )
        throttled.add_metric(labels, 1 if state.throttled else 0)
        yield throttled
        if state.depth is not None:
            depth = GaugeMetricFamily(
                "hivekeeper_buffer_guard_queue_depth",
                "The watched queue's depth at bufferGuard's last reading.",
                labels=[*LABELS, "queue"],
            )
            depth.add_metric(labels, state.depth)
            yield depth


def registry_for(worker: Worker) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(WorkerCollector(worker))
    return registry
