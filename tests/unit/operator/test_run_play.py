"""``spec.run`` on the cluster: the Swarm roll-up starts the run, writes the staged rates, ends it, judges the
verdict, emits the Event and deletes the Swarm after its time to live; on the fakes."""

from __future__ import annotations

from hivekeeper.operator import plan, run_play, swarm_reconcile
from hivekeeper.operator.bodies import SwarmBody
from hivekeeper.operator.swarm_rollup import roll_up_swarm
from operator_harness import NAMESPACE, Operator
from run_harness import (
    CALLER_OK,
    START,
    _at,
    applied,
    completed,
    end,
    feeder,
    feeder_rate,
    run_status,
    running,
    staged,
    start,
    stored,
    tick,
    with_children,
)


async def test_the_run_waits_pending_with_the_producers_stopped_until_every_worker_reports() -> None:
    op = Operator()
    swarm = staged()
    with_children(op, swarm, ready=False)
    swarm = await tick(op, swarm, START)
    assert run_status(op) == {"id": "1", "phase": "Pending"}
    assert feeder(op)["paused"] is True  # no load before the start
    assert op.cluster.workerrole_bodies[(NAMESPACE, "staged-run-caller")]["spec"]["paused"] is False
    assert completed(op)["status"] == "False"
    assert completed(op)["reason"] == "Pending"


async def test_the_run_starts_once_every_worker_reports_at_the_start_rate_with_the_counters_as_baseline() -> None:
    op = Operator()
    swarm = staged()
    with_children(op, swarm, ready=False)
    swarm = await tick(op, swarm, START)
    with_children(op, swarm, caller={"processed": 7, "errors": 1})
    swarm = await tick(op, swarm, _at(3))
    assert run_status(op)["phase"] == "Pending"  # the producers are released: the run starts once they run
    assert feeder(op)["paused"] is False
    await start(op, swarm, _at(3), caller={"processed": 7, "errors": 1})
    run = run_status(op)
    assert (run["phase"], run["startedAt"]) == ("Running", _at(3))
    assert run["baseline"]["caller"] == {"processed": 7, "errors": 1, "dropped": 0, "statusCodes": {}}
    assert feeder(op)["paused"] is False
    assert feeder_rate(op) == 40.0  # the ramp 1 s ahead (the middle of the interval until the next roll-up)
    assert completed(op)["reason"] == "Running"


async def test_staged_rates_are_written_only_when_they_moved_by_more_than_one_percent() -> None:
    op = Operator()
    swarm = await running(op)
    op.cluster.calls.clear()
    await tick(op, swarm, _at(2))  # ramp 0 → 200 over 5 s, taken 1 s ahead: 120/s
    assert feeder_rate(op) == 120.0
    assert applied(op) == ["staged-run-feeder"]
    # the WorkerRole reconcile pushes it live: the written config is the one a config-update carries
    assert plan.config_digest(feeder(op)["config"], True) in str(op.cluster.workerrole_bodies)
    op.cluster.calls.clear()
    with_children(op, swarm)
    await tick(op, swarm, _at(2))
    assert applied(op) == []  # no change, no API call
    assert run_play.staged_rates(swarm, await op.cluster.workerroles(NAMESPACE, "staged-run"), 2.02) == {
        "feeder": ("scheduler", 120.0)  # 120.8/s is within 1 % of the 120/s held: left alone
    }
    await tick(op, swarm, _at(13))  # the spike: 200 → 600 over 2 s from 13 s
    assert feeder_rate(op) == 400.0


