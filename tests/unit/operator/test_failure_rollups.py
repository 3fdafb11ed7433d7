"""Pod failures in the statuses, on the in-memory cluster: a WorkerRole lists and counts its pods' failures across
roll-ups and pod replacements, names the recent one in WorkersAvailable, stalls on what needs a person; its Swarm
shows each role's last failure and restarts and names the role in its Stalled condition."""

from __future__ import annotations

import asyncio
from typing import Any

import kube_pods as k
from hivekeeper.api.status import QueueStatus
from hivekeeper.operator import plan, role_rollup, runtime, swarm_rollup
from hivekeeper.operator.bodies import WorkerRoleBody
from hivekeeper.operator.pods import PodEvent
from hivekeeper.protocol import naming
from operator_harness import NAMESPACE, Operator, swarm_body
from testbench.waiting import eventually

SWARM_ID = naming.swarm_id("quickstart", NAMESPACE)
ROLE = "quickstart-caller"


def _role(op: Operator) -> WorkerRoleBody:
    """The caller WorkerRole after its reconcile pushed generation 1 (its queues declared)."""
    swarm = swarm_body()
    op.add_swarm(swarm)
    role = op.add_workerrole(op.child(swarm, "caller").manifest)
    op.cluster.workerrole_bodies[(NAMESPACE, ROLE)]["status"] = {
        "configGeneration": 1,
        "configDigest": plan.config_digest(role.spec.config, not role.spec.paused),
    }
    for alias in ("call", "results"):
        name = naming.work_queue(SWARM_ID, alias)
        op.broker.queues[name] = QueueStatus(name=name, depth=0, consumers=1)
    return op.workerrole(ROLE)


def _workers(op: Operator, *bodies: dict[str, Any]) -> None:
    """These pods exist; the live ones' workers report generation 1."""
    pods = [k.parsed(body) for body in bodies]
    op.pods("quickstart", "caller", *pods)
    op.observations.manage(SWARM_ID, "caller")
    op.workers.start(SWARM_ID, "caller", [p.name for p in pods if p.alive], generation=1)


async def _tick(op: Operator, wall: str) -> WorkerRoleBody:
    op.clock.wall = wall
    await role_rollup.roll_up_role(op.runtime, op.workerrole(ROLE))
    return op.workerrole(ROLE)


def _conditions(role: WorkerRoleBody) -> dict[str, Any]:
    return {c.type: c for c in role.status.conditions}


async def test_an_eviction_is_listed_remembered_after_the_pod_is_gone_and_named_without_stalling() -> None:
    op = Operator()
    _role(op)
    _workers(op, k.running("caller-a"), k.evicted("caller-ev"), k.running("caller-new"))

    role = await _tick(op, "2026-01-01T00:05:02Z")

    [failure] = role.status.failures
    assert (failure.pod, failure.reason, failure.count, failure.lastSeen) == (
        "caller-ev",
        "Evicted",
        1,
        "2026-01-01T00:05:00Z",
    )
    assert failure.message.startswith("the kubelet evicted it: The node was low on resource: memory.")
    assert role.status.replicas == 2, "the evicted pod runs no worker"
    found = _conditions(role)
    assert (found["Stalled"].status, found["Ready"].status) == ("False", "True")
    assert found["WorkersAvailable"].message.startswith(
        "2/2 workers reporting; last failure: pod caller-ev Evicted at 2026-01-01T00:05:00Z: the kubelet evicted it"
    )

    _workers(op, k.running("caller-a"), k.running("caller-new"))  # the failed pod was garbage-collected
    role = await _tick(op, "2026-01-01T00:20:00Z")
    assert [(f.pod, f.count) for f in role.status.failures] == [("caller-ev", 1)]
    assert _conditions(role)["WorkersAvailable"].message == "2/2 workers reporting", "no longer recent"


