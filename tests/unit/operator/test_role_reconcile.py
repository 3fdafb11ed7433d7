"""A WorkerRole's reconcile on the in-memory cluster and broker: queues, Deployment, config pushes, acks."""

from __future__ import annotations

from typing import Any

from hivekeeper.operator import role_reconcile
from hivekeeper.operator.bodies import WorkerRoleBody
from hivekeeper.operator.policy import Policy
from hivekeeper.protocol import naming
from operator_harness import NAMESPACE, Operator, swarm_body

SWARM_ID = naming.swarm_id("quickstart", NAMESPACE)


def _caller(op: Operator, **spec_changes: Any) -> WorkerRoleBody:
    swarm = swarm_body()
    op.add_swarm(swarm)
    manifest = op.child(swarm, "caller").manifest
    manifest["spec"].update(spec_changes)
    return op.add_workerrole(manifest)


async def test_the_first_reconcile_declares_applies_pushes_generation_1_and_patches_in_that_order() -> None:
    op = Operator()
    op.start_workers("caller", "caller-a", "caller-b")
    await role_reconcile.reconcile_role(op.runtime, _caller(op))

    [(swarm_id, role, instance, data)] = op.broker.signals
    assert (swarm_id, role, instance) == (SWARM_ID, "caller", naming.ALL)
    assert (data["configGeneration"], data["replace"], data["enabled"], data["threadCount"]) == (1, True, True, 16)
    assert op.cluster.object_calls()[:4] == [
        ("get-swarm", "quickstart"),
        ("apply", "Deployment", "quickstart-caller"),
        ("patch-status", "WorkerRole", "quickstart-caller"),
        ("list-pods", "caller"),
    ], "the acknowledged push is rolled up at once: pods listed, status patched again"
    assert op.broker.calls[:2] == [("declare", f"hivekeeper.{SWARM_ID}.work"), ("signal", "caller", naming.ALL)]
    status = op.workerrole("quickstart-caller").status
    assert (status.configGeneration, status.appliedGeneration, status.readyReplicas) == (1, 1, 2)
    assert status.selector == "hivekeeper.io/role=caller,hivekeeper.io/swarm=quickstart"
    conditions = {c.type: c for c in status.conditions}
    assert conditions["ConfigApplied"].reason == "AllAcknowledged"


async def test_a_reconcile_of_an_unchanged_role_only_scales_and_pushes_nothing() -> None:
    op = Operator()
    op.start_workers("caller", "caller-a")
    await role_reconcile.reconcile_role(op.runtime, _caller(op))
    op.cluster.calls.clear()
    op.broker.signals.clear()

    await role_reconcile.reconcile_role(op.runtime, op.workerrole("quickstart-caller"))

    assert op.broker.signals == []
    assert ("scale", "quickstart-caller", "2") in op.cluster.calls
    assert not [c for c in op.cluster.calls if c[0] == "apply"], "the pod template is not applied again"
    assert op.workerrole("quickstart-caller").status.configGeneration == 1


async def test_a_config_edit_pushes_the_next_generation_without_touching_the_deployment() -> None:
    op = Operator()
    op.start_workers("caller", "caller-a")
    await role_reconcile.reconcile_role(op.runtime, _caller(op))
    op.cluster.calls.clear()
    body = op.cluster.workerrole_bodies[(NAMESPACE, "quickstart-caller")]
    body["spec"]["config"] = {**body["spec"]["config"], "threadCount": 64}

    await role_reconcile.reconcile_role(op.runtime, op.workerrole("quickstart-caller"))

    _, _, _, data = op.broker.signals[-1]
    assert (data["configGeneration"], data["threadCount"]) == (2, 64)
    assert not [c for c in op.cluster.calls if c[0] == "apply"], "a config edit never restarts a pod"
    status = op.workerrole("quickstart-caller").status
    assert (status.configGeneration, status.appliedGeneration) == (2, 2)


async def test_a_replicas_edit_scales_and_pushes_no_config() -> None:
    op = Operator()
    await role_reconcile.reconcile_role(op.runtime, _caller(op))
    pushes = len(op.broker.signals)
    op.cluster.workerrole_bodies[(NAMESPACE, "quickstart-caller")]["spec"]["replicas"] = 5

    await role_reconcile.reconcile_role(op.runtime, op.workerrole("quickstart-caller"))

    assert len(op.broker.signals) == pushes
    assert op.cluster.calls[-2:] == [
        ("scale", "quickstart-caller", "5"),
        ("patch-status", "WorkerRole", "quickstart-caller"),
    ]


async def test_an_image_edit_applies_the_deployment_again() -> None:
    op = Operator()
    op.runtime.policy = Policy(allowedImages=("team/*",))
    await role_reconcile.reconcile_role(op.runtime, _caller(op))
    body = op.cluster.workerrole_bodies[(NAMESPACE, "quickstart-caller")]
    del body["spec"]["role"]
    body["spec"]["image"] = "team/worker:2"
    op.cluster.calls.clear()

    await role_reconcile.reconcile_role(op.runtime, op.workerrole("quickstart-caller"))

    assert ("apply", "Deployment", "quickstart-caller") in op.cluster.calls
    deployment = op.cluster.deployments[(NAMESPACE, "quickstart-caller")]
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == "team/worker:2"


async def test_without_acknowledgements_the_reconcile_waits_bounded_and_leaves_the_status_to_the_timer() -> None:
    op = Operator()
    op.start_workers("caller", "caller-a")
    op.workers.answering = False

    await role_reconcile.reconcile_role(op.runtime, _caller(op))

    assert sum(op.clock.slept) >= op.timing.ack_wait
    assert op.cluster.object_calls()[-1] == ("patch-status", "WorkerRole", "quickstart-caller")
    assert "ConfigApplied" not in [reason for _, reason, _ in op.cluster.said()]
    assert ("list-pods", "caller") not in op.cluster.calls, "no roll-up: the timer shows ConfigPending"
    assert op.workerrole("quickstart-caller").status.appliedGeneration == 0


