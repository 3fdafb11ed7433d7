"""WorkerRole conditions are pure functions of what the operator observed."""

from __future__ import annotations

from hivekeeper.api.status import Condition
from hivekeeper.operator.status import (
    InstanceReport,
    Observed,
    applied_generation,
    conditions,
    instance_statuses,
)

NOW = 1000.0


def _instance(
    name: str,
    generation: int,
    *,
    seen: float = NOW,
    enabled: bool = True,
    rejected: int | None = None,
    reason: str = "",
) -> InstanceReport:
    return InstanceReport(
        name=name,
        enabled=enabled,
        config_generation=generation,
        seen_at=seen,
        rejected_generation=rejected,
        rejected_reason=reason,
    )


def _by_type(found: list[Condition]) -> dict[str, Condition]:
    return {c.type: c for c in found}


def _observed(*instances: InstanceReport, replicas: int = 2, target: int = 3, **extra: object) -> Observed:
    return Observed(
        generation=5,
        desired_replicas=replicas,
        desired_config_generation=target,
        paused=False,
        now=NOW,
        instances=list(instances),
        **extra,
    )  # type: ignore[arg-type]


def test_ready_when_every_worker_reports_the_current_config() -> None:
    found = _by_type(conditions(_observed(_instance("a", 3), _instance("b", 3)), [], "t0"))
    assert (found["Ready"].status, found["Ready"].reason) == ("True", "Ready")
    assert found["Ready"].message == "2/2 workers at config generation 3"
    assert (found["ConfigApplied"].status, found["ConfigApplied"].reason) == ("True", "AllAcknowledged")
    assert found["Reconciling"].status == "False"
    assert found["Stalled"].status == "False"
    assert all(c.observedGeneration == 5 for c in found.values())


def test_config_pending_names_the_workers_behind() -> None:
    found = _by_type(conditions(_observed(_instance("a", 3), _instance("b", 2)), [], "t0"))
    assert (found["ConfigApplied"].status, found["ConfigApplied"].reason) == ("False", "ConfigPending")
    assert found["ConfigApplied"].message == "waiting for generation 3: b"
    assert found["Reconciling"].status == "True"
    assert found["Ready"].status == "False"


def test_a_rejected_config_stalls_with_the_workers_reason_and_the_kept_generation() -> None:
    rejected = _instance("b", 2, rejected=3, reason="inputs.scheduler.ratePerSec: must be >= 0 (got -5)")
    found = _by_type(conditions(_observed(_instance("a", 2), rejected), [], "t0"))
    config = found["ConfigApplied"]
    assert (config.status, config.reason) == ("False", "WorkerRejectedConfig")
    assert "ratePerSec: must be >= 0 (got -5)" in config.message
    assert "workers keep generation 2" in config.message
    assert found["Stalled"].status == "True"
    assert found["Ready"].reason == "Stalled"


def test_a_worker_that_refused_a_delayed_older_generation_still_counts_as_applied() -> None:
    stale = _instance("b", 3, rejected=2, reason="configGeneration: 2 is older than generation 3 this worker holds")
    found = _by_type(conditions(_observed(_instance("a", 3), stale), [], "t0"))
    assert (found["ConfigApplied"].status, found["ConfigApplied"].reason) == ("True", "AllAcknowledged")
    assert found["Stalled"].status == "False"


def test_silent_instances_stop_counting() -> None:
    observed = _observed(_instance("a", 3), _instance("b", 3, seen=NOW - 60))
    found = _by_type(conditions(observed, [], "t0"))
    assert found["WorkersAvailable"].message == "1/2 workers reporting"
    assert found["Ready"].status == "False"
    assert applied_generation(observed) == 3


def test_a_pod_problem_is_stalled_with_its_reason() -> None:
    found = _by_type(conditions(_observed(pod_problem="ImagePullBackOff: image example/none:1 not found"), [], "t0"))
    assert (found["Stalled"].status, found["Stalled"].message) == (
        "True",
        "ImagePullBackOff: image example/none:1 not found",
    )
    assert found["Ready"].message == "ImagePullBackOff: image example/none:1 not found"


def test_a_recent_pod_failure_is_named_in_workers_available_without_stalling() -> None:
    recent = "last failure: pod w-1 Evicted at 2026-01-01T00:00:00Z: the kubelet evicted it: The node was low on memory"
    found = _by_type(conditions(_observed(_instance("a", 3), _instance("b", 3), recent_failure=recent), [], "t0"))
    assert found["WorkersAvailable"].status == "True"
    assert found["WorkersAvailable"].message == f"2/2 workers reporting; {recent}"
    assert (found["Stalled"].status, found["Ready"].status) == ("False", "True")