async def test_the_same_oom_kill_over_many_ticks_counts_once_and_a_new_one_counts_again() -> None:
    op = Operator()
    _role(op)
    _workers(op, k.oom_running_again("caller-a", finished="2026-01-01T00:05:00Z"))
    for second in (2, 4, 6):
        role = await _tick(op, f"2026-01-01T00:05:{second:02d}Z")
    [failure] = role.status.failures
    assert (failure.reason, failure.count, role.status.restarts) == ("OOMKilled", 1, 1)
    patches = [c for c in op.cluster.calls if c[0] == "patch-status"]
    assert len(patches) == 1, "nothing changed after the first tick: nothing written"

    _workers(op, k.oom_running_again("caller-a", finished="2026-01-01T00:07:00Z"))
    role = await _tick(op, "2026-01-01T00:07:02Z")
    [failure] = role.status.failures
    assert (failure.count, failure.firstSeen, failure.lastSeen) == (2, "2026-01-01T00:05:00Z", "2026-01-01T00:07:00Z")
    assert _conditions(role)["Stalled"].status == "False", "twice in ten minutes: restarted, running"


async def test_a_crash_loop_stalls_with_its_cause_and_keeps_the_role_stalled_while_it_runs_between_crashes() -> None:
    op = Operator()
    _role(op)
    _workers(op, k.fatal_crash_loop("caller-bad"))
    role = await _tick(op, "2026-01-01T00:05:02Z")
    stalled = _conditions(role)["Stalled"]
    assert stalled.status == "True"
    assert stalled.message == (
        "pod caller-bad is CrashLoopBackOff: its worker stopped on an error (exit code 2): bootstrap config "
        "rejected: inputs.scheduler.ratePerSec: must be >= 0 (got -5)"
    )
    # It was seen failing twice more; now it runs again between two crashes: it keeps happening.
    for minute in (6, 7):
        _workers(op, k.unresponsive_restarted("caller-bad", finished=f"2026-01-01T00:0{minute}:00Z"))
        role = await _tick(op, f"2026-01-01T00:0{minute}:02Z")
    stalled = _conditions(role)["Stalled"]
    assert stalled.status == "True"
    assert stalled.message.startswith("its pods failed 3 times in the last 10 minutes")
    assert "the last: pod caller-bad Unresponsive (2 times) at 2026-01-01T00:07:00Z" in stalled.message


async def test_an_unschedulable_pod_stalls_the_role_and_the_swarm_names_the_role() -> None:
    op = Operator()
    swarm = swarm_body()
    _role(op)
    _workers(op, k.running("caller-a"), k.unschedulable("caller-u"))
    role = await _tick(op, "2026-01-01T00:05:02Z")
    assert _conditions(role)["Stalled"].message.startswith(
        "pod caller-u is Unschedulable: 0/1 nodes are available: 1 node(s) didn't match Pod's node affinity/selector."
    )

    await swarm_rollup.roll_up_swarm(op.runtime, swarm)

    status = op.cluster.swarm_statuses[(NAMESPACE, "quickstart")]
    [caller] = [r for r in status["roles"] if r["name"] == "caller"]
    assert caller["lastFailure"]["reason"] == "Unschedulable"
    assert caller["lastFailure"]["pod"] == "caller-u"
    assert caller["restarts"] == 0
    assert all("lastFailure" not in r for r in status["roles"] if r["name"] != "caller"), "no null written"
    conditions = {c["type"]: c for c in status["conditions"]}
    assert conditions["Stalled"]["status"] == "True"
    assert conditions["Stalled"]["message"].startswith("caller: pod caller-u is Unschedulable: 0/1 nodes are available")


async def test_the_swarm_shows_each_roles_restarts_and_last_failure() -> None:
    op = Operator()
    swarm = swarm_body()
    _role(op)
    _workers(op, k.unresponsive_restarted("caller-a", restarts=2), k.running("caller-b"))
    await _tick(op, "2026-01-01T00:05:02Z")

    await swarm_rollup.roll_up_swarm(op.runtime, swarm)

    status = op.cluster.swarm_statuses[(NAMESPACE, "quickstart")]
    [caller] = [r for r in status["roles"] if r["name"] == "caller"]
    assert caller["restarts"] == 2
    assert caller["lastFailure"] == {
        "pod": "caller-a",
        "reason": "Unresponsive",
        "message": "its liveness probe failed and the kubelet restarted it: event loop has not turned for 31.2 s",
        "count": 1,
        "firstSeen": "2026-01-01T00:05:00Z",
        "lastSeen": "2026-01-01T00:05:00Z",
    }