async def test_the_run_ends_when_its_duration_is_over_stops_the_producers_and_passes() -> None:
    op = Operator()
    swarm = await running(op)
    with_children(op, swarm, caller=CALLER_OK, feeder={"processed": 4900})
    swarm = await end(op, swarm, 20)
    run = run_status(op)
    assert run["phase"] == "Succeeded"
    assert run["finishedAt"] == _at(20)
    assert run["endedBecause"] == "the run's 20 s are over"
    assert run["verdict"]["result"] == "Passed", run["verdict"]
    assert feeder(op)["paused"] is True  # Stop, not Remove: the consumers drain, pods and queues stay
    assert op.cluster.workerrole_bodies[(NAMESPACE, "staged-run-caller")]["spec"]["paused"] is False
    assert completed(op) | {"lastTransitionTime": ""} == {
        "type": "Completed",
        "status": "True",
        "reason": "Passed",
        "message": "run 1 passed: all 4 thresholds held",
        "lastTransitionTime": "",
        "observedGeneration": 1,
    }
    assert op.cluster.events == [("staged-run", "Normal", "RunPassed", "run 1 passed: all 4 thresholds held")]
    op.cluster.calls.clear()
    await tick(op, swarm, _at(35))  # finished: nothing more happens
    assert op.cluster.events[1:] == []
    assert applied(op) == []


async def test_a_failed_threshold_fails_the_run_with_a_warning_event_naming_it() -> None:
    op = Operator()
    swarm = await running(op)
    slow = {**CALLER_OK, "latencyMs": {"p50": 200, "p95": 900, "p99": 1500}}
    with_children(op, swarm, caller=slow, feeder={"processed": 4900})
    await end(op, swarm, 20)
    run = run_status(op)
    assert run["phase"] == "Failed"
    assert run["verdict"]["result"] == "Failed"
    assert completed(op)["reason"] == "Failed"
    assert completed(op)["status"] == "True"
    [(_, kind, reason, message)] = op.cluster.events
    assert (kind, reason) == ("Warning", "RunFailed")
    assert message == "run 1 failed: caller p95 <= 300: observed 900 (failed)"


async def test_the_figures_count_from_the_run_start_not_from_the_workers_start() -> None:
    op = Operator()
    swarm = await running(op, caller={"processed": 1000, "errors": 1000, "statusCodes": {"500": 1000}})
    # 1000 failed calls before the run (a former run); the run's own 3000 calls all passed
    caller = {"processed": 4000, "errors": 1000, "statusCodes": {"200": 3000, "500": 1000}, "latencyMs": {"p95": 20}}
    with_children(op, swarm, caller=caller, feeder={"processed": 4900})
    await end(op, swarm, 20)
    assert run_status(op)["verdict"]["result"] == "Passed", run_status(op)["verdict"]


async def test_the_run_ends_when_the_producers_made_the_item_budget() -> None:
    op = Operator()
    swarm = await start(op, staged(maxItems=500), START)
    with_children(op, swarm, feeder={"processed": 499}, caller=CALLER_OK)
    swarm = await tick(op, swarm, _at(5))
    assert run_status(op)["phase"] == "Running"
    with_children(op, swarm, feeder={"processed": 500}, caller=CALLER_OK)
    await end(op, swarm, 6)
    assert run_status(op)["endedBecause"] == "the item budget of 500 is made"
    assert feeder(op)["paused"] is True


async def test_abort_on_fail_ends_the_run_early_but_not_before_the_grace_period() -> None:
    op = Operator()
    swarm = await start(op, staged(abort={"onFail": True, "graceSeconds": 5}), START)
    failing = {**CALLER_OK, "errors": 600}
    with_children(op, swarm, caller=failing, feeder={"processed": 100})
    swarm = await tick(op, swarm, _at(4))
    assert run_status(op)["phase"] == "Running"  # within the grace period
    await end(op, swarm, 6)
    run = run_status(op)
    assert run["phase"] == "Failed"
    assert run["endedBecause"] == "aborted after 6 s: caller errorRate <= 0.01: observed 0.2 (failed)"


