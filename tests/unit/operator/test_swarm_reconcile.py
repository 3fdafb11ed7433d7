"""A Swarm's reconcile and deletion on the in-memory cluster and broker: children, pause order, queue cleanup."""

from __future__ import annotations

import pytest

from hivekeeper.operator import swarm_reconcile
from hivekeeper.operator.bodies import SwarmBody
from hivekeeper.operator.errors import RetryLater
from hivekeeper.protocol import naming
from operator_harness import NAMESPACE, Operator, pod, swarm_body

CONSUMERS = ["quickstart-builder", "quickstart-caller", "quickstart-stats"]
SWARM_ID = naming.swarm_id("quickstart", NAMESPACE)


def _applied(op: Operator) -> list[str]:
    return [c[2] for c in op.cluster.calls if c[:2] == ("apply", "WorkerRole")]


def _acknowledge_on_apply(op: Operator) -> None:
    """Each applied WorkerRole's workers run its config at once (what its own reconcile and the workers do)."""

    def acknowledge(manifest: dict[str, object]) -> None:
        from hivekeeper.operator import plan

        body = op.cluster.workerrole_bodies[(NAMESPACE, manifest["metadata"]["name"])]  # type: ignore[index]
        spec = body["spec"]
        generation = int(body["status"].get("configGeneration", 0)) + 1
        digest = plan.config_digest(spec["config"], not spec["paused"])
        body["status"].update(configGeneration=generation, appliedGeneration=generation, configDigest=digest)

    op.cluster.on_apply = acknowledge


async def _created(op: Operator, swarm: SwarmBody) -> None:
    await swarm_reconcile.reconcile_swarm(op.runtime, swarm)
    op.cluster.calls.clear()


async def test_a_new_swarm_gets_one_owned_workerrole_per_role_without_waiting() -> None:
    op = Operator()
    swarm = swarm_body()
    await swarm_reconcile.reconcile_swarm(op.runtime, swarm)
    assert sorted(_applied(op)) == sorted(["quickstart-feeder", *CONSUMERS])
    assert op.clock.slept == []
    caller = op.workerrole("quickstart-caller")
    assert caller.swarm_owner_uid() == swarm.metadata.uid
    assert (caller.spec.replicas, caller.spec.paused) == (2, False)


async def test_pausing_pauses_the_producers_first_and_waits_for_them_before_the_consumers() -> None:
    op = Operator()
    await _created(op, swarm_body())
    _acknowledge_on_apply(op)

    await swarm_reconcile.reconcile_swarm(op.runtime, swarm_body(paused=True))

    assert _applied(op) == ["quickstart-feeder", *CONSUMERS]
    first_consumer = op.cluster.calls.index(("apply", "WorkerRole", CONSUMERS[0]))
    assert ("list-workerroles", "quickstart") in op.cluster.calls[1:first_consumer], "waited for the feeder"
    assert all(op.workerrole(name).spec.paused for name in ["quickstart-feeder", *CONSUMERS])


async def test_resuming_resumes_the_consumers_first() -> None:
    op = Operator()
    await _created(op, swarm_body(paused=True))
    _acknowledge_on_apply(op)

    await swarm_reconcile.reconcile_swarm(op.runtime, swarm_body(paused=False))

    assert _applied(op) == [*CONSUMERS, "quickstart-feeder"]
    feeder = op.cluster.calls.index(("apply", "WorkerRole", "quickstart-feeder"))
    assert ("list-workerroles", "quickstart") in op.cluster.calls[len(CONSUMERS) : feeder]


async def test_a_pause_whose_first_group_never_applies_moves_on_after_the_ordering_timeout() -> None:
    op = Operator()
    await _created(op, swarm_body())

    await swarm_reconcile.reconcile_swarm(op.runtime, swarm_body(paused=True))

    assert op.timing.ordering_timeout - 0.01 <= sum(op.clock.slept) < op.timing.ordering_timeout + 1
    assert _applied(op)[-len(CONSUMERS) :] == CONSUMERS, "the consumers are paused anyway"


async def test_an_edit_that_is_no_pause_goes_to_every_role_at_once() -> None:
    op = Operator()
    await _created(op, swarm_body())

    await swarm_reconcile.reconcile_swarm(op.runtime, swarm_body(vars={"currency": "USD"}))

    assert op.clock.slept == []
    assert op.cluster.calls.count(("list-workerroles", "quickstart")) == 1, "one list, no polling"


