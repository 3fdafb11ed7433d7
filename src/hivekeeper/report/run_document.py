"""A cluster run's stored record: what the operator keeps of one run of a Swarm in a ConfigMap (decision 0012),
and what ``hivekeeper report NAMESPACE/SWARM`` renders.

The operator writes it at the run's start, about once a minute while it runs and once with the verdict, under the
data key :data:`DATA_KEY` of the ConfigMap named in ``status.run.series`` and ``status.runs[].series``. It holds
the ``spec.run`` the run played (the Swarm's spec may have moved on to a new run since), the figures per role at
the end, the verdict, and the time series in the same form as a local run's ``--json`` ``timeseries``, so that a
cluster run and a local run render through the same report.

``baseline`` is the operator's own: each role's latency histograms (and counters) when the run started, so that an
operator restarted during a run still judges the whole run's percentiles (the run's histogram is the histogram at
the end minus this one). A reader ignores it.

Bounded: the JSON is at most :data:`MAX_DOCUMENT_BYTES`; the writer downsamples the series (and drops the baseline's
step histograms, then the baseline) until it fits.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from hivekeeper.api.run import RunSpec
from hivekeeper.api.verdict import Verdict

DATA_KEY = "run.json"
FORMAT: Literal["hivekeeper.io/run-record"] = "hivekeeper.io/run-record"
VERSION: Literal[1] = 1
MAX_DOCUMENT_BYTES = 900 * 1024
"""Under the API server's 1 MiB bound for a ConfigMap's data, with room for its metadata."""
LABEL_RUN = "hivekeeper.io/run"
"""Label of a run's ConfigMap: the run id (next to ``hivekeeper.io/swarm``)."""


class RoleRow(BaseModel):
    """One role's figures over the run: the report's summary row (the keys of a local run's ``roles[]``)."""

    model_config = ConfigDict(extra="ignore")

    name: str
    role: str = Field(description="The role kind (generator, processor, ...).")
    instances: int = 0
    processed: int = 0
    tps: float = Field(default=0.0, description="Items per second over the run.")
    errors: int = 0
    dropped: int = 0
    latencyMs: dict[str, float] = Field(default_factory=dict, description="p50, p90, p95, p99, max, mean (ms).")
    statusCodes: dict[str, int] = Field(default_factory=dict)
    steps: dict[str, dict[str, float]] = Field(
        default_factory=dict, description="Per http-sequence step: its latency percentiles (ms)."
    )
    errorKinds: dict[str, int] = Field(
        default_factory=dict, description="Errors by kind (connect, timeout, business, http <code>, ...)."
    )
    businessCodes: dict[str, int] = Field(default_factory=dict, description="Answers by business code (resultRules).")
    dimensions: dict[str, dict[str, int]] = Field(
        default_factory=dict, description="Answers by each resultRules dimension's value."
    )


class RunDocument(BaseModel):
    """One run of a Swarm on the cluster, as its ConfigMap holds it."""

    model_config = ConfigDict(extra="ignore")

    format: Literal["hivekeeper.io/run-record"] = FORMAT
    version: Literal[1] = VERSION
    namespace: str
    swarm: str
    runId: str
    phase: Literal["Running", "Succeeded", "Failed"] = "Running"
    startedAt: str = Field(description="When the load started (RFC 3339).")
    finishedAt: str | None = None
    updatedAt: str = Field(description="When the operator last wrote this record (RFC 3339).")
    durationSeconds: float = Field(default=0.0, description="Seconds from the start to the end (or to updatedAt).")
    run: RunSpec = Field(description="The spec.run this run played.")
    verdict: Verdict | None = None
    roles: list[RoleRow] = Field(default_factory=list)
    timeseries: dict[str, Any] | None = Field(
        default=None, description="report.timeseries.TimeSeries as JSON (one point per role per interval)."
    )
    baseline: dict[str, Any] = Field(default_factory=dict, description="The operator's own; readers ignore it.")