async def test_a_refused_generation_also_ends_the_wait_and_the_roll_up_names_the_reason() -> None:
    op = Operator()
    op.start_workers("caller", "caller-a")
    op.workers.refuse[1] = "threadCount: too many"

    await role_reconcile.reconcile_role(op.runtime, _caller(op))

    assert op.clock.slept == []
    conditions = {c.type: c for c in op.workerrole("quickstart-caller").status.conditions}
    assert conditions["ConfigApplied"].reason == "WorkerRejectedConfig"
    assert "threadCount: too many" in conditions["ConfigApplied"].message
    assert conditions["Stalled"].status == "True"


async def test_a_spec_the_policy_refuses_changes_nothing_that_runs_and_shows_stalled() -> None:
    op = Operator()
    role = _caller(op, env=[{"name": "HIVEKEEPER_AMQP_URL", "value": "amqp://evil"}])

    await role_reconcile.reconcile_role(op.runtime, role)

    assert op.broker.calls == [], "no queues declared, no config pushed"
    assert [c for c in op.cluster.calls if c[0] in ("apply", "scale")] == []
    conditions = {c.type: c for c in op.workerrole("quickstart-caller").status.conditions}
    assert (conditions["Stalled"].status, conditions["Stalled"].reason) == ("True", "PolicyViolation")
    assert "HIVEKEEPER_AMQP_URL" in conditions["Stalled"].message


async def test_a_role_of_a_swarm_being_deleted_does_not_declare_its_queues_again() -> None:
    op = Operator()
    role = _caller(op)
    op.cluster.swarms.clear()  # the Swarm is gone (or has a deletion timestamp)

    await role_reconcile.reconcile_role(op.runtime, role)

    assert not [c for c in op.broker.calls if c[0] == "declare"]
    assert ("apply", "Deployment", "quickstart-caller") in op.cluster.calls


async def test_a_hand_written_role_declares_without_asking_for_a_swarm() -> None:
    op = Operator()
    manifest = op.child(swarm_body(), "caller").manifest
    del manifest["metadata"]["ownerReferences"]
    role = op.add_workerrole(manifest)

    await role_reconcile.reconcile_role(op.runtime, role)

    assert ("get-swarm", "quickstart") not in op.cluster.calls
    assert op.broker.calls[0] == ("declare", f"hivekeeper.{SWARM_ID}.work")


def test_the_plan_of_a_pushed_role_pushes_nothing_and_keeps_the_generation() -> None:
    op = Operator()
    role = _caller(op)
    first = role_reconcile.plan_role(role, op.runtime.defaults, Policy())
    assert first.push is not None
    assert first.push.generation == 1
    pushed = role.model_copy(update={"status": role.status.model_copy(update=first.status_patch)})
    again = role_reconcile.plan_role(pushed, op.runtime.defaults, Policy())
    assert (again.push, again.deployment) == (None, None)
    assert "configGeneration" not in again.status_patch


async def test_a_config_edit_costs_the_same_round_trips_as_ever_plus_its_two_events() -> None:
    """The edit path of ``make bench``'s operator edit latency: one Swarm lookup, one scale, one status patch, and
    (once every worker acknowledged) one pod list and one status patch; on the broker a declare, the push and one
    queue check. Beside them the two Events of the edit: ConfigPushed, written while the workers acknowledge (no
    wait added), and ConfigApplied after the status shows it."""
    op = Operator()
    op.start_workers("caller", "caller-a", "caller-b")
    await role_reconcile.reconcile_role(op.runtime, _caller(op))
    op.cluster.calls.clear()
    op.broker.calls.clear()
    body = op.cluster.workerrole_bodies[(NAMESPACE, "quickstart-caller")]
    body["spec"]["config"] = {**body["spec"]["config"], "threadCount": 32}

    await role_reconcile.reconcile_role(op.runtime, op.workerrole("quickstart-caller"))

    assert op.cluster.calls == [
        ("get-swarm", "quickstart"),
        ("scale", "quickstart-caller", "2"),
        ("patch-status", "WorkerRole", "quickstart-caller"),
        ("create-event", "WorkerRole", "quickstart-caller", "ConfigPushed"),
        ("list-pods", "caller"),
        ("patch-status", "WorkerRole", "quickstart-caller"),
        ("create-event", "WorkerRole", "quickstart-caller", "ConfigApplied"),
    ]
    assert op.broker.calls == [
        ("declare", f"hivekeeper.{SWARM_ID}.work"),
        ("signal", "caller", naming.ALL),
        ("queue-stats", naming.work_queue(SWARM_ID, "call"), naming.work_queue(SWARM_ID, "results")),
    ]
    assert op.clock.slept == [], "the acknowledgements were there at once: no poll"


async def test_a_status_that_lost_its_generation_pushes_above_what_the_workers_hold() -> None:
    # Workers refuse a generation older than theirs; a WorkerRole restored without status must not push 1 to
    # workers that run 7 (they would refuse every push until the status caught up).
    op = Operator()
    op.start_workers("caller", "caller-a", "caller-b", generation=7)

    await role_reconcile.reconcile_role(op.runtime, _caller(op))

    [(_, _, _, data)] = op.broker.signals
    assert data["configGeneration"] == 8
    status = op.workerrole("quickstart-caller").status
    assert (status.configGeneration, status.appliedGeneration) == (8, 8)