async def test_a_role_removed_from_the_swarm_is_deleted_after_the_others_are_applied() -> None:
    op = Operator()
    await _created(op, swarm_body())
    swarm = swarm_body()
    kept = swarm.model_copy(
        update={"spec": swarm.spec.model_copy(update={"roles": [r for r in swarm.spec.roles if r.name != "stats"]})}
    )
    caller = kept.spec.roles[2]
    caller.work = caller.work.model_copy(update={"out": None})

    await swarm_reconcile.reconcile_swarm(op.runtime, kept)

    assert op.cluster.object_calls()[-1] == ("delete", "quickstart-stats")


async def test_an_autoscaled_role_keeps_the_count_its_autoscaler_set() -> None:
    op = Operator()
    swarm = swarm_body()
    swarm.spec.roles[2].autoscaled = True
    await _created(op, swarm)
    op.cluster.workerrole_bodies[(NAMESPACE, "quickstart-caller")]["spec"]["replicas"] = 7

    await swarm_reconcile.reconcile_swarm(op.runtime, swarm)

    assert op.workerrole("quickstart-caller").spec.replicas == 7


async def test_deletion_pauses_the_roles_signals_every_worker_waits_until_disabled_then_deletes_the_queues() -> None:
    op = Operator()
    swarm = swarm_body()
    op.start_workers("caller", "caller-a")
    op.broker.on_signal = lambda *_: op.workers.status(SWARM_ID, "caller", "caller-a", generation=1, enabled=False)

    await swarm_reconcile.delete_swarm(op.runtime, swarm, attempt=0)

    assert sorted(_applied(op)) == sorted(["quickstart-feeder", *CONSUMERS])
    assert all(op.workerrole(c).spec.paused for c in CONSUMERS), "level-based: a pod starting now is paused too"
    assert op.broker.calls[0] == ("signal", naming.ALL, naming.ALL)
    assert op.broker.signals[0][3] == {"enabled": False}
    assert op.broker.calls[-1] == ("delete", f"hivekeeper.{SWARM_ID}.work")
    [deleted] = op.broker.deleted
    assert [q.name for q in deleted.queues] == [naming.work_queue(SWARM_ID, a) for a in ("build", "call", "results")]
    assert op.clock.slept == [], "the worker said it is disabled at once"


async def test_deletion_waits_bounded_for_a_worker_that_never_says_it_is_disabled() -> None:
    op = Operator()
    op.start_workers("caller", "caller-a")
    op.pods("quickstart", "stats", pod("stats-silent"))

    await swarm_reconcile.delete_swarm(op.runtime, swarm_body(), attempt=0)

    assert op.timing.disable_timeout - 0.01 <= sum(op.clock.slept) < op.timing.disable_timeout + 1
    assert op.broker.calls[-1][0] == "delete", "the queues go anyway"


@pytest.mark.parametrize(
    ("spec", "annotations"),
    [({"deletionPolicy": "Retain"}, {}), ({}, {swarm_reconcile.SKIP_CLEANUP: "true"})],
)
async def test_retained_or_skipped_queues_stay_and_nothing_is_touched(
    spec: dict[str, str], annotations: dict[str, str]
) -> None:
    op = Operator()
    swarm = swarm_body(**spec)
    swarm.metadata.annotations.update(annotations)

    await swarm_reconcile.delete_swarm(op.runtime, swarm, attempt=0)

    assert (op.cluster.object_calls(), op.broker.calls) == ([], [])
    said = [reason for _, reason, _ in op.cluster.said("Swarm", "quickstart")]
    assert said == ["QueuesRetained", "FinalizerReleased"]


async def test_a_broker_that_fails_is_retried_with_the_escape_hatch_named_then_given_up() -> None:
    op = Operator()
    op.broker.failing = ConnectionError("broker down")
    with pytest.raises(RetryLater, match="skip-queue-cleanup=true") as raised:
        await swarm_reconcile.delete_swarm(op.runtime, swarm_body(), attempt=0)
    assert raised.value.delay == op.timing.cleanup_retry_delay
    await swarm_reconcile.delete_swarm(op.runtime, swarm_body(), attempt=op.timing.cleanup_attempts - 1)