async def test_a_new_run_id_starts_the_run_again_and_drops_the_last_verdict() -> None:
    op = Operator()
    swarm = await running(op)
    with_children(op, swarm, caller=CALLER_OK, feeder={"processed": 4900})
    swarm = await end(op, swarm, 20)
    again = stored(op, staged(status=swarm.status.model_dump(mode="json", exclude_unset=True), id="2"))
    with_children(op, again, caller=CALLER_OK, feeder={"processed": 4900})
    again = await tick(op, again, _at(30))
    pending = run_status(op)
    assert (pending["id"], pending["phase"]) == ("2", "Pending")
    assert pending["finishedAt"] is None  # merge-patch nulls: the last run's end and verdict go
    assert pending["verdict"] is None
    assert pending["endedBecause"] is None
    again = await start(op, again, _at(31), caller=CALLER_OK, feeder={"processed": 4900})
    run = run_status(op)
    assert (run["id"], run["phase"], run["startedAt"]) == ("2", "Running", _at(31))
    assert feeder(op)["paused"] is False
    assert again.status.run is not None
    assert again.status.run.verdict is None


async def test_the_swarm_is_deleted_its_ttl_after_the_run_finished() -> None:
    op = Operator()
    swarm = await start(op, staged(ttlSecondsAfterFinished=60), START)
    with_children(op, swarm, caller=CALLER_OK, feeder={"processed": 4900})
    swarm = await end(op, swarm, 20)
    swarm = await tick(op, swarm, _at(79))
    assert ("delete-swarm", "staged-run") not in op.cluster.calls
    await tick(op, swarm, _at(80))
    assert ("delete-swarm", "staged-run") in op.cluster.calls


async def test_an_edit_during_the_run_keeps_the_producers_stopped_and_the_staged_rate() -> None:
    op = Operator()
    swarm = await running(op)
    swarm = await tick(op, swarm, _at(10))
    assert feeder_rate(op) == 200.0
    await swarm_reconcile.reconcile_swarm(op.runtime, swarm)  # e.g. the caller's replicas edited
    assert feeder_rate(op) == 200.0
    assert feeder(op)["paused"] is False
    with_children(op, swarm, caller=CALLER_OK, feeder={"processed": 4900})
    swarm = await end(op, swarm, 20)
    await swarm_reconcile.reconcile_swarm(op.runtime, swarm)
    assert feeder(op)["paused"] is True


async def test_a_swarm_without_a_run_has_no_run_status_and_no_completed_condition() -> None:
    op = Operator()
    data = staged().model_dump(mode="json", by_alias=True, exclude_none=True)
    del data["spec"]["run"]
    swarm = SwarmBody.model_validate(data)
    with_children(op, swarm)
    await roll_up_swarm(op.runtime, swarm)
    status = op.cluster.swarm_statuses[(NAMESPACE, "staged-run")]
    assert "run" not in status
    assert "Completed" not in {c["type"] for c in status["conditions"]}
    assert feeder(op)["paused"] is False


async def test_removing_spec_run_lets_the_producers_run_on_and_drops_the_run_status() -> None:
    op = Operator()
    swarm = await running(op)
    with_children(op, swarm, caller=CALLER_OK, feeder={"processed": 4900})
    swarm = await end(op, swarm, 20)
    assert feeder(op)["paused"] is True
    data = swarm.model_dump(mode="json", by_alias=True, exclude_none=True)
    del data["spec"]["run"]
    without = SwarmBody.model_validate(data)
    await swarm_reconcile.reconcile_swarm(op.runtime, without)
    assert feeder(op)["paused"] is False
    await tick(op, without, _at(30))
    assert op.cluster.swarm_statuses[(NAMESPACE, "staged-run")]["run"] is None


async def test_the_verdict_waits_for_the_workers_last_figures_after_the_end() -> None:
    op = Operator()
    swarm = await running(op)
    swarm = await tick(op, swarm, _at(20))
    run = run_status(op)
    assert (run["phase"], run["finishedAt"], run["endedBecause"]) == ("Running", _at(20), "the run's 20 s are over")
    assert feeder(op)["paused"] is True  # the load stops at the end
    assert completed(op)["reason"] == "Ending"
    assert op.cluster.events == []
    with_children(op, swarm, caller=CALLER_OK, feeder={"processed": 4900})  # the last reports came in
    await tick(op, swarm, _at(28))
    assert run_status(op)["verdict"]["result"] == "Passed"


