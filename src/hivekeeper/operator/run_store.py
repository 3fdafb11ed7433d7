"""A cluster run's record in a ConfigMap (pure): its name, its bounded content, and a recording picked up again
from it after an operator restart (decision 0012).

The ConfigMap is named after the Swarm and the run id, labelled with both, and owned by the Swarm (it goes with
it). Its data key ``run.json`` holds a :class:`~hivekeeper.report.run_document.RunDocument`, at most
``MAX_DOCUMENT_BYTES``: past that the time series is thinned (pairs of points merged) and, if it still does not fit,
the baseline (what a restarted operator needs to go on judging the whole run) goes, then the points.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

import orjson

from hivekeeper.api.run import RunSpec
from hivekeeper.api.run_status import RunStatus
from hivekeeper.api.verdict import RoleFigures
from hivekeeper.errors import InvalidInput
from hivekeeper.operator.bodies import SwarmBody, WorkerRoleBody
from hivekeeper.operator.plan import LABEL_ROLE, LABEL_SWARM
from hivekeeper.operator.run_series import MAX_POINTS, RoleRecording, RunRecording
from hivekeeper.report.run_document import DATA_KEY, LABEL_RUN, MAX_DOCUMENT_BYTES, RoleRow, RunDocument
from hivekeeper.report.timeseries import DEFAULT_INTERVAL, TimeSeries

WRITE_EVERY = 60.0
"""Seconds between writes of a running run's record (and once at the start and with the verdict): bounded etcd
writes, and at most a minute of points lost when the operator restarts."""
MAX_BASELINE_BYTES = 400 * 1024
"""The baseline (each instance's histograms) is left out past this: the run's percentiles then need the operator
to stay up (a restarted one falls back to the worst status intervals)."""


class RunRecordError(InvalidInput):
    """A run's ConfigMap that cannot be read back (not ours, or not JSON of the run record's format)."""


def configmap_name(swarm: str, run_id: str) -> str:
    """``<swarm>-run-<id>``; names past 253 characters keep a hash of the whole (a ConfigMap name's bound)."""
    name = f"{swarm}-run-{run_id}"
    if len(name) <= 253:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:10]
    return f"{name[:242]}-{digest}"


def record_labels(swarm: str) -> dict[str, str]:
    """The labels every run record of ``swarm`` carries (and the selector that finds them all)."""
    return {
        LABEL_SWARM: swarm,
        "app.kubernetes.io/component": "run-record",
        "app.kubernetes.io/managed-by": "hivekeeper",
    }


def rows(
    figures: list[RoleFigures],
    children: list[WorkerRoleBody],
    elapsed: float,
    recording: RunRecording | None = None,
) -> list[RoleRow]:
    """The report's summary rows: each role's figures over the run, its instances, and (from the recording) its
    errors by kind, business codes and dimensions."""
    instances = {c.metadata.labels.get(LABEL_ROLE) or c.metadata.name: c.status.readyReplicas for c in children}
    counted = {role: r.counted() for role, r in (recording.roles.items() if recording else [])}
    empty: tuple[dict[str, int], dict[str, int], dict[str, dict[str, int]]] = ({}, {}, {})
    return [
        RoleRow(
            name=f.role,
            role=f.kind or "",
            instances=instances.get(f.role, 0),
            processed=f.processed,
            tps=round(f.processed / elapsed, 3) if elapsed > 0 else 0.0,
            errors=f.errors,
            dropped=f.dropped,
            latencyMs=dict(f.latencyMs),
            statusCodes=dict(f.statusCodes),
            steps={step: dict(s.latencyMs) for step, s in f.steps.items()},
            errorKinds=counted.get(f.role, empty)[0],
            businessCodes=counted.get(f.role, empty)[1],
            dimensions=counted.get(f.role, empty)[2],
        )
        for f in figures
    ]


def document(
    swarm: SwarmBody,
    run: RunSpec,
    state: RunStatus,
    recording: RunRecording,
    role_rows: list[RoleRow],
    now_text: str,
) -> RunDocument:
    """The run's record as it stands at ``now_text``."""
    started = state.startedAt or recording.started_at
    until = state.finishedAt or now_text
    seconds = max((_time(until) - _time(started)).total_seconds(), 0.0)
    return RunDocument(
        namespace=swarm.namespace,
        swarm=swarm.metadata.name,
        runId=run.id,
        phase="Running" if state.phase in ("Pending", "Running") else state.phase,
        startedAt=started,
        finishedAt=state.finishedAt,
        updatedAt=now_text,
        durationSeconds=seconds,
        run=run,
        verdict=state.verdict,
        roles=role_rows,
        timeseries=recording.series.as_json(),
        baseline={
            "whole": recording.whole,
            "roles": {role: r.as_json() for role, r in recording.roles.items()},
        },
    )


