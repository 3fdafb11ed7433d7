"""The metric names the chart's Grafana dashboard reads (its panel queries and variables)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[3]
DASHBOARD = REPO / "helm" / "hivekeeper" / "files" / "dashboards" / "hivekeeper-swarms.json"
METRIC = re.compile(r"\b(hivekeeper_[a-z_]+)\b")


def dashboard_metrics() -> set[str]:
    """Every metric (sample) name the dashboard's queries name, e.g. ``hivekeeper_items_processed_total``."""
    board: dict[str, Any] = json.loads(DASHBOARD.read_text())
    exprs = [t["expr"] for p in board["panels"] for t in p["targets"]]
    exprs += [v["query"]["query"] for v in board["templating"]["list"] if v["type"] == "query"]
    return {name for expr in exprs for name in METRIC.findall(expr)}