async def test_latency_thresholds_see_the_worst_status_interval_of_the_run() -> None:
    op = Operator()
    swarm = await running(op)
    spike = {**CALLER_OK, "latencyMs": {"p50": 100, "p95": 450, "p99": 800}}
    with_children(op, swarm, caller=spike, feeder={"processed": 2000})
    swarm = await tick(op, swarm, _at(14))
    with_children(op, swarm, caller=CALLER_OK, feeder={"processed": 4900})
    await end(op, swarm, 20)
    run = run_status(op)
    assert run["latencyMs"]["caller"] == {"p50": 100.0, "p95": 450.0, "p99": 800.0}
    assert run["verdict"]["reason"] == "1 of 4 thresholds failed: caller p95 <= 300: observed 450 (failed)"


async def test_the_run_starts_when_the_api_server_stored_the_released_rate_as_a_whole_number() -> None:
    """The API server keeps 40.0 as 40: the digest the WorkerRole reconcile wrote is of the config as stored."""
    op = Operator()
    swarm = staged()
    with_children(op, swarm)
    swarm = await tick(op, swarm, START)  # the producers released at 40/s
    feeder(op)["config"]["inputs"]["scheduler"]["ratePerSec"] = 40  # as stored: JSON has one number type
    with_children(op, swarm)
    await tick(op, swarm, _at(1))
    assert run_status(op)["phase"] == "Running"


async def test_the_roll_up_records_each_finished_run_once_newest_first() -> None:
    op = Operator()
    swarm = await running(op)
    with_children(op, swarm, caller=CALLER_OK, feeder={"processed": 4900})
    swarm = await tick(op, swarm, _at(20))
    assert "runs" not in op.cluster.swarm_statuses[(NAMESPACE, "staged-run")]  # ended, no verdict yet
    swarm = await end(op, swarm, 20)
    [first] = op.cluster.swarm_statuses[(NAMESPACE, "staged-run")]["runs"]
    assert first["id"] == "1"
    assert first["result"] == "Passed"
    assert first["reason"] == "all 4 thresholds held"
    assert (first["startedAt"], first["finishedAt"]) == ("2026-01-01T00:00:00Z", _at(20))
    assert first["items"] == 4900
    assert first["failed"] == []
    assert len(first["thresholds"]) == 4
    assert run_status(op)["items"] == 4900
    op.cluster.calls.clear()
    swarm = await tick(op, swarm, _at(40))
    assert not [c for c in op.cluster.calls if c[0] == "patch-swarm-status"]  # nothing changed: no write
    again = stored(op, staged(status=swarm.status.model_dump(mode="json", exclude_unset=True), id="2"))
    with_children(op, again, caller=CALLER_OK, feeder={"processed": 4900})
    again = await tick(op, again, _at(45))
    assert len(again.status.runs) == 1  # the new run is pending: the last one stays listed
    with_children(op, again, caller=CALLER_OK, feeder={"processed": 4900})
    again = await tick(op, again, _at(46))
    slow = {
        **CALLER_OK,
        "processed": 6000,
        "statusCodes": {"200": 6000},
        "latencyMs": {"p50": 200, "p95": 900, "p99": 1500},
    }
    with_children(op, again, caller=slow, feeder={"processed": 9800})
    again = await end(op, again, 66)
    runs = op.cluster.swarm_statuses[(NAMESPACE, "staged-run")]["runs"]
    assert [(r["id"], r["result"]) for r in runs] == [("2", "Failed"), ("1", "Passed")]
    assert runs[0]["failed"] == ["caller p95 <= 300"]
    assert runs[0]["thresholds"][0] == {"threshold": "caller p95 <= 300", "observed": 900.0, "passed": False}
    assert runs[0]["items"] == 4900
