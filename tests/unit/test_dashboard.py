"""The Grafana dashboard the chart ships: valid JSON Grafana loads, every panel queries Prometheus through the
chosen data source, and every metric it names is one the worker's collector defines (the integration test
``test_worker_process`` checks them against a live worker's /metrics)."""

from __future__ import annotations

import json
import re

from testbench.dashboard import DASHBOARD, REPO, dashboard_metrics


def test_the_dashboard_is_grafana_json_with_a_unique_uid_and_prometheus_panels() -> None:
    board = json.loads(DASHBOARD.read_text())
    assert board["uid"] == "hivekeeper-swarms"
    assert [v["name"] for v in board["templating"]["list"]] == ["datasource", "swarm", "role"]
    ids = [p["id"] for p in board["panels"]]
    assert len(ids) == len(set(ids))
    for panel in board["panels"]:
        assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
        assert panel["targets"], panel["title"]
        assert panel["fieldConfig"]["defaults"]["unit"], f"{panel['title']} needs a unit"


def test_latency_panels_read_the_histogram_in_seconds_not_a_gauge_of_quantiles() -> None:
    names = dashboard_metrics()
    assert "hivekeeper_request_duration_seconds_bucket" in names
    assert not any(name.startswith("hivekeeper_latency_ms") for name in names)


def test_every_metric_the_dashboard_reads_is_defined_by_the_worker_collector() -> None:
    source = (REPO / "src" / "hivekeeper" / "worker" / "metrics.py").read_text()
    defined = set(re.findall(r'"(hivekeeper_[a-z_]+)"', source))
    defined.add("hivekeeper_request_duration_seconds")  # DURATION
    suffixes = ("_total", "_bucket", "_sum", "_count")
    bases = {next((n.removesuffix(s) for s in suffixes if n.endswith(s)), n) for n in dashboard_metrics()}
    assert bases <= defined, f"not exported by workers: {sorted(bases - defined)}"
