"""A cluster run's stored record (:class:`~hivekeeper.report.run_document.RunDocument`, the ``run.json`` of its
ConfigMap) as the report a local run gets: the same :class:`~hivekeeper.report.model.Report`, drawn by the same
renderer, so ``hivekeeper report NAMESPACE/SWARM`` and ``hivekeeper run --report`` look alike.

:func:`parse_document` reads the ConfigMap's text, bounded and checked (a record another tool or version wrote is
said as such, naming the ConfigMap); :func:`to_report` converts. Pure: the command reads the cluster.
"""

from __future__ import annotations

import datetime as dt
import json

from pydantic import ValidationError

from hivekeeper.errors import InvalidInput
from hivekeeper.report.model import Report, RunMarks, SwarmRun
from hivekeeper.report.run_document import FORMAT, MAX_DOCUMENT_BYTES, VERSION, RunDocument
from hivekeeper.report.run_marks import marks
from hivekeeper.report.timeseries import TimeSeries

MAX_READ_BYTES = MAX_DOCUMENT_BYTES * 2
"""The largest ``run.json`` a reader accepts: twice what the operator writes, so a record from a slightly different
writer still reads, while a runaway one is refused before it is parsed."""


class BadRunDocument(InvalidInput):
    """A ConfigMap's ``run.json`` is not a run record this hivekeeper can read (too large, not JSON, another format
    or version, a field of the wrong shape)."""


def parse_document(text: str | bytes, where: str) -> RunDocument:
    """The record in ``text`` (the ConfigMap's ``run.json``); ``where`` names the ConfigMap in the errors."""
    size = len(text.encode() if isinstance(text, str) else text)
    if size > MAX_READ_BYTES:
        raise BadRunDocument(
            f"{where}: run.json is {size:,} bytes, more than the {MAX_READ_BYTES:,} a run record may have; "
            "it was not written by the hivekeeper operator (delete the ConfigMap, or pick another run with --run)"
        )
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise BadRunDocument(f"{where}: run.json is not JSON ({exc}); the ConfigMap was edited or cut") from exc
    if not isinstance(data, dict):
        raise BadRunDocument(f"{where}: run.json holds a {type(data).__name__}, not a run record (a JSON object)")
    if data.get("format") != FORMAT or data.get("version") != VERSION:
        raise BadRunDocument(
            f"{where}: run.json has format {data.get('format')!r} version {data.get('version')!r}, not {FORMAT!r} "
            f"version {VERSION}: another tool wrote it, or a newer hivekeeper (use the hivekeeper of the operator)"
        )
    try:
        document = RunDocument.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(part) for part in first["loc"]) or "(the record)"
        raise BadRunDocument(
            f"{where}: run.json field {field}: {first['msg']} ({exc.error_count()} problem(s)); "
            "the record is damaged or from another hivekeeper version"
        ) from exc
    for field, value in (
        ("startedAt", document.startedAt),
        ("updatedAt", document.updatedAt),
        ("finishedAt", document.finishedAt),
    ):
        try:
            if value is not None:
                unix_time(value)
        except ValueError as exc:
            raise BadRunDocument(f"{where}: run.json field {field}: {value!r} is not an RFC 3339 time") from exc
    try:
        if document.timeseries is not None:
            TimeSeries.from_json(document.timeseries)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise BadRunDocument(
            f"{where}: run.json field timeseries is malformed ({type(exc).__name__}: {exc}); the record is damaged"
        ) from exc
    return document


def unix_time(text: str) -> float:
    """Unix time of an RFC 3339 time (``Z`` or an offset; one without an offset is taken as UTC)."""
    moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.timestamp()


def _shown(text: str) -> str:
    return dt.datetime.fromtimestamp(unix_time(text), dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def subtitle(document: RunDocument) -> str:
    """One line on where and when it ran, and, while it runs, that the verdict is still to come."""
    started = f"on the cluster in namespace {document.namespace}: started {_shown(document.startedAt)}"
    if document.phase == "Running":
        judged = len(document.run.thresholds)
        later = f"; its {judged} threshold(s) are judged when it ends" if judged else ""
        return f"Running {started}; last updated at {_shown(document.updatedAt)}: no verdict yet{later}."
    finished = f", finished {_shown(document.finishedAt)}" if document.finishedAt else ""
    missing = "" if document.verdict is not None else "; no verdict was recorded"
    return f"Ran {started}{finished} ({document.phase}){missing}."


def to_report(document: RunDocument) -> Report:
    """The report of one cluster run: its roles' rows, its time series, its stages and (once judged) its verdict.

    A run still going has no verdict: its thresholds are not drawn (they would read as failed), its stages are."""
    verdict = document.verdict.model_dump(mode="json") if document.verdict is not None else None
    run_marks = marks(document.run, verdict)
    if verdict is None:
        run_marks = RunMarks(stages=run_marks.stages)
    run = SwarmRun(
        swarm=f"{document.namespace}/{document.swarm}",
        duration_seconds=document.durationSeconds,
        started_at=unix_time(document.startedAt),
        roles=[role.model_dump(mode="json") for role in document.roles],
        timeseries=TimeSeries.from_json(document.timeseries) if document.timeseries else None,
        marks=run_marks,
    )
    title = f"hivekeeper run {document.runId} of {document.namespace}/{document.swarm}"
    return Report(title, [run], subtitle=subtitle(document))
