"""Status roll-ups on the in-memory cluster and broker: a WorkerRole from its workers, pods and queues; a Swarm
from its WorkerRoles; config re-sent to instances behind, never under a stale generation."""

from __future__ import annotations

from typing import Any

from hivekeeper.api.status import QueueStatus
from hivekeeper.operator import plan, role_rollup, swarm_rollup
from hivekeeper.operator.bodies import WorkerRoleBody
from hivekeeper.protocol import envelope as env
from hivekeeper.protocol import naming
from operator_harness import NAMESPACE, Operator, pod, swarm_body

SWARM_ID = naming.swarm_id("quickstart", NAMESPACE)
QUEUES = {alias: naming.work_queue(SWARM_ID, alias) for alias in ("build", "call", "results")}


def _pushed(op: Operator, generation: int = 1, **spec_changes: Any) -> WorkerRoleBody:
    """The caller WorkerRole after its reconcile pushed ``generation`` (its queues declared)."""
    swarm = swarm_body()
    op.add_swarm(swarm)
    child = op.child(swarm, "caller")
    child.manifest["spec"].update(spec_changes)
    role = op.add_workerrole(child.manifest)
    digest = plan.config_digest(role.spec.config, not role.spec.paused)
    op.cluster.workerrole_bodies[(NAMESPACE, role.metadata.name)]["status"] = {
        "configGeneration": generation,
        "configDigest": digest,
    }
    for alias in ("call", "results"):
        op.broker.queues[QUEUES[alias]] = QueueStatus(name=QUEUES[alias], depth=3, messages=3, consumers=2)
    return op.workerrole(role.metadata.name)


def _conditions(op: Operator) -> dict[str, Any]:
    return {c.type: c for c in op.workerrole("quickstart-caller").status.conditions}


async def test_every_worker_at_the_pushed_generation_is_ready() -> None:
    op = Operator()
    op.start_workers("caller", "caller-a", "caller-b", generation=1)

    await role_rollup.roll_up_role(op.runtime, _pushed(op))

    status = op.workerrole("quickstart-caller").status
    assert (status.replicas, status.readyReplicas, status.appliedGeneration, status.tps) == (2, 2, 1, 20.0)
    found = _conditions(op)
    assert (found["Ready"].status, found["Ready"].message) == ("True", "2/2 workers at config generation 1")
    assert found["QueuesReady"].reason == "Declared"
    assert op.broker.signals == [], "nobody is behind: nothing re-sent"


async def test_an_instance_behind_gets_the_current_config_again_and_the_role_is_config_pending() -> None:
    op = Operator()
    op.start_workers("caller", "caller-a", "caller-new", generation=2)
    op.workers.status(SWARM_ID, "caller", "caller-new", generation=0)  # a new pod, on its bootstrap config
    op.workers.answering = False

    await role_rollup.roll_up_role(op.runtime, _pushed(op, generation=2))

    [(_, role, instance, data)] = op.broker.signals
    assert (role, instance, data["configGeneration"], data["replace"]) == ("caller", "caller-new", 2, True)
    found = _conditions(op)
    assert (found["ConfigApplied"].reason, found["Ready"].reason) == ("ConfigPending", "Progressing")
    assert "caller-new" in found["ConfigApplied"].message


async def test_a_roll_up_on_a_body_older_than_the_push_re_sends_nothing_and_waits_one_generation_up() -> None:
    op = Operator()
    op.start_workers("caller", "caller-a", generation=1)
    old_body = _pushed(op, generation=1)
    edited = old_body.model_copy(
        update={"spec": old_body.spec.model_copy(update={"config": {**old_body.spec.config, "threadCount": 64}})}
    )

    await role_rollup.roll_up_role(op.runtime, edited)

    assert op.broker.signals == [], "the new config goes out with the reconcile's generation 2, never as 1"
    found = _conditions(op)
    assert found["ConfigApplied"].reason == "ConfigPending"
    assert "waiting for generation 2" in found["ConfigApplied"].message
    assert found["Ready"].status == "False", "not Ready before the new config reached the workers"


