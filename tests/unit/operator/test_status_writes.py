"""Status patches: a change of state is written at once, figures alone within a budget shared by every object."""

from __future__ import annotations

from typing import Any

from hivekeeper.operator.status_writes import FIGURE_PATCHES_PER_SECOND, MIN_INTERVAL, StatusWrites, differences

ROLE: dict[str, Any] = {
    "readyReplicas": 2,
    "appliedGeneration": 3,
    "tps": 99.5,
    "instances": [{"name": "a", "configGeneration": 3, "tps": 50.0, "lastSeen": "t1", "enabled": True}],
    "conditions": [{"type": "Ready", "status": "True"}],
}


def _with(**changes: Any) -> dict[str, Any]:
    return {**ROLE, **changes}


def test_figures_and_state_are_told_apart() -> None:
    assert differences(ROLE, dict(ROLE)) == (False, False)
    assert differences(ROLE, _with(tps=101.0)) == (True, False)
    later = [{**ROLE["instances"][0], "tps": 51.0, "lastSeen": "t2"}]
    assert differences(ROLE, _with(instances=later)) == (True, False), "an instance's rate and last report: figures"
    applied = [{**ROLE["instances"][0], "configGeneration": 4}]
    assert differences(ROLE, _with(instances=applied)) == (True, True), "an instance's generation: state"
    assert differences(ROLE, _with(appliedGeneration=4, tps=1.0)) == (True, True)
    assert differences({}, {"tps": 0.0}) == (True, True), "a key the status lacks is written once"


def test_state_is_written_at_once_and_figures_once_per_interval() -> None:
    now = [100.0]
    writes = StatusWrites(lambda: now[0])
    key = ("WorkerRole", "perf", "s-caller")
    assert writes.due(key, ROLE, _with(tps=1.0)), "never written: due"
    writes.written(key)
    now[0] += MIN_INTERVAL / 2
    assert not writes.due(key, ROLE, _with(tps=2.0)), "figures only, within the interval"
    assert writes.due(key, ROLE, _with(tps=2.0, readyReplicas=1)), "state: at once"
    assert not writes.due(key, ROLE, dict(ROLE)), "nothing changed: nothing to write"
    now[0] += MIN_INTERVAL
    assert writes.due(key, ROLE, _with(tps=3.0))


def test_the_figure_interval_grows_with_the_objects_so_the_patch_rate_stays_bounded() -> None:
    now = [0.0]
    writes = StatusWrites(lambda: now[0])
    for n in range(10):
        writes.due(("WorkerRole", "perf", f"r{n}"), ROLE, ROLE)
    assert writes.interval() == MIN_INTERVAL
    for n in range(300):
        writes.due(("WorkerRole", "perf", f"r{n}"), ROLE, ROLE)
    assert writes.interval() == 300 / FIGURE_PATCHES_PER_SECOND
    now[0] += 61  # none rolled up for a minute: they no longer share the budget
    writes.due(("WorkerRole", "perf", "r0"), ROLE, ROLE)
    assert writes.interval() == MIN_INTERVAL
