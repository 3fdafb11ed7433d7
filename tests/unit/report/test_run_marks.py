"""``spec.run`` and its verdict as the report's marks: load steps as stage bands, thresholds with their results."""

from __future__ import annotations

from hivekeeper.api.run import RunSpec
from hivekeeper.report.run_marks import marks

RUN = RunSpec.model_validate(
    {
        "duration": "30s",
        "stages": [
            {
                "role": "feeder",
                "startRate": 10,
                "steps": [{"duration": "10s", "target": 50}, {"duration": "20s", "target": 50}],
            }
        ],
        "thresholds": [
            {"role": "caller", "metric": "p95", "max": 300},
            {"role": "caller", "metric": "errorRate", "max": 0.01},
            {"role": "journey", "step": "login", "metric": "p99", "max": 500},
        ],
    }
)
VERDICT = {
    "result": "Failed",
    "reason": "1 of 3 thresholds failed: caller p95 <= 300: observed 412 (failed)",
    "thresholds": [
        {"threshold": "caller p95 <= 300", "observed": 412.0, "passed": False, "message": "..."},
        {"threshold": "caller errorRate <= 0.01", "observed": 0.0, "passed": True, "message": "..."},
        {"threshold": "journey/login p99 <= 500", "observed": 120.0, "passed": True, "message": "..."},
    ],
}


def test_each_load_step_is_a_stage_of_its_role() -> None:
    stages = marks(RUN, VERDICT).stages
    assert [(s.start, s.end, s.role) for s in stages] == [(0, 10, "feeder"), (10, 30, "feeder")]
    assert stages[0].label.startswith("feeder step 1")


def test_each_threshold_carries_its_limit_result_and_where_it_is_drawn() -> None:
    p95, errors, step = marks(RUN, VERDICT).thresholds
    assert (p95.role, p95.metric, p95.limit, p95.observed, p95.passed, p95.unit) == (
        "caller",
        "p95",
        300,
        412,
        False,
        "ms",
    )
    assert p95.plot == "latency"
    assert p95.describe() == "caller p95 <= 300: observed 412 ms, FAILED"
    assert (errors.plot, errors.passed, errors.unit) == (None, True, "")  # a fraction: listed, not drawn
    assert (step.step, step.plot) == ("login", None)  # a step's latency is not the role's plot


def test_the_verdict_and_its_reason_come_along() -> None:
    result = marks(RUN, VERDICT)
    assert result.shown_verdict == "Failed"
    assert result.reason is not None
    assert result.reason.startswith("1 of 3 thresholds failed")


def test_a_swarm_without_a_run_has_no_marks_but_its_verdict() -> None:
    result = marks(None, {"result": "Passed", "reason": "no thresholds; items succeeded", "thresholds": []})
    assert (result.stages, result.thresholds, result.verdict) == ([], [], "Passed")
    assert marks(None, None).shown_verdict is None
