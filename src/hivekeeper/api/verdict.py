"""The verdict of a run: each threshold of ``spec.run`` against the run's figures, and the rule that a run in
which nothing succeeded fails even without thresholds.

Pure: the local runner and the operator build :class:`RoleFigures` from what they measured and get the same
verdict, with each threshold's observed value and limit.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from hivekeeper.api.run import LATENCY_METRICS, RunSpec, Threshold

CALLING_ROLES = ("processor", "http-sequence")
"""Roles whose items are calls to the system under test: they decide whether anything succeeded."""


class Figures(BaseModel):
    """What one role (or one http-sequence step) did over the whole run."""

    model_config = ConfigDict(extra="forbid")

    processed: int = 0
    errors: int = 0
    dropped: int = 0
    statusCodes: dict[str, int] = Field(default_factory=dict)
    latencyMs: dict[str, float] = Field(default_factory=dict, description="p50, p90, p95, p99, max, mean.")
    targetRate: float | None = Field(default=None, description="Items/s the run asked of the role, if it asked.")
    achievedRate: float | None = Field(default=None, description="Items/s the role made.")


class RoleFigures(Figures):
    role: str
    kind: str | None = None
    steps: dict[str, Figures] = Field(default_factory=dict)


class ThresholdResult(BaseModel):
    model_config = ConfigDict(extra="forbid")

    threshold: str = Field(description="The threshold as written, e.g. `caller p95 <= 300`.")
    observed: float | None = Field(description="The figure measured; null when the run gave none.")
    passed: bool
    message: str


class Verdict(BaseModel):
    model_config = ConfigDict(extra="forbid")

    result: Literal["Passed", "Failed"]
    reason: str = Field(description="One sentence: what passed or which thresholds failed.")
    thresholds: list[ThresholdResult] = Field(default_factory=list)

    @property
    def passed(self) -> bool:
        return self.result == "Passed"


def _share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def _achieved(figures: Figures) -> float | None:
    if figures.targetRate is None or figures.achievedRate is None or figures.targetRate <= 0:
        return None
    return figures.achievedRate / figures.targetRate


def observed(figures: Figures, metric: str) -> float | None:
    """The value of ``metric`` in ``figures`` (None when the run measured nothing it could be computed from)."""
    if metric in LATENCY_METRICS:
        return figures.latencyMs.get(metric)
    if metric == "achievedRate":
        return _achieved(figures)
    if metric in ("status4xxRate", "status5xxRate"):
        prefix = metric[len("status")]
        matching = sum(n for code, n in figures.statusCodes.items() if code.startswith(prefix))
        return _share(matching, sum(figures.statusCodes.values()))
    part = {"errorRate": figures.errors, "dropRate": figures.dropped}[metric]
    return _share(part, figures.processed)


def judge(threshold: Threshold, roles: dict[str, RoleFigures]) -> ThresholdResult:
    label = threshold.label()
    role = roles.get(threshold.role)
    figures: Figures | None = role
    if role is not None and threshold.step is not None:
        figures = role.steps.get(threshold.step)
    if figures is None:
        return ThresholdResult(
            threshold=label, observed=None, passed=False, message=f"{label}: no figures for it (nothing measured)"
        )
    value = observed(figures, threshold.metric)
    if value is None:
        return ThresholdResult(
            threshold=label,
            observed=None,
            passed=False,
            message=f"{label}: not measured ({threshold.metric} needs items, answers or a target rate)",
        )
    too_high = threshold.max is not None and value > threshold.max
    too_low = threshold.min is not None and value < threshold.min
    passed = not (too_high or too_low)
    said = f"{label}: observed {value:.4g}" + ("" if passed else " (failed)")
    return ThresholdResult(threshold=label, observed=value, passed=passed, message=said)


def nothing_succeeded(roles: list[RoleFigures]) -> str | None:
    """Why the run achieved nothing, or None: no role handled an item, every item was dropped or failed, or a
    role calling the SUT got no successful answer at all."""
    if not any(r.processed for r in roles):
        return "no role handled a single item"
    for r in roles:
        if r.kind in CALLING_ROLES and r.processed and r.processed - r.errors - r.dropped <= 0:
            return f"role {r.role} made {r.processed:,} calls and none succeeded ({r.errors:,} errors)"
    if all(r.processed and r.dropped >= r.processed for r in roles if r.processed):
        return "every item was dropped"
    return None


def verdict(run: RunSpec | None, roles: list[RoleFigures]) -> Verdict:
    """Each threshold judged on ``roles``; a run with nothing succeeding fails whatever its thresholds say."""
    by_name = {r.role: r for r in roles}
    results = [judge(t, by_name) for t in (run.thresholds if run else [])]
    failed = [r for r in results if not r.passed]
    empty = nothing_succeeded(roles)
    if empty is not None:
        return Verdict(result="Failed", reason=f"nothing succeeded: {empty}", thresholds=results)
    if failed:
        names = "; ".join(r.message for r in failed)
        return Verdict(
            result="Failed", reason=f"{len(failed)} of {len(results)} thresholds failed: {names}", thresholds=results
        )
    if results:
        return Verdict(result="Passed", reason=f"all {len(results)} thresholds held", thresholds=results)
    return Verdict(result="Passed", reason="no thresholds; items succeeded", thresholds=results)
