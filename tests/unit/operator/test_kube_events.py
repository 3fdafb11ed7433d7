"""The Kubernetes Events the reconciles and roll-ups write on Swarms and WorkerRoles (what ``kubectl describe`` lists),
on the in-memory cluster and broker: each said on its transition, not on every tick."""

from __future__ import annotations

from typing import Any

import pytest

from hivekeeper.operator import (
    handlers,
    plan,
    role_reconcile,
    role_rollup,
    run_record,
    run_store,
    swarm_reconcile,
    swarm_rollup,
)
from hivekeeper.operator.bodies import SwarmBody, WorkerRoleBody
from hivekeeper.operator.errors import RetryLater
from hivekeeper.operator.role_reconcile import Previous
from hivekeeper.operator.run_series import RunRecording
from hivekeeper.protocol import naming
from operator_harness import NAMESPACE, Operator, swarm_body

SWARM_ID = naming.swarm_id("quickstart", NAMESPACE)
ROLES = {"feeder": ["feeder-a"], "builder": ["builder-a"], "caller": ["caller-a", "caller-b"], "stats": ["stats-a"]}


def _reasons(op: Operator, kind: str, name: str) -> list[str]:
    return [reason for _, reason, _ in op.cluster.said(kind, name)]


def _caller_said(op: Operator) -> list[tuple[str, str, str]]:
    return op.cluster.said("WorkerRole", "quickstart-caller")


def _edit_caller(op: Operator, **spec: Any) -> WorkerRoleBody:
    body = op.cluster.workerrole_bodies[(NAMESPACE, "quickstart-caller")]
    body["metadata"]["generation"] += 1
    for key, value in spec.items():
        body["spec"][key] = {**body["spec"][key], **value} if isinstance(value, dict) else value
    return op.workerrole("quickstart-caller")


async def _caller(op: Operator) -> WorkerRoleBody:
    """The caller WorkerRole of the quickstart Swarm, reconciled once with its two workers answering."""
    swarm = swarm_body()
    op.add_swarm(swarm)
    op.start_workers("caller", "caller-a", "caller-b")
    role = op.add_workerrole(op.child(swarm, "caller").manifest)
    await role_reconcile.reconcile_role(op.runtime, role)
    return op.workerrole("quickstart-caller")


async def _running_swarm(op: Operator, swarm: SwarmBody) -> None:
    """``swarm`` reconciled, each of its WorkerRoles reconciled with its workers answering, everything rolled up."""
    op.add_swarm(swarm)
    for role, names in ROLES.items():
        if (NAMESPACE, "quickstart", role) not in op.cluster.pod_list:
            op.start_workers(role, *names)
    await swarm_reconcile.reconcile_swarm(op.runtime, swarm)
    for (_, name), body in sorted(op.cluster.workerrole_bodies.items()):
        body["metadata"].setdefault("uid", f"uid-{name}")  # as the API server sets them
        body["metadata"]["generation"] = body["metadata"].get("generation", 0) + 1
        await role_reconcile.reconcile_role(op.runtime, op.workerrole(name))
    await swarm_rollup.roll_up_swarm(op.runtime, swarm)


async def test_a_new_swarm_says_created_for_each_workerrole_it_made() -> None:
    op = Operator()

    await swarm_reconcile.reconcile_swarm(op.runtime, swarm_body())

    assert sorted(op.cluster.said("Swarm", "quickstart")) == [
        ("Normal", "Created", "created WorkerRole quickstart-builder (role builder, 1 replica)"),
        ("Normal", "Created", "created WorkerRole quickstart-caller (role caller, 2 replicas)"),
        ("Normal", "Created", "created WorkerRole quickstart-feeder (role feeder, 1 replica)"),
        ("Normal", "Created", "created WorkerRole quickstart-stats (role stats, 1 replica)"),
    ]
    await swarm_reconcile.reconcile_swarm(op.runtime, swarm_body())
    assert len(op.cluster.event_bodies) == 4, "a reconcile that changes nothing says nothing"