def _event(pod: str, reason: str, message: str, time: str) -> PodEvent:
    return PodEvent(pod=pod, reason=reason, message=message, time=time)


async def test_an_eviction_and_a_preemption_only_events_tell_are_named_from_the_events() -> None:
    """As measured on Kubernetes 1.36: the kubelet's emptyDir eviction leaves a ``Succeeded`` pod with no reason, a
    preempted worker is gone in a second; the pod Events are what says it. Pods of another role whose name starts
    the same are not this role's."""
    op = Operator()
    _role(op)
    _workers(op, k.running("quickstart-caller-5d8f7c9b4-abcde"))
    op.cluster.pod_event_list[NAMESPACE] = [
        _event(
            "quickstart-caller-5d8f7c9b4-xk2p9",
            "Evicted",
            'Usage of EmptyDir volume "tmp" exceeds the limit "64Mi".',
            "2026-01-01T00:04:10Z",
        ),
        _event(
            "quickstart-caller-5d8f7c9b4-q7w2z",
            "Preempted",
            "Preempted by pod 9f1f5d8a on node hivekeeper-node",
            "2026-01-01T00:04:40Z",
        ),
        _event("quickstart-caller-b-7c9b4d5f6-zzzzz", "Evicted", "another role's pod", "2026-01-01T00:04:50Z"),
    ]

    role = await _tick(op, "2026-01-01T00:05:02Z")

    named = {(f.reason, f.pod): f.message for f in role.status.failures}
    assert named == {
        ("Preempted", "quickstart-caller-5d8f7c9b4-q7w2z"): (
            "the scheduler preempted it to make room for a pod of higher priority: "
            "Preempted by pod 9f1f5d8a on node hivekeeper-node"
        ),
        ("Evicted", "quickstart-caller-5d8f7c9b4-xk2p9"): (
            'the kubelet evicted it: Usage of EmptyDir volume "tmp" exceeds the limit "64Mi".'
        ),
    }
    role = await _tick(op, "2026-01-01T00:05:04Z")
    assert [f.count for f in role.status.failures] == [1, 1], "an Event read again is the same failure"


async def test_pod_events_are_read_at_most_every_ten_seconds_per_namespace() -> None:
    op = Operator()
    _role(op)
    _workers(op, k.running("quickstart-caller-5d8f7c9b4-abcde"))
    for _ in range(3):
        await _tick(op, "2026-01-01T00:05:02Z")
    assert op.cluster.calls.count(("list-pod-events", "Evicted")) == 1
    op.clock.advance(10.5)
    await _tick(op, "2026-01-01T00:05:13Z")
    assert op.cluster.calls.count(("list-pod-events", "Evicted")) == 2
    assert op.cluster.calls.count(("list-pod-events", "Preempted")) == 2


async def test_roll_ups_at_the_same_moment_share_one_read_of_pod_events_and_a_slow_one_does_not_hold_them() -> None:
    op = Operator()
    _role(op)
    release = asyncio.Event()
    plain = op.cluster.pod_events

    async def slow(namespace: str, reason: str) -> list[PodEvent]:
        await release.wait()  # thousands of Events to scan: the API server takes its time
        return await plain(namespace, reason)

    op.cluster.pod_events = slow  # type: ignore[method-assign]
    waiting = [asyncio.create_task(op.runtime.pod_disruptions(NAMESPACE)) for _ in range(20)]
    done = await asyncio.wait_for(asyncio.gather(*waiting), runtime.POD_EVENTS_WAIT + 5)

    assert done == [[]] * 20, "none had been read: the roll-ups go on without"
    assert op.cluster.calls.count(("list-pod-events", "Evicted")) == 0, "the one read is still waiting"
    release.set()

    async def read_once() -> bool:
        return op.cluster.calls.count(("list-pod-events", "Evicted")) == 1

    await eventually(read_once, timeout=5, what="the one read to finish")
    assert op.cluster.calls.count(("list-pod-events", "Preempted")) == 1
