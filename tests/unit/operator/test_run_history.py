"""``status.runs``: the last finished runs of a Swarm, newest first, bounded; recorded once by the roll-up."""

from __future__ import annotations

import json

from hivekeeper.api.run_status import HISTORY_LENGTH, MAX_RECORDED_THRESHOLDS, MAX_TEXT, RunRecord, RunStatus
from hivekeeper.api.verdict import ThresholdResult, Verdict
from hivekeeper.operator import run_history


def finished(
    run_id: str = "1", *, started: str = "2026-01-01T00:00:00Z", failed: int = 0, passed: int = 1
) -> RunStatus:
    results = [
        ThresholdResult(threshold=f"caller p95 <= {n}", observed=900.0, passed=False, message="failed")
        for n in range(failed)
    ] + [
        ThresholdResult(threshold=f"caller p99 <= {n}", observed=1.5, passed=True, message="ok") for n in range(passed)
    ]
    judged = Verdict(result="Failed" if failed else "Passed", reason="some reason", thresholds=results)
    return RunStatus(
        id=run_id,
        phase="Failed" if failed else "Succeeded",
        startedAt=started,
        finishedAt="2026-01-01T00:00:20Z",
        endedBecause="the run's 20 s are over",
        verdict=judged,
        items=4900,
    )


def test_a_finished_run_goes_in_front_and_the_list_keeps_the_last_ten() -> None:
    history: list[RunRecord] = []
    for n in range(12):
        new = run_history.recorded(history, finished(str(n), started=f"2026-01-01T00:00:{n:02d}Z"))
        assert new is not None
        history = new
    assert len(history) == HISTORY_LENGTH
    assert [r.id for r in history] == [str(n) for n in range(11, 1, -1)]  # newest first
    assert history[0].items == 4900
    assert history[0].result == "Passed"


def test_a_run_is_recorded_once_and_not_before_its_verdict() -> None:
    state = finished()
    history = run_history.recorded([], state)
    assert history is not None
    assert run_history.recorded(history, state) is None  # the next tick sees it recorded
    running_state = state.model_copy(update={"phase": "Running", "verdict": None})
    assert run_history.recorded([], running_state) is None
    assert run_history.recorded([], None) is None
    again = run_history.recorded(history, finished(started="2026-01-01T00:00:40Z"))  # the same id run again later
    assert again is not None
    assert len(again) == 2


def test_a_record_keeps_the_failed_labels_first_and_is_bounded() -> None:
    record = run_history.record_of(finished(failed=3, passed=30))
    assert record is not None
    assert record.result == "Failed"
    assert record.failed == ["caller p95 <= 0", "caller p95 <= 1", "caller p95 <= 2"]
    assert len(record.thresholds) == MAX_RECORDED_THRESHOLDS
    assert [t.passed for t in record.thresholds[:4]] == [False, False, False, True]
    assert record.thresholds[0].observed == 900.0


def test_the_whole_history_at_its_bounds_stays_under_the_documented_size() -> None:
    long = "x" * 1000
    results = [
        ThresholdResult(threshold=f"{n}{long}", observed=-1.2345678901234567e300, passed=False, message=long)
        for n in range(200)
    ]
    state = RunStatus(
        id="r" * 63,
        phase="Failed",
        startedAt="2026-01-01T00:00:00Z",
        finishedAt="2026-01-01T00:00:20Z",
        endedBecause=long,
        verdict=Verdict(result="Failed", reason=long, thresholds=results),
        items=10**12,
    )
    record = run_history.record_of(state)
    assert record is not None
    assert len(record.reason) == MAX_TEXT
    assert record.reason.endswith("…")
    assert len(record.failed) == MAX_RECORDED_THRESHOLDS
    assert all(len(label) <= MAX_TEXT for label in record.failed)
    full = [record.model_copy(update={"startedAt": f"2026-01-01T00:00:{n:02d}Z"}) for n in range(HISTORY_LENGTH)]
    size = len(json.dumps([r.model_dump(mode="json", exclude_none=True) for r in full]).encode())
    assert size <= run_history.MAX_HISTORY_BYTES, size
