"""``hivekeeper run``'s figures merge each role's (and each http-sequence step's) latency histograms across its
instances: the percentile of all the requests, not the worst instance's."""

from __future__ import annotations

from types import SimpleNamespace
from typing import cast

import pytest

from hivekeeper.local.local_swarm import LocalSwarm
from hivekeeper.local.run_plan import figures
from hivekeeper.worker.stats import RoleStats


def _stats(step_ms: dict[str, list[float]]) -> RoleStats:
    stats = RoleStats()
    for step, values in step_ms.items():
        for ms in values:
            stats.latency.record(ms / 1000)
            stats.step(step).record(ms / 1000)
        stats.processed += len(values)
    return stats


def test_a_role_and_its_steps_are_the_merged_histograms_of_its_instances() -> None:
    fast = _stats({"login": [2.0] * 95, "pay": [10.0] * 95})
    slow = _stats({"login": [800.0] * 5, "pay": [900.0] * 5})
    spec = SimpleNamespace(name="journeys", role="http-sequence", work=SimpleNamespace(in_=None, out=None))
    local = SimpleNamespace(
        swarm=SimpleNamespace(spec=SimpleNamespace(roles=[spec], run=None)),
        workers={"journeys": [SimpleNamespace(stats=fast), SimpleNamespace(stats=slow)]},
    )
    [role] = figures(cast(LocalSwarm, local), elapsed=10.0)
    assert role.latencyMs["p50"] == pytest.approx(10.0, rel=0.07)
    assert role.latencyMs["p90"] == pytest.approx(10.0, rel=0.07)
    assert set(role.steps) == {"login", "pay"}
    assert role.steps["login"].latencyMs["p95"] == pytest.approx(2.0, rel=0.07), "not the slow instance's 800 ms"
    assert role.steps["login"].latencyMs["p99"] == pytest.approx(800.0, rel=0.07)
    assert role.steps["pay"].latencyMs["max"] == pytest.approx(900.0, rel=0.07)