async def test_a_workerrole_first_reconcile_says_deployment_queues_config_pushed_and_applied() -> None:
    op = Operator()

    await _caller(op)

    call, results = naming.work_queue(SWARM_ID, "call"), naming.work_queue(SWARM_ID, "results")
    assert _caller_said(op) == [
        ("Normal", "Created", "created Deployment quickstart-caller with 2 replicas"),
        ("Normal", "QueuesDeclared", f"declared the queues {call}, {results} and their bindings"),
        ("Normal", "ConfigPushed", "pushed config generation 1 to every worker (working), live: pods stay"),
        ("Normal", "ConfigApplied", "all 2 workers run config generation 1"),
    ]


async def test_a_config_edit_says_pushed_then_applied_with_its_generation_once_every_worker_acknowledged() -> None:
    op = Operator()
    await _caller(op)
    op.workers.answering = False

    await role_reconcile.reconcile_role(op.runtime, _edit_caller(op, config={"threadCount": 32}))
    assert _caller_said(op)[-1] == (
        "Normal",
        "ConfigPushed",
        "pushed config generation 2 to every worker (working), live: pods stay",
    )
    await role_rollup.roll_up_role(op.runtime, op.workerrole("quickstart-caller"))
    assert _reasons(op, "WorkerRole", "quickstart-caller")[-1] == "ConfigPushed", "not applied yet: nothing said"

    op.workers.answering = True  # the next tick re-sends generation 2, and the workers apply it
    for _ in range(4):
        await role_rollup.roll_up_role(op.runtime, op.workerrole("quickstart-caller"))

    assert _caller_said(op)[-1] == ("Normal", "ConfigApplied", "all 2 workers run config generation 2")
    assert _reasons(op, "WorkerRole", "quickstart-caller").count("ConfigApplied") == 2, "once per generation"
    assert all(event.count == 1 for event in op.cluster.event_bodies.values()), "not even as a repeat"


async def test_a_refused_config_is_a_warning_with_the_workers_reason_on_the_role_and_on_the_swarm() -> None:
    op = Operator()
    await _running_swarm(op, swarm_body())
    op.workers.refuse[2] = "threadCount: 5000 is above the maximum 1024"

    await role_reconcile.reconcile_role(op.runtime, _edit_caller(op, config={"threadCount": 5000}))
    for _ in range(3):
        await role_rollup.roll_up_role(op.runtime, op.workerrole("quickstart-caller"))
        await swarm_rollup.roll_up_swarm(op.runtime, swarm_body())

    refused = (
        "caller-a rejected config generation 2: threadCount: 5000 is above the maximum 1024 (workers keep generation 1)"
    )
    assert [e for e in _caller_said(op) if e[0] == "Warning"] == [("Warning", "ConfigRefused", refused)]
    warnings = [e for e in op.cluster.said("Swarm", "quickstart") if e[0] == "Warning"]
    assert warnings == [("Warning", "ConfigRefused", f"role caller: {refused}")]


async def test_the_swarm_says_its_new_config_is_pushed_then_applied_once_every_worker_runs_it() -> None:
    op = Operator()
    await _running_swarm(op, swarm_body())

    await _running_swarm(op, swarm_body(generation=2, vars={"currency": "USD"}))
    await swarm_rollup.roll_up_swarm(op.runtime, swarm_body(generation=2, vars={"currency": "USD"}))

    said = [e for e in op.cluster.said("Swarm", "quickstart") if e[1] != "Created"]
    assert said == [
        (
            "Normal",
            "ConfigPushed",
            "new config of roles builder, caller, feeder, stats (Swarm generation 2) written to their WorkerRoles: "
            "their workers get it live, the pods stay",
        ),
        (
            "Normal",
            "ConfigApplied",
            "every worker of roles builder, caller, feeder, stats runs the config of Swarm generation 2",
        ),
    ]


def _acknowledge_on_apply(op: Operator) -> None:
    """Each applied WorkerRole's workers run its config at once (what its own reconcile and the workers do)."""

    def acknowledge(manifest: dict[str, Any]) -> None:
        body = op.cluster.workerrole_bodies.get((NAMESPACE, manifest["metadata"]["name"]))
        if body is None or manifest["kind"] != "WorkerRole":
            return
        spec = body["spec"]
        generation = int(body["status"].get("configGeneration", 0)) + 1
        digest = plan.config_digest(spec["config"], not spec["paused"])
        body["status"].update(configGeneration=generation, appliedGeneration=generation, configDigest=digest)

    op.cluster.on_apply = acknowledge


