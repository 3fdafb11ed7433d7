"""``status.runs``: the last finished runs of a Swarm, newest first, each a bounded record (pure).

The Swarm's roll-up calls :func:`recorded` on every tick with the run's state as it writes it: once the run has a
verdict, its record is put in front and the list cut to :data:`~hivekeeper.api.run_status.HISTORY_LENGTH`. It is
level-based like the rest of the run: a record already in the list (same id and start) is not added again, so a
status patch that failed, or an operator restarted between the verdict and the patch, records the run once.

The record keeps only what a reader compares runs by (times, the verdict's reason, the failed thresholds, the
producers' items, each threshold's observed value), every text and list cut to a bound: the whole list stays
under :data:`MAX_HISTORY_BYTES` of JSON. Each run's figures and time series are in its own ConfigMap (``series``,
decision 0012), deleted when its record drops out of the list.
"""

from __future__ import annotations

from hivekeeper.api.run_status import (
    HISTORY_LENGTH,
    MAX_RECORDED_THRESHOLDS,
    MAX_TEXT,
    RunRecord,
    RunStatus,
    ThresholdFigure,
)

MAX_HISTORY_BYTES = 128 * 1024
"""The JSON of a full ``status.runs`` (10 records, every text and list at its bound) stays under this; a record
of a typical run is a few hundred bytes. The API server's limit for a whole object is 1.5 MiB."""


def clip(text: str, limit: int = MAX_TEXT) -> str:
    """``text`` cut to ``limit`` characters, the cut marked with an ellipsis."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def record_of(state: RunStatus) -> RunRecord | None:
    """The history record of a run that has its verdict (None for one still Pending, Running or Ending)."""
    judged = state.verdict
    if judged is None or state.phase not in ("Succeeded", "Failed"):
        return None
    ordered = sorted(judged.thresholds, key=lambda r: r.passed)  # the failed ones first: kept when cut
    return RunRecord(
        id=state.id,
        result=judged.result,
        startedAt=state.startedAt,
        finishedAt=state.finishedAt,
        endedBecause=clip(state.endedBecause) if state.endedBecause is not None else None,
        reason=clip(judged.reason),
        failed=[clip(r.threshold) for r in judged.thresholds if not r.passed][:MAX_RECORDED_THRESHOLDS],
        items=state.items,
        series=state.series,
        thresholds=[
            ThresholdFigure(threshold=clip(r.threshold), observed=r.observed, passed=r.passed)
            for r in ordered[:MAX_RECORDED_THRESHOLDS]
        ],
    )


def recorded(history: list[RunRecord], state: RunStatus | None) -> list[RunRecord] | None:
    """``history`` with the finished run ``state`` in front, cut to the last :data:`HISTORY_LENGTH` runs; None when
    there is nothing to write (no run, not finished yet, or recorded already)."""
    record = record_of(state) if state is not None else None
    if record is None:
        return None
    if any(old.id == record.id and old.startedAt == record.startedAt for old in history):
        return None
    return [record, *history][:HISTORY_LENGTH]