async def test_a_late_outcome_for_an_older_generation_changes_nothing() -> None:
    op = Operator()
    op.start_workers("caller", "caller-a", generation=3)
    op.workers.refuse[2] = "generation 2 is older than the generation 3 this worker runs"
    op.workers.answer(SWARM_ID, "caller", "caller-a", {"configGeneration": 2})  # refused as stale
    op.workers.refuse.clear()
    op.workers.answer(SWARM_ID, "caller", "caller-a", {"configGeneration": 1})  # a late Applied for generation 1

    [report] = op.observations.instances(SWARM_ID, "caller")
    assert (report.config_generation, report.rejected_generation) == (3, None)
    await role_rollup.roll_up_role(op.runtime, _pushed(op, generation=3))
    found = _conditions(op)
    assert (found["ConfigApplied"].reason, found["Stalled"].status) == ("AllAcknowledged", "False")


async def test_an_out_of_memory_kill_stalls_the_role_with_the_limit_named() -> None:
    op = Operator()
    op.start_workers("caller", "caller-a", generation=1)
    oom = {
        "spec": {"containers": [{"resources": {"limits": {"memory": "64Mi"}}}]},
        "status": {
            "containerStatuses": [
                {
                    "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off"}},
                    "lastState": {"terminated": {"reason": "OOMKilled"}},
                }
            ]
        },
    }
    op.pods("quickstart", "caller", pod("caller-a"), pod("caller-oom", **oom))

    await role_rollup.roll_up_role(op.runtime, _pushed(op))

    found = _conditions(op)
    assert (found["Stalled"].status, found["Ready"].reason) == ("True", "Stalled")
    assert (
        "caller-oom is CrashLoopBackOff: its worker was OOMKilled at its memory limit 64Mi" in found["Stalled"].message
    )


async def test_a_missing_queue_is_reported_once_and_declared_again() -> None:
    op = Operator()
    op.start_workers("caller", "caller-a", "caller-b", generation=1)
    role = _pushed(op)
    del op.broker.queues[QUEUES["results"]]

    await role_rollup.roll_up_role(op.runtime, role)

    found = _conditions(op)
    assert (found["QueuesReady"].status, found["QueuesReady"].reason) == ("False", "QueueMissing")
    assert found["Stalled"].status == "False", "declared again: it passes by itself"
    assert QUEUES["results"] in op.broker.queues
    await role_rollup.roll_up_role(op.runtime, op.workerrole("quickstart-caller"))
    assert _conditions(op)["QueuesReady"].status == "True"


async def test_an_unreachable_broker_stalls_the_role() -> None:
    op = Operator()
    op.start_workers("caller", "caller-a", "caller-b", generation=1)
    role = _pushed(op)
    op.broker.failing = ConnectionError("connection refused")

    await role_rollup.roll_up_role(op.runtime, role)

    found = _conditions(op)
    assert (found["QueuesReady"].reason, found["Stalled"].status) == ("BrokerUnavailable", "True")
    assert "connection refused" in found["Stalled"].message


async def test_an_unchanged_status_is_not_patched_again() -> None:
    op = Operator()
    op.start_workers("caller", "caller-a", "caller-b", generation=1)
    await role_rollup.roll_up_role(op.runtime, _pushed(op))
    op.cluster.calls.clear()

    await role_rollup.roll_up_role(op.runtime, op.workerrole("quickstart-caller"))

    assert ("patch-status", "WorkerRole", "quickstart-caller") not in op.cluster.calls


async def test_a_restarted_operator_keeps_the_last_status_until_every_pod_has_reported() -> None:
    op = Operator()
    op.runtime.timing = op.runtime.timing.__class__(startup_grace=6.0)
    op.start_workers("caller", "caller-a", generation=1)
    op.pods("quickstart", "caller", pod("caller-a"), pod("caller-silent"))

    await role_rollup.roll_up_role(op.runtime, _pushed(op))
    assert ("patch-status", "WorkerRole", "quickstart-caller") not in op.cluster.calls

    op.clock.advance(6.0)
    await role_rollup.roll_up_role(op.runtime, op.workerrole("quickstart-caller"))
    assert _conditions(op)["WorkersAvailable"].message == "1/2 workers reporting"


async def test_a_paused_role_is_paused_once_every_worker_says_it_is_disabled() -> None:
    op = Operator()
    op.start_workers("caller", "caller-a", "caller-b", generation=1, enabled=False)

    await role_rollup.roll_up_role(op.runtime, _pushed(op, paused=True))

    found = _conditions(op)
    assert (found["Paused"].status, found["Paused"].reason, found["Ready"].status) == ("True", "Paused", "True")