async def test_pause_and_resume_are_said_on_the_swarm_with_their_order() -> None:
    op = Operator()
    await swarm_reconcile.reconcile_swarm(op.runtime, swarm_body())
    _acknowledge_on_apply(op)

    await swarm_reconcile.reconcile_swarm(op.runtime, swarm_body(paused=True))
    await swarm_reconcile.reconcile_swarm(op.runtime, swarm_body(paused=False))

    said = [e for e in op.cluster.said("Swarm", "quickstart") if e[1] in ("Paused", "Resumed")]
    assert said == [
        ("Normal", "Paused", "paused the producers (feeder) first, then the consumers (builder, caller, stats)"),
        ("Normal", "Resumed", "resumed the consumers (builder, caller, stats) first, then the producers (feeder)"),
    ]


async def test_a_pause_whose_producers_never_apply_it_is_a_warning_naming_them() -> None:
    op = Operator()
    await swarm_reconcile.reconcile_swarm(op.runtime, swarm_body())

    await swarm_reconcile.reconcile_swarm(op.runtime, swarm_body(paused=True))

    assert op.cluster.said("Swarm", "quickstart")[-1] == (
        "Warning",
        "OrderingTimedOut",
        "feeder did not apply the change within 15s; went on with builder, caller, stats",
    )


async def test_pause_resume_and_scale_are_said_on_the_workerrole_from_the_spec_last_reconciled() -> None:
    op = Operator()
    await _caller(op)

    await role_reconcile.reconcile_role(op.runtime, _edit_caller(op, paused=True), Previous(replicas=2, paused=False))
    await role_reconcile.reconcile_role(op.runtime, _edit_caller(op, paused=False), Previous(replicas=2, paused=True))
    await role_reconcile.reconcile_role(op.runtime, _edit_caller(op, replicas=5), Previous(replicas=2, paused=False))

    said = [e for e in _caller_said(op) if e[1] in ("Paused", "Resumed", "Scaled")]
    assert said == [
        ("Normal", "Paused", "paused: the workers stop working; pods and queues stay"),
        ("Normal", "Resumed", "resumed: the workers work again"),
        ("Normal", "Scaled", "scaled Deployment quickstart-caller from 2 to 5 replicas"),
    ]


async def test_a_scaled_role_is_said_on_the_swarm_with_both_counts() -> None:
    op = Operator()
    await swarm_reconcile.reconcile_swarm(op.runtime, swarm_body())
    swarm = swarm_body(generation=2)
    swarm.spec.roles[2].replicas = 5

    await swarm_reconcile.reconcile_swarm(op.runtime, swarm)

    assert op.cluster.said("Swarm", "quickstart")[-1] == ("Normal", "Scaled", "scaled role caller from 2 to 5 replicas")


async def test_the_kopf_adapter_hands_the_spec_last_handled_to_the_reconcile() -> None:
    op = Operator()
    handlers.RUNTIME["current"] = op.runtime
    try:
        await _caller(op)
        body = op.cluster.workerrole_bodies[(NAMESPACE, "quickstart-caller")]
        body["spec"]["replicas"] = 3
        meta, spec = body["metadata"], body["spec"]
        old = {"spec": {**spec, "replicas": 2}, "metadata": {"labels": meta["labels"]}}
        await handlers.reconcile_role(spec=spec, meta=meta, status=body["status"], old=old, retry=0)
    finally:
        handlers.RUNTIME.clear()

    assert _caller_said(op)[-1] == ("Normal", "Scaled", "scaled Deployment quickstart-caller from 2 to 3 replicas")


async def test_deletion_says_the_queues_deleted_then_the_finalizer_released() -> None:
    op = Operator()
    op.start_workers("caller", "caller-a")
    op.broker.on_signal = lambda *_: op.workers.status(SWARM_ID, "caller", "caller-a", generation=1, enabled=False)

    await swarm_reconcile.delete_swarm(op.runtime, swarm_body(), attempt=0)

    queues = ", ".join(naming.work_queue(SWARM_ID, a) for a in ("build", "call", "results"))
    assert op.cluster.said("Swarm", "quickstart") == [
        ("Normal", "QueuesDeleted", f"deleted the swarm's work exchange and its 3 queues: {queues}"),
        (
            "Normal",
            "FinalizerReleased",
            "cleanup done: the finalizer hivekeeper.io/queue-cleanup goes, and with it the Swarm; its WorkerRoles, "
            "Deployments and run records follow by owner reference",
        ),
    ]


