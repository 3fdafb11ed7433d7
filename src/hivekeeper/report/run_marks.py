"""A run's ``spec.run`` and verdict as the report's marks: each load step a stage band, each threshold a line
on its role's plot (latencies) or a row of the thresholds table (ratios, step thresholds).

The verdict's thresholds are judged in the order of ``spec.run.thresholds`` (``api.verdict.verdict``), so the
n-th result belongs to the n-th threshold. A cluster run has the same spec and verdict (in the Swarm's status).
"""

from __future__ import annotations

from typing import Any

from hivekeeper.api.run import LATENCY_METRICS, RunSpec, stage_boundaries
from hivekeeper.report.model import RunMarks, StageSpan, ThresholdResult


def marks(run: RunSpec | None, verdict: dict[str, Any] | None) -> RunMarks:
    """The marks of a swarm whose ``spec.run`` is ``run`` and whose verdict (JSON form) is ``verdict``."""
    stages = [
        StageSpan(start, end, label, role=shape.role)
        for shape in (run.stages if run else [])
        for start, end, label in stage_boundaries(shape)
    ]
    results = list((verdict or {}).get("thresholds") or [])
    thresholds = []
    for index, threshold in enumerate(run.thresholds if run else []):
        result = results[index] if index < len(results) else {}
        limit = threshold.max if threshold.max is not None else threshold.min
        thresholds.append(
            ThresholdResult(
                role=threshold.role,
                metric=threshold.metric,
                limit=float(limit if limit is not None else 0.0),
                observed=result.get("observed"),
                passed=bool(result.get("passed", False)),
                unit="ms" if threshold.metric in LATENCY_METRICS else "",
                step=threshold.step,
                label=threshold.label(),
            )
        )
    return RunMarks(
        stages=stages,
        thresholds=thresholds,
        verdict=(verdict or {}).get("result"),
        reason=(verdict or {}).get("reason"),
    )