async def test_the_swarm_sums_its_roles_names_the_one_not_ready_and_lists_its_queues() -> None:
    op = Operator()
    swarm = swarm_body()
    op.start_workers("caller", "caller-a", "caller-b", generation=1)
    await role_rollup.roll_up_role(op.runtime, _pushed(op))
    stats = op.add_workerrole(op.child(swarm, "stats").manifest)
    op.cluster.workerrole_bodies[(NAMESPACE, stats.metadata.name)]["status"] = {"readyReplicas": 0, "tps": 5.0}

    await swarm_rollup.roll_up_swarm(op.runtime, swarm)

    status = op.cluster.swarm_statuses[(NAMESPACE, "quickstart")]
    assert [r["name"] for r in status["roles"]] == ["feeder", "builder", "caller", "stats"]
    assert status["totals"] == {"tps": 5.0, "errors": 0, "workers": "2/5"}, "tps of the last stage only"
    assert [q["name"] for q in status["queues"]] == [QUEUES["call"], QUEUES["results"]], "build is missing"
    conditions = {c["type"]: c for c in status["conditions"]}
    assert (conditions["Ready"]["status"], conditions["Ready"]["reason"]) == ("False", "Progressing")
    assert conditions["Ready"]["message"] == "waiting for every role to report"
    assert status["observedGeneration"] == 1


async def test_the_swarm_keeps_its_last_queue_depths_while_the_broker_is_down() -> None:
    op = Operator()
    swarm = swarm_body()
    await swarm_rollup.roll_up_swarm(op.runtime, swarm)
    op.broker.queues[QUEUES["call"]] = QueueStatus(name=QUEUES["call"], depth=9, messages=9, consumers=1)
    await swarm_rollup.roll_up_swarm(op.runtime, swarm)
    held = op.cluster.swarm_statuses[(NAMESPACE, "quickstart")]
    op.broker.failing = ConnectionError("down")

    seen = swarm.model_copy(update={"status": swarm.status.model_validate(held)})
    await swarm_rollup.roll_up_swarm(op.runtime, seen)

    assert op.cluster.swarm_statuses[(NAMESPACE, "quickstart")]["queues"] == [
        {"name": QUEUES["call"], "depth": 9, "messages": 9, "consumers": 1}
    ]


def _published(op: Operator, role: str, instance: str, messages: int, items: int) -> None:
    op.observations.manage(SWARM_ID, role)
    scope = env.Scope(swarmId=SWARM_ID, role=role, instance=instance)
    data = {"enabled": True, "context": {"workOut": {"messages": messages, "items": items}, "published": 7}}
    op.observations.record(env.metric("status-delta", scope, data, origin=instance), now=1.0)


async def test_a_queue_depth_is_in_items_from_the_mean_batch_size_its_publishers_report() -> None:
    op = Operator()
    swarm = swarm_body()
    op.broker.queues[QUEUES["call"]] = QueueStatus(name=QUEUES["call"], depth=10, messages=10, consumers=1)
    op.broker.queues[QUEUES["results"]] = QueueStatus(name=QUEUES["results"], depth=4, messages=4, consumers=1)
    _published(op, "builder", "builder-a", messages=100, items=6000)  # the builder feeds `call`
    _published(op, "builder", "builder-b", messages=100, items=2000)
    _published(op, "feeder", "feeder-a", messages=10, items=1000)  # feeds `build`: not these queues

    await swarm_rollup.roll_up_swarm(op.runtime, swarm)

    queues = {q["name"]: q for q in op.cluster.swarm_statuses[(NAMESPACE, "quickstart")]["queues"]}
    assert (queues[QUEUES["call"]]["messages"], queues[QUEUES["call"]]["depth"]) == (10, 400), "10 x 40 per message"
    assert (queues[QUEUES["results"]]["messages"], queues[QUEUES["results"]]["depth"]) == (4, 4), "no reports: 1"


async def test_a_swarm_being_deleted_is_not_rolled_up() -> None:
    op = Operator()
    swarm = swarm_body()
    swarm.metadata.deletionTimestamp = "2026-01-01T00:00:00Z"
    await swarm_rollup.roll_up_swarm(op.runtime, swarm)
    assert (op.cluster.calls, op.broker.calls) == ([], [])
