"""Prometheus metrics of a worker, read from its counters at scrape time (nothing on the hot path)."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector, CollectorRegistry

from hivekeeper.worker.runtime.worker import Worker

LABELS = ["swarm", "role", "instance", "run"]


class WorkerCollector(Collector):
    def __init__(self, worker: Worker) -> None:
        self.worker = worker

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
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
        latency = GaugeMetricFamily(
            "hivekeeper_latency_ms", "Request latency percentiles since start (ms).", labels=[*LABELS, "quantile"]
        )
        for quantile in (50, 95, 99):
            latency.add_metric([*labels, str(quantile / 100)], stats.latency.percentile(quantile))
        yield latency
        statuses = CounterMetricFamily(
            "hivekeeper_http_responses", "HTTP responses by status code.", labels=[*LABELS, "code"]
        )
        for code, n in stats.statuses.items():
            statuses.add_metric([*labels, str(code)], n)
        yield statuses
        budget = CounterMetricFamily(
            "hivekeeper_template_budget_exceeded",
            "Template renders refused by the template budget, by limit (each item dropped and alerted).",
            labels=[*LABELS, "limit"],
        )
        for limit, n in self.worker.engine.budget_exceeded.items():
            budget.add_metric([*labels, limit], n)
        yield budget


def registry_for(worker: Worker) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(WorkerCollector(worker))
    return registry
