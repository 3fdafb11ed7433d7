"""Which stored run ``hivekeeper report`` shows: the current run's record by default, else the newest finished
one with a record; ``--run ID`` the record of that id; and each way there is none said with the fix."""

from __future__ import annotations

from typing import Any

import pytest

from hivekeeper.errors import InvalidInput
from hivekeeper.report.run_choice import NoRunSeries, NoSuchRun, choose, entries

REF = "perf/staged-run"


def body(run: dict[str, Any] | None = None, runs: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    status: dict[str, Any] = {"observedGeneration": 3}
    if run is not None:
        status["run"] = run
    if runs is not None:
        status["runs"] = runs
    return {
        "apiVersion": "hivekeeper.io/v1alpha1",
        "kind": "Swarm",
        "metadata": {"name": "staged-run"},
        "status": status,
    }


HISTORY = [
    {"id": "r2", "result": "Failed", "reason": "...", "series": "staged-run-r2"},
    {"id": "r1", "result": "Passed", "reason": "...", "series": "staged-run-r1"},
    {"id": "r0", "result": "Passed", "reason": "..."},  # recorded by an operator that stored no series
]


def test_by_default_the_current_run_s_record() -> None:
    current = {"id": "r3", "phase": "Running", "series": "staged-run-r3"}
    assert choose(REF, body(current, HISTORY)) == ("r3", "staged-run-r3")


def test_a_current_run_without_a_record_falls_back_to_the_newest_finished_run_that_has_one() -> None:
    assert choose(REF, body({"id": "r3", "phase": "Pending"}, HISTORY)) == ("r2", "staged-run-r2")
    assert choose(REF, body(None, HISTORY[1:])) == ("r1", "staged-run-r1")


def test_run_id_picks_the_current_run_first_then_the_history() -> None:
    current = {"id": "r2", "phase": "Failed", "series": "staged-run-r2-current"}
    assert choose(REF, body(current, HISTORY), "r2") == ("r2", "staged-run-r2-current")
    assert choose(REF, body(current, HISTORY), "r1") == ("r1", "staged-run-r1")
    assert choose(REF, body({"id": "r2", "phase": "Failed"}, HISTORY), "r2") == ("r2", "staged-run-r2")


def test_an_unknown_run_id_lists_the_ids_the_swarm_has() -> None:
    with pytest.raises(NoSuchRun) as caught:
        choose(REF, body({"id": "r3", "phase": "Running", "series": "s"}, HISTORY), "r9")
    assert str(caught.value) == (
        "swarm perf/staged-run has no run 'r9'; its runs: r3 (Running), r2, r1, r0; give one of them to --run"
    )


def test_a_swarm_without_runs_says_so() -> None:
    for empty in (body(), body(None, []), {"metadata": {"name": "staged-run"}}):
        with pytest.raises(NoSuchRun, match=r"^swarm perf/staged-run has no runs: it has no spec.run, or the"):
            choose(REF, empty)
        with pytest.raises(NoSuchRun):
            choose(REF, empty, "r1")


def test_a_run_without_a_stored_record_says_why_and_what_to_do() -> None:
    with pytest.raises(NoRunSeries) as caught:
        choose(REF, body(None, HISTORY), "r0")
    assert str(caught.value) == (
        "swarm perf/staged-run: run 'r0' has no stored record (no series in its status): it ran under an operator "
        "that does not store runs (upgrade the operator; later runs are stored)"
    )
    with pytest.raises(NoRunSeries, match=r"run 'r3' has no stored record .*: it has not started yet \(Pending\)"):
        choose(REF, body({"id": "r3", "phase": "Pending"}, HISTORY), "r3")


def test_no_run_with_a_record_at_all_lists_them_and_points_to_history() -> None:
    with pytest.raises(NoRunSeries) as caught:
        choose(REF, body({"id": "r1", "phase": "Pending"}, [HISTORY[2]]))
    message = str(caught.value)
    assert message.startswith("swarm perf/staged-run: none of its runs (r1 (Pending), r0) has a stored record")
    assert message.endswith("hivekeeper history perf/staged-run lists their verdicts")


def test_the_errors_are_bad_input_and_an_empty_series_counts_as_none() -> None:
    assert issubclass(NoSuchRun, InvalidInput)
    assert issubclass(NoRunSeries, InvalidInput)
    [current] = entries(body({"id": "r1", "phase": "Running", "series": ""}))
    assert (current.id, current.series, current.current) == ("r1", None, True)
