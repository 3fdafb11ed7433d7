"""``status.run`` of a Swarm: where the operator is in playing ``spec.run``, and the verdict once it ended.

Written by the operator's roll-up (docs/runs.md); read by ``kubectl`` (printer columns), ``kubectl wait
--for=condition=Completed`` (the condition next to it), and the Argo CD / Flux health checks.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from hivekeeper.api.verdict import Verdict

RunPhase = Literal["Pending", "Running", "Succeeded", "Failed"]


class RunCounters(BaseModel):
    """A role's counters (since its workers started) when the run started: the run's figures are the
    counters at its end minus these, so a run started again counts only its own items."""

    model_config = ConfigDict(extra="forbid")

    processed: int = 0
    errors: int = 0
    dropped: int = 0
    statusCodes: dict[str, int] = Field(default_factory=dict)


class RunStatus(BaseModel):
    """The run of `spec.run` with the id `id`: Pending (waiting for every worker), Running, then Succeeded
    (the verdict passed) or Failed (a threshold failed, or nothing succeeded)."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(description="The spec.run.id this status is about; a new id starts the run again.")
    phase: RunPhase = Field(default="Pending", description="Pending, Running, Succeeded or Failed.")
    startedAt: str | None = Field(default=None, description="When the load started (RFC 3339).")
    finishedAt: str | None = Field(
        default=None,
        description=(
            "When the run ended and the producers stopped (RFC 3339); the verdict follows a few seconds later, "
            "once the workers' last figures are in (the phase stays Running until then)."
        ),
    )
    endedBecause: str | None = Field(
        default=None, description="Why it ended: its duration is over, the item budget is made, or aborted."
    )
    verdict: Verdict | None = Field(default=None, description="Each threshold's observed value and limit.")
    latencyMs: dict[str, dict[str, float]] = Field(
        default_factory=dict,
        description=(
            "By role, the worst p50/p95/p99 (ms) of the roles' status intervals during the run: what latency "
            "thresholds fall back to when the operator lost the run's record (the whole run's percentiles come "
            "from the record)."
        ),
    )
    baseline: dict[str, RunCounters] = Field(
        default_factory=dict, description="Each role's counters when the run started (by role name)."
    )
    items: int | None = Field(
        default=None, description="Items the producing roles (no work.in) made during the run; set with the verdict."
    )
    series: str | None = Field(
        default=None,
        max_length=253,
        description=(
            "The ConfigMap holding the run's record (figures, verdict, time series); `hivekeeper report "
            "NAMESPACE/SWARM` renders it."
        ),
    )


HISTORY_LENGTH = 10
"""``status.runs`` keeps the last this many finished runs."""
MAX_RECORDED_THRESHOLDS = 20
"""A history entry keeps at most this many failed labels and this many observed values."""
MAX_TEXT = 200
"""A history entry's texts (reason, why it ended, threshold labels) are cut to this many characters."""


class ThresholdFigure(BaseModel):
    """One threshold's observed value in a finished run."""

    model_config = ConfigDict(extra="forbid")

    threshold: str = Field(max_length=MAX_TEXT, description="The threshold as written, e.g. `caller p95 <= 300`.")
    observed: float | None = Field(default=None, description="The figure measured; absent when the run gave none.")
    passed: bool


class RunRecord(BaseModel):
    """A finished run in status.runs: its verdict and key figures, bounded in size (decision 0012)."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(max_length=63, description="The spec.run.id of the run.")
    result: Literal["Passed", "Failed"] = Field(description="The verdict: Passed or Failed.")
    startedAt: str | None = Field(default=None, description="When the load started (RFC 3339).")
    finishedAt: str | None = Field(default=None, description="When the run ended (RFC 3339).")
    endedBecause: str | None = Field(default=None, max_length=MAX_TEXT, description="Why it ended.")
    reason: str = Field(max_length=MAX_TEXT, description="The verdict's reason (cut to 200 characters).")
    failed: list[Annotated[str, StringConstraints(max_length=MAX_TEXT)]] = Field(
        default_factory=list,
        max_length=MAX_RECORDED_THRESHOLDS,
        description="The labels of the thresholds that failed (at most 20).",
    )
    items: int | None = Field(default=None, description="Items the producing roles made during the run.")
    series: str | None = Field(
        default=None, max_length=253, description="The ConfigMap holding the run's record and time series."
    )
    thresholds: list[ThresholdFigure] = Field(
        default_factory=list,
        max_length=MAX_RECORDED_THRESHOLDS,
        description="Each threshold's observed value (at most 20, the failed ones first).",
    )
