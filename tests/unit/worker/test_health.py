"""A worker's health verdict: live while its event loop turns and its control connection is up (or lost for less
than its bound), ready once it runs; every "no" says why, with the bound and the variable that sets it."""

from __future__ import annotations

import pytest

from hivekeeper.worker.env import EnvError, WorkerEnv
from hivekeeper.worker.health import (
    CONTROL_LOSS_VARIABLE,
    DEFAULT_BOUNDS,
    LOOP_STALL_VARIABLE,
    OK,
    Bounds,
    Facts,
    Health,
    seconds_in,
    verdict,
)

BOUNDS = Bounds(loop_stall=10.0, control_loss=60.0)
RUNNING = Facts(heartbeat=100.0, started=True)


def test_a_running_worker_whose_loop_turned_a_moment_ago_is_live_and_ready() -> None:
    assert verdict(RUNNING, BOUNDS, now=101.0) == verdict(RUNNING, BOUNDS, now=110.0)
    found = verdict(RUNNING, BOUNDS, now=110.0)
    assert (found.live, found.ready, found.live_reason, found.ready_reason) == (True, True, OK, OK)


def test_a_loop_that_has_not_turned_past_its_bound_fails_both_and_says_for_how_long() -> None:
    found = verdict(RUNNING, BOUNDS, now=112.3)
    assert not found.live
    assert not found.ready
    assert found.live_reason.startswith("event loop has not turned for 12.3 s (bound 10 s, ")
    assert LOOP_STALL_VARIABLE in found.live_reason
    assert found.ready_reason == found.live_reason


def test_the_loop_bound_is_the_one_configured() -> None:
    assert verdict(RUNNING, Bounds(loop_stall=30.0), now=125.0).live
    assert not verdict(RUNNING, Bounds(loop_stall=2.0), now=102.5).live


def test_a_lost_control_connection_fails_readiness_at_once_and_liveness_only_past_its_bound() -> None:
    lost = Facts(heartbeat=100.0, started=True, control_lost_since=95.0)
    early = verdict(lost, BOUNDS, now=100.5)
    assert early.live
    assert not early.ready
    assert early.ready_reason == "control connection lost 5.5 s ago; reconnecting"
    turning = Facts(heartbeat=155.0, started=True, control_lost_since=95.0)
    assert verdict(turning, BOUNDS, now=155.0).live, "lost for exactly its bound: still live"
    late = verdict(turning, BOUNDS, now=160.5)
    assert not late.live
    assert not late.ready
    assert late.live_reason.startswith("control connection lost 65.5 s ago (bound 60 s, ")
    assert CONTROL_LOSS_VARIABLE in late.live_reason
    assert "a restart opens a fresh one" in late.live_reason


def test_a_stalled_loop_and_a_long_lost_connection_are_both_named() -> None:
    both = verdict(Facts(heartbeat=100.0, started=True, control_lost_since=0.0), BOUNDS, now=150.0)
    assert not both.live
    assert "event loop has not turned for 50.0 s" in both.live_reason
    assert "control connection lost 150.0 s ago" in both.live_reason


@pytest.mark.parametrize(
    ("facts", "reason"),
    [
        (Facts(heartbeat=100.0), "starting: not yet listening on its control queue"),
        (Facts(heartbeat=100.0, started=True, stopping=True), "stopping"),
    ],
)
def test_a_live_worker_is_not_ready_until_it_runs_nor_once_it_stops(facts: Facts, reason: str) -> None:
    found = verdict(facts, BOUNDS, now=101.0)
    assert found.live
    assert found.live_reason == OK
    assert not found.ready
    assert found.ready_reason == reason


def test_the_health_facts_follow_the_loop_and_the_connection() -> None:
    health = Health(BOUNDS, now=0.0)
    assert health.facts() == Facts(heartbeat=0.0)
    health.beat(5.0)
    health.started = True
    assert health.check(6.0).ready
    health.control_lost(7.0)
    health.control_lost(9.0)  # a failed reconnect: the outage still counts from its first drop
    assert health.facts().control_lost_since == 7.0
    assert not health.check(9.0).ready
    health.control_restored()
    assert health.check(9.0).ready
    assert not health.check(16.0).live, "no beat since 5.0: the loop is not turning"


def test_seconds_are_read_within_their_range_only() -> None:
    assert seconds_in("2.5", (2.0, 10.0)) == 2.5
    assert seconds_in("10", (2.0, 10.0)) == 10.0
    assert seconds_in("1.9", (2.0, 10.0)) is None
    assert seconds_in("11", (2.0, 10.0)) is None
    assert seconds_in("soon", (2.0, 10.0)) is None
    assert seconds_in("nan", (2.0, 10.0)) is None


def _env(**extra: str) -> dict[str, str]:
    return {
        "HIVEKEEPER_SWARM_ID": "ns_s",
        "HIVEKEEPER_ROLE": "caller",
        "HIVEKEEPER_ROLE_KIND": "processor",
        "HIVEKEEPER_AMQP_URL": "amqp://guest:guest@localhost/",
        "HIVEKEEPER_INSTANCE": "caller-0",
        **extra,
    }


def test_the_bounds_default_to_10_and_60_seconds_and_are_read_from_the_environment() -> None:
    assert WorkerEnv.from_environ(_env()).health_bounds == DEFAULT_BOUNDS == Bounds(10.0, 60.0)
    chosen = WorkerEnv.from_environ(_env(**{LOOP_STALL_VARIABLE: "3", CONTROL_LOSS_VARIABLE: "1.5"}))
    assert chosen.health_bounds == Bounds(loop_stall=3.0, control_loss=1.5)


def test_bad_bounds_are_refused_naming_the_variable_the_value_and_the_range() -> None:
    with pytest.raises(EnvError) as refused:
        WorkerEnv.from_environ(_env(**{LOOP_STALL_VARIABLE: "1", CONTROL_LOSS_VARIABLE: "forever"}))
    message = str(refused.value)
    assert f"{LOOP_STALL_VARIABLE}='1' must be a number of seconds from 2 to 3600 (default 10)" in message
    assert f"{CONTROL_LOSS_VARIABLE}='forever' must be a number of seconds from 1 to 86400 (default 60)" in message