async def test_a_deletion_the_broker_blocks_warns_without_the_brokers_password_then_gives_up() -> None:
    op = Operator()
    op.broker.failing = ConnectionError("cannot connect to amqp://hive:s3cret@rabbit:5672/")

    with pytest.raises(RetryLater):
        await swarm_reconcile.delete_swarm(op.runtime, swarm_body(), attempt=0)
    with pytest.raises(RetryLater):
        await swarm_reconcile.delete_swarm(op.runtime, swarm_body(), attempt=1)
    await swarm_reconcile.delete_swarm(op.runtime, swarm_body(), attempt=op.timing.cleanup_attempts - 1)

    said = op.cluster.said("Swarm", "quickstart")
    assert [(kind, reason) for kind, reason, _ in said] == [
        ("Warning", "QueueCleanupFailed"),
        ("Warning", "QueueCleanupAbandoned"),
        ("Normal", "FinalizerReleased"),
    ]
    assert "amqp://hive:***@rabbit:5672/" in said[0][2]
    assert "skip-queue-cleanup=true" in said[0][2]
    assert not [e for e in op.cluster.event_bodies.values() if "s3cret" in e.message]
    [retried] = [e for e in op.cluster.event_bodies.values() if e.reason == "QueueCleanupFailed"]
    assert retried.count == 2, "the retry says the same: one Event, counted"


async def test_a_queue_deleted_behind_the_operators_back_is_a_warning_on_the_workerrole() -> None:
    op = Operator()
    await _caller(op)
    del op.broker.queues[naming.work_queue(SWARM_ID, "results")]

    await role_rollup.roll_up_role(op.runtime, op.workerrole("quickstart-caller"))

    kind, reason, message = _caller_said(op)[-1]
    assert (kind, reason) == ("Warning", "QueueMissing")
    assert message.startswith(f"queue {naming.work_queue(SWARM_ID, 'results')} was missing on the broker")


async def test_a_spec_the_policy_refuses_is_a_warning_naming_the_rule() -> None:
    op = Operator()
    swarm = swarm_body()
    op.add_swarm(swarm)
    manifest = op.child(swarm, "caller").manifest
    del manifest["spec"]["role"]
    manifest["spec"]["image"] = "evil/miner:1"

    await role_reconcile.reconcile_role(op.runtime, op.add_workerrole(manifest))

    [(kind, reason, message)] = _caller_said(op)
    assert (kind, reason) == ("Warning", "PolicyViolation")
    assert "image 'evil/miner:1' is not allowed by the operator policy" in message


async def test_the_rates_a_bounded_run_sets_are_not_said_one_by_one() -> None:
    op = Operator()
    await _caller(op)
    op.runtime.recordings["swarm-uid-1"] = RunRecording(run_id="r1", started_at="2026-01-01T00:00:00Z", start=0.0)
    before = len(op.cluster.event_bodies)

    await role_reconcile.reconcile_role(op.runtime, _edit_caller(op, config={"threadCount": 32}))

    assert len(op.cluster.event_bodies) == before
    assert op.workerrole("quickstart-caller").status.appliedGeneration == 2, "the push itself went out"


async def test_an_api_server_that_refuses_events_stops_no_reconcile() -> None:
    op = Operator()
    op.cluster.failing_events = PermissionError("events is forbidden")

    await _caller(op)
    await swarm_reconcile.reconcile_swarm(op.runtime, swarm_body())

    assert op.workerrole("quickstart-caller").status.appliedGeneration == 1
    assert op.cluster.event_bodies == {}


async def test_pruned_run_records_are_said_as_data_removed() -> None:
    op = Operator()
    swarm = swarm_body()
    for run_id in ("r1", "r2"):
        name = run_store.configmap_name("quickstart", run_id)
        labels = run_store.record_labels("quickstart")
        op.cluster.configmap_bodies[(NAMESPACE, name)] = {"metadata": {"name": name, "labels": labels}, "data": {}}

    await run_record.prune(op.runtime, swarm, keep={run_store.configmap_name("quickstart", "r2")})

    gone = run_store.configmap_name("quickstart", "r1")
    assert op.cluster.said("Swarm", "quickstart") == [
        ("Normal", "DataRemoved", f"deleted the run records no longer in status.runs: ConfigMap {gone}")
    ]