def test_transition_time_moves_only_when_the_status_changes() -> None:
    first = conditions(_observed(_instance("a", 3), _instance("b", 3)), [], "t0")
    again = _by_type(conditions(_observed(_instance("a", 3), _instance("b", 3)), first, "t1"))
    assert again["Ready"].lastTransitionTime == "t0"
    changed = _by_type(conditions(_observed(_instance("a", 3)), first, "t2"))
    assert changed["Ready"].lastTransitionTime == "t2"


def test_paused_is_reported_once_every_worker_is_disabled() -> None:
    pausing = Observed(
        generation=1,
        desired_replicas=1,
        desired_config_generation=1,
        paused=True,
        now=NOW,
        instances=[_instance("a", 1, enabled=True)],
    )
    paused = Observed(
        generation=1,
        desired_replicas=1,
        desired_config_generation=1,
        paused=True,
        now=NOW,
        instances=[_instance("a", 1, enabled=False)],
    )
    assert _by_type(conditions(pausing, [], "t"))["Paused"].reason == "Pausing"
    assert _by_type(conditions(paused, [], "t"))["Paused"].reason == "Paused"


def test_instances_are_listed_by_name() -> None:
    statuses = instance_statuses(_observed(_instance("b", 3), _instance("a", 2)))
    assert [(s.name, s.configGeneration) for s in statuses] == [("a", 2), ("b", 3)]


def test_the_swarm_is_ready_when_every_role_is_and_names_the_role_that_is_not() -> None:
    from hivekeeper.operator.status import ChildState, swarm_conditions

    ready = conditions(_observed(_instance("a", 3), _instance("b", 3)), [], "t0")
    pending = conditions(_observed(_instance("a", 3), _instance("b", 2)), [], "t0")
    good = swarm_conditions(
        [ChildState("feeder", 2, 2, ready), ChildState("caller", 2, 2, ready)],
        paused=False,
        generation=4,
        previous=[],
        now_text="t",
    )
    found = _by_type(good)
    assert (found["Ready"].status, found["Ready"].message) == ("True", "4/4 workers ready")
    mixed = _by_type(
        swarm_conditions(
            [ChildState("feeder", 2, 2, ready), ChildState("caller", 2, 1, pending)],
            paused=True,
            generation=4,
            previous=[],
            now_text="t",
        )
    )
    assert mixed["Ready"].status == "False"
    assert mixed["ConfigApplied"].message.startswith("caller: waiting for generation 3")
    assert mixed["Paused"].status == "True"


def test_a_refused_config_carries_its_reason_up_to_the_swarm() -> None:
    from hivekeeper.operator.status import ChildState, swarm_conditions

    ready = conditions(_observed(_instance("a", 3), _instance("b", 3)), [], "t0")
    refused = conditions(
        _observed(_instance("a", 2, rejected=3, reason="ratePerSec: must be >= 0"), _instance("b", 2)), [], "t0"
    )
    found = _by_type(
        swarm_conditions(
            [ChildState("feeder", 2, 2, refused), ChildState("caller", 2, 2, ready)],
            paused=False,
            generation=4,
            previous=[],
            now_text="t",
        )
    )
    applied = found["ConfigApplied"]
    assert (applied.status, applied.reason) == ("False", "WorkerRejectedConfig")
    assert applied.message.startswith("feeder: ")
    assert "ratePerSec: must be >= 0" in applied.message


def test_a_missing_queue_is_queues_ready_false_and_reconciling_not_stalled() -> None:
    problem = "queue hivekeeper.ns_s.call was missing on the broker (deleted?); the operator declared it again"
    found = _by_type(
        conditions(
            _observed(
                _instance("a", 3),
                _instance("b", 3),
                queues_ready=False,
                queue_reason="QueueMissing",
                queue_problem=problem,
            ),
            [],
            "t0",
        )
    )
    assert (found["QueuesReady"].status, found["QueuesReady"].reason, found["QueuesReady"].message) == (
        "False",
        "QueueMissing",
        problem,
    )
    assert found["Stalled"].status == "False", "the operator repairs a missing queue itself: nobody must act"
    assert (found["Ready"].status, found["Reconciling"].status) == ("False", "True")


def test_an_unreachable_broker_is_queues_ready_false_and_stalled() -> None:
    problem = "cannot reach the broker to check the queues: connection refused"
    found = _by_type(conditions(_observed(_instance("a", 3), queues_ready=False, queue_problem=problem), [], "t0"))
    assert (found["QueuesReady"].status, found["QueuesReady"].reason) == ("False", "BrokerUnavailable")
    assert (found["Stalled"].status, found["Stalled"].message) == ("True", problem)
