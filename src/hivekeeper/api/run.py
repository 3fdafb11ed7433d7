"""``spec.run`` of a Swarm: a bounded run that answers a question.

A run says how long (``duration``), how much (``maxItems``), which load shape each producing role follows
(``stages``: k6-style steps, each moving the role's input rate linearly to a target over a duration; a step
with the same target as the one before holds it) and which thresholds decide whether the system under test
held up (the verdict). A Swarm without ``run`` keeps running until it is paused or deleted.

Changing ``run.id`` starts the run again (GitOps: no need to delete the resource). Why these are fields of the
Swarm and not a resource of their own: docs/decisions/0011-runs-on-the-swarm.md.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

MAX_RUN_SECONDS = 7 * 24 * 3600.0
MAX_STEPS = 100
MAX_THRESHOLDS = 200
MAX_RATE = 1_000_000.0
_NAME = r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$"
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")
DURATION_PATTERN = r"^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$"
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}

LATENCY_METRICS = ("p50", "p90", "p95", "p99", "max", "mean")
RATIO_METRICS = ("errorRate", "dropRate", "status4xxRate", "status5xxRate", "achievedRate")
Metric = Literal[
    "p50", "p90", "p95", "p99", "max", "mean", "errorRate", "dropRate", "status4xxRate", "status5xxRate", "achievedRate"
]


def duration_seconds(text: str) -> float:
    """Seconds of a duration like ``90s``, ``10m``, ``1h30m`` or ``250ms``; ValueError names the value and the form."""
    if not re.fullmatch(DURATION_PATTERN, text):
        raise ValueError(f"{text!r} is not a duration; write it like 90s, 10m, 1h30m or 500ms")
    seconds = sum(float(number) * _UNIT_SECONDS[unit] for number, unit in _DURATION.findall(text))
    if seconds > MAX_RUN_SECONDS:
        raise ValueError(f"{text!r} is longer than 7 days ({MAX_RUN_SECONDS:g} s), the longest run")
    return seconds


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class RateStep(_Model):
    """One step of a role's load shape: the input rate moves linearly to `target` items/s over `duration`
    (a step with the target of the step before holds the rate; a short step to a high target is a spike)."""

    duration: str = Field(pattern=DURATION_PATTERN, description="How long the step lasts, e.g. `30s`, `2m`.")
    target: float = Field(ge=0, le=MAX_RATE, description="Items per second at the end of the step.")

    @field_validator("duration")
    @classmethod
    def _bounded(cls, value: str) -> str:
        duration_seconds(value)
        return value

    @property
    def seconds(self) -> float:
        return duration_seconds(self.duration)


class RoleStages(_Model):
    """The load shape of one producing role (its input is SCHEDULER, REDIS_DATASET or CSV_DATASET): steps played
    in order from `startRate`. After the last step the rate stays at its target until the run ends."""

    role: str = Field(pattern=_NAME, description="The name of a role in `spec.roles`.")
    startRate: float = Field(default=0.0, ge=0, le=MAX_RATE, description="Items per second when the run starts.")
    steps: list[RateStep] = Field(min_length=1, max_length=MAX_STEPS, description="The steps, in order.")

    @property
    def seconds(self) -> float:
        return sum(step.seconds for step in self.steps)


class Threshold(_Model):
    """A limit on one figure of one role (or one http-sequence step) over the whole run. Latencies (`p50`, `p90`,
    `p95`, `p99`, `max`, `mean`) are in milliseconds; `errorRate`, `dropRate`, `status4xxRate`, `status5xxRate`
    are fractions of the role's items (0.01 = 1 %); `achievedRate` is the rate achieved divided by the rate
    its stages (or its config) asked for (0.95 = 95 %)."""

    role: str = Field(pattern=_NAME, description="The name of a role in `spec.roles`.")
    step: str | None = Field(
        default=None, max_length=63, description="An http-sequence step id: the threshold is on that step only."
    )
    metric: Metric = Field(description="The figure the limit applies to.")
    max: float | None = Field(default=None, ge=0, description="Passes when the figure is at most this.")
    min: float | None = Field(default=None, ge=0, description="Passes when the figure is at least this.")

    @model_validator(mode="after")
    def _a_limit(self) -> Threshold:
        if self.max is None and self.min is None:
            raise ValueError(f"threshold on {self.role} {self.metric} needs `max` or `min` (e.g. max: 300)")
        if self.max is not None and self.min is not None and self.min > self.max:
            raise ValueError(f"threshold on {self.role} {self.metric}: min {self.min:g} is above max {self.max:g}")
        if self.metric in RATIO_METRICS and self.metric != "achievedRate":
            for name, limit in (("max", self.max), ("min", self.min)):
                if limit is not None and limit > 1:
                    raise ValueError(
                        f"threshold on {self.role} {self.metric}: {name} {limit:g} is above 1; rates are fractions "
                        f"(0.01 = 1 %)"
                    )
        return self

    def label(self) -> str:
        """``caller p95 <= 300`` / ``journey/login errorRate <= 0.01``: how reports name it."""
        where = f"{self.role}/{self.step}" if self.step else self.role
        parts = []
        if self.min is not None:
            parts.append(f">= {self.min:g}")
        if self.max is not None:
            parts.append(f"<= {self.max:g}")
        return f"{where} {self.metric} {' and '.join(parts)}"


class AbortPolicy(_Model):
    """Whether a run stops early once a threshold has failed."""

    onFail: bool = Field(default=False, description="Stop the run as soon as a threshold fails.")
    graceSeconds: float = Field(
        default=30.0, ge=0, le=MAX_RUN_SECONDS, description="Thresholds do not abort the run before this."
    )


class RunSpec(_Model):
    """A bounded run: it ends by itself after `duration`, after `maxItems` items, or when its stages end; the
    workers stop cleanly (pods, queues and data stay) and the verdict says whether every threshold held."""

    id: str = Field(
        default="1", pattern=_NAME, description="The run's name; change it to start the run again (GitOps)."
    )
    duration: str | None = Field(
        default=None, pattern=DURATION_PATTERN, description="How long the run lasts, e.g. `10m` (at most 7 days)."
    )
    maxItems: int | None = Field(
        default=None, ge=1, le=10**12, description="Stop once the producing roles made this many items in all."
    )
    stages: list[RoleStages] = Field(default_factory=list, max_length=32, description="Load shapes by role.")
    thresholds: list[Threshold] = Field(
        default_factory=list, max_length=MAX_THRESHOLDS, description="Limits that decide the verdict."
    )
    abort: AbortPolicy = Field(default_factory=AbortPolicy, description="Stop early when a threshold fails.")
    ttlSecondsAfterFinished: int | None = Field(
        default=None,
        ge=0,
        le=30 * 24 * 3600,
        description="Delete the Swarm this long after the run finished (deletionPolicy says what goes with it).",
    )

    @field_validator("duration")
    @classmethod
    def _bounded(cls, value: str | None) -> str | None:
        if value is not None:
            duration_seconds(value)
        return value

    @field_validator("stages")
    @classmethod
    def _one_shape_per_role(cls, stages: list[RoleStages]) -> list[RoleStages]:
        seen: set[str] = set()
        for stage in stages:
            if stage.role in seen:
                raise ValueError(
                    f"role {stage.role!r} has two load shapes that would overlap; put all its steps in one entry"
                )
            seen.add(stage.role)
        return stages

    @model_validator(mode="after")
    def _ends(self) -> RunSpec:
        if self.duration is None and self.maxItems is None and not self.stages:
            raise ValueError("a run needs an end: set duration, maxItems or stages (or leave out run to run on)")
        if self.duration is not None and self.stages:
            longest = max(self.stages, key=lambda s: s.seconds)
            if longest.seconds > duration_seconds(self.duration) + 1e-9:
                raise ValueError(
                    f"the stages of role {longest.role!r} last {longest.seconds:g} s, longer than the run's duration "
                    f"{self.duration}; shorten them or lengthen the duration"
                )
        return self

    @property
    def seconds(self) -> float | None:
        """How long the run lasts: its duration, else its longest load shape, else unbounded (None)."""
        if self.duration is not None:
            return duration_seconds(self.duration)
        if self.stages:
            return max(stage.seconds for stage in self.stages)
        return None


def rate_at(stages: RoleStages, elapsed: float) -> float:
    """The input rate ``stages`` asks for ``elapsed`` seconds into the run (linear within a step)."""
    rate, start = stages.startRate, 0.0
    for step in stages.steps:
        end = start + step.seconds
        if elapsed < end:
            fraction = (elapsed - start) / step.seconds if step.seconds else 1.0
            return rate + (step.target - rate) * max(fraction, 0.0)
        rate, start = step.target, end
    return rate


def mean_rate(stages: RoleStages, elapsed: float) -> float | None:
    """The mean input rate ``stages`` asked for over the first ``elapsed`` seconds (None before the start):
    what an ``achievedRate`` threshold compares the rate made with."""
    if elapsed <= 0:
        return None
    samples = max(int(elapsed / 0.1), 1)
    return sum(rate_at(stages, elapsed * (i + 0.5) / samples) for i in range(samples)) / samples


def stage_boundaries(stages: RoleStages) -> list[tuple[float, float, str]]:
    """(start, end, label) of each step, for reports."""
    out, start = [], 0.0
    for index, step in enumerate(stages.steps):
        out.append((start, start + step.seconds, f"{stages.role} step {index + 1}: → {step.target:g}/s"))
        start += step.seconds
    return out


RATE_BLOCKS = {"SCHEDULER": "scheduler", "REDIS_DATASET": "redis", "CSV_DATASET": "csv"}
"""The paced inputs (a run's stages and a buffer guard set their rate), each with the ``inputs`` block that
holds its ``ratePerSec``."""


def rate_input(kind: str | None, config: dict[str, object]) -> str | None:
    """The input type of a role whose rate stages can drive (a key of :data:`RATE_BLOCKS`), else None."""
    from hivekeeper.api.roles import ROLES  # the role configs import this module's neighbours: import late

    if kind is None or kind not in ROLES:
        return None
    inputs = config.get("inputs")
    declared = inputs.get("type") if isinstance(inputs, dict) else None
    input_type = declared if isinstance(declared, str) else ROLES[kind].default_input
    return input_type if input_type in RATE_BLOCKS else None


def _step_ids(config: dict[str, object]) -> list[str]:
    steps = config.get("steps")
    if not isinstance(steps, list):
        return []
    return [
        str(step.get("id") or f"step{index}") if isinstance(step, dict) else f"step{index}"
        for index, step in enumerate(steps)
    ]


def run_problems(run: RunSpec, roles: list[tuple[str, str | None, dict[str, object]]]) -> list[str]:
    """What in ``run`` does not fit the swarm's ``roles`` ((name, built-in role, config) each): each problem
    names the field, the value and the fix."""
    kinds = {name: (kind, config) for name, kind, config in roles}
    names = ", ".join(kinds) or "none"
    problems = []
    for index, stage in enumerate(run.stages):
        where = f"run.stages[{index}].role"
        if stage.role not in kinds:
            problems.append(f"{where}: no role named {stage.role!r} in spec.roles (roles: {names})")
        elif rate_input(*kinds[stage.role]) is None:
            problems.append(
                f"{where}: role {stage.role!r} has no input rate to shape; stages drive a SCHEDULER, "
                "REDIS_DATASET or CSV_DATASET input (a generator, or a processor in direct mode)"
            )
    for index, threshold in enumerate(run.thresholds):
        where = f"run.thresholds[{index}]"
        if threshold.role not in kinds:
            problems.append(f"{where}.role: no role named {threshold.role!r} in spec.roles (roles: {names})")
            continue
        kind, config = kinds[threshold.role]
        if threshold.step is not None:
            ids = _step_ids(config) if kind == "http-sequence" else []
            if kind != "http-sequence":
                problems.append(f"{where}.step: role {threshold.role!r} is a {kind}; only http-sequence has steps")
            elif threshold.step not in ids:
                problems.append(
                    f"{where}.step: role {threshold.role!r} has no step {threshold.step!r} (steps: {', '.join(ids)})"
                )
    return problems