def _dump(doc: RunDocument) -> bytes:
    return orjson.dumps(doc.model_dump(mode="json", exclude_none=True))


def bounded_json(doc: RunDocument, limit: int = MAX_DOCUMENT_BYTES) -> str:
    """The document's JSON within ``limit`` bytes (see the module docstring for what gives way)."""
    data = _dump(doc)
    if len(orjson.dumps(doc.baseline)) > MAX_BASELINE_BYTES:
        doc = doc.model_copy(update={"baseline": {"whole": False, "dropped": "over MAX_BASELINE_BYTES"}})
        data = _dump(doc)
    series = TimeSeries.from_json(doc.timeseries) if doc.timeseries else None
    while len(data) > limit and series is not None and any(len(p) > 1 for p in series.roles.values()):
        series.downsample()
        doc = doc.model_copy(update={"timeseries": series.as_json()})
        data = _dump(doc)
    if len(data) > limit and doc.baseline.get("roles"):
        doc = doc.model_copy(update={"baseline": {"whole": False, "dropped": "over the record's size bound"}})
        data = _dump(doc)
    if len(data) > limit:
        doc = doc.model_copy(update={"timeseries": None})
        data = _dump(doc)
    return data.decode()


def manifest(swarm: SwarmBody, doc: RunDocument, limit: int = MAX_DOCUMENT_BYTES) -> dict[str, Any]:
    """The run's ConfigMap, owned by the Swarm, for server-side apply."""
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": configmap_name(swarm.metadata.name, doc.runId),
            "namespace": swarm.namespace,
            "labels": {**record_labels(swarm.metadata.name), LABEL_RUN: doc.runId},
            "ownerReferences": [
                {
                    "apiVersion": "hivekeeper.io/v1alpha1",
                    "kind": "Swarm",
                    "name": swarm.metadata.name,
                    "uid": swarm.metadata.uid,
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "data": {DATA_KEY: bounded_json(doc, limit)},
    }


def read_document(name: str, data: dict[str, str]) -> RunDocument:
    """The run record in ConfigMap ``name``'s data; :class:`RunRecordError` when it is not one."""
    text = data.get(DATA_KEY)
    if text is None:
        raise RunRecordError(f"ConfigMap {name}: no {DATA_KEY} key; it is not a hivekeeper run record")
    if len(text) > 2 * MAX_DOCUMENT_BYTES:
        raise RunRecordError(f"ConfigMap {name}: {DATA_KEY} is {len(text):,} bytes; at most {2 * MAX_DOCUMENT_BYTES:,}")
    try:
        return RunDocument.model_validate(orjson.loads(text))
    except (orjson.JSONDecodeError, ValueError) as exc:
        raise RunRecordError(f"ConfigMap {name}: {DATA_KEY} is not a run record: {exc}") from exc


def restored(doc: RunDocument, now_mono: float, now_text: str) -> RunRecording:
    """A recording picked up from its record by an operator that restarted during the run: points since the last
    write are lost (the next point spans the gap), the whole run's histograms go on when the record kept them."""
    elapsed = max((_time(now_text) - _time(doc.startedAt)).total_seconds(), 0.0)
    series = (
        TimeSeries.from_json(doc.timeseries)
        if doc.timeseries
        else TimeSeries(interval=DEFAULT_INTERVAL, max_points=MAX_POINTS)
    )
    baseline = doc.baseline
    roles = {role: RoleRecording.from_json(data) for role, data in (baseline.get("roles") or {}).items()}
    for role, recording in roles.items():
        points = series.roles.get(role) or []
        recording.point_since = recording.pending_until = points[-1].t if points else 0.0
    return RunRecording(
        run_id=doc.runId,
        started_at=doc.startedAt,
        start=now_mono - elapsed,
        series=series,
        roles=roles,
        whole=bool(baseline.get("whole")) and bool(roles),
        written_at=now_mono,
        adopt=not roles,
    )


def _time(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
