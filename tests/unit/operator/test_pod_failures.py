"""Each pod failure is named from the pod as the cluster shows it (kube_pods: the kubelet's and the scheduler's own
reasons and messages): its kind, what a person needs to act, and when it happened; the one that needs a person now
stalls the role."""

from __future__ import annotations

import logging
import sys

import kube_pods as k
from hivekeeper.operator.pod_failures import Failure, blocking, clip, failures, log_reason, restarts
from hivekeeper.worker.logs import JsonFormatter

AT = "2026-01-01T00:05:00Z"


def _failures(body: dict) -> list[Failure]:
    return failures(k.parsed(body))


# --- container runs that ended ---


def test_an_oom_kill_in_a_crash_loop_is_named_with_the_memory_limit_and_stalls() -> None:
    body = k.oom_crash_loop("caller-oom")
    assert _failures(body) == [
        Failure(
            "caller-oom",
            "OOMKilled",
            "its worker was OOMKilled at its memory limit 64Mi; raise resources.limits.memory of the role",
            AT,
        )
    ]
    assert blocking([k.parsed(body)]) == (
        "pod caller-oom is CrashLoopBackOff: its worker was OOMKilled at its memory limit 64Mi; "
        "raise resources.limits.memory of the role"
    )


def test_an_oom_kill_it_restarted_from_is_a_failure_but_not_a_stall() -> None:
    body = k.oom_running_again("caller-oom")
    [failure] = _failures(body)
    assert (failure.kind, failure.time) == ("OOMKilled", AT)
    assert blocking([k.parsed(body)]) == ""


def test_a_container_just_oom_killed_stalls_before_the_kubelet_restarts_it() -> None:
    body = k.pod(
        "caller-oom", containers=[{**k.running_status(), "state": {"terminated": k.ended("OOMKilled", 137, AT)}}]
    )
    assert blocking([k.parsed(body)]) == (
        "pod caller-oom is OOMKilled: its worker was OOMKilled at its memory limit 64Mi; "
        "raise resources.limits.memory of the role"
    )


def test_a_liveness_restart_is_unresponsive_with_the_reason_the_health_check_wrote() -> None:
    body = k.unresponsive_restarted("caller-stuck")
    assert _failures(body) == [
        Failure(
            "caller-stuck",
            "Unresponsive",
            "its liveness probe failed and the kubelet restarted it: event loop has not turned for 31.2 s",
            AT,
        )
    ]
    assert blocking([k.parsed(body)]) == "", "restarted and running again: Kubernetes healed it"


def test_a_fatal_error_the_worker_named_is_shown_with_its_exit_code_and_stalls_its_crash_loop() -> None:
    body = k.fatal_crash_loop("caller-bad")
    [failure] = _failures(body)
    assert failure.kind == "FatalError"
    assert failure.message == (
        "its worker stopped on an error (exit code 2): bootstrap config rejected: inputs.scheduler.ratePerSec: "
        "must be >= 0 (got -5)"
    )
    assert blocking([k.parsed(body)]) == f"pod caller-bad is CrashLoopBackOff: {failure.message}"


def test_a_crash_without_a_message_shows_the_last_json_log_line_with_its_exception() -> None:
    [failure] = _failures(k.log_tail_crash_loop("caller-x"))
    assert failure.kind == "Crashed"
    assert failure.message == (
        "its worker exited (exit code 1): cannot reach the broker at amqp://rabbitmq.load:5672: "
        "ConnectionRefusedError: [Errno 111] Connect call failed ('10.96.0.12', 5672)"
    )


def test_a_crash_before_logging_shows_the_last_line_of_its_traceback() -> None:
    [failure] = _failures(k.traceback_crash("caller-x"))
    assert failure.message == (
        "its worker exited (exit code 1): ModuleNotFoundError: No module named 'hivekeeper.worker.roles.custom'"
    )


def test_a_crash_without_any_message_points_at_the_previous_log() -> None:
    body = k.pod("caller-x", containers=[k.running_status(restarts=1, last=k.ended("Error", 137, AT))])
    [failure] = _failures(body)
    assert failure.message == (
        "its worker exited (exit code 137, SIGKILL): no termination message; see kubectl logs --previous caller-x"
    )


def test_a_worker_that_exited_by_itself_is_exited_not_crashed() -> None:
    body = k.pod("caller-x", containers=[k.running_status(restarts=1, last=k.ended("Completed", 0, AT))])
    [failure] = _failures(body)
    assert failure.kind == "Exited"


def test_the_json_log_line_is_read_as_the_worker_writes_it() -> None:
    try:
        raise ConnectionError("broker gone")
    except ConnectionError:
        record = logging.LogRecord("hivekeeper.worker", logging.ERROR, "w.py", 1, "consumer lost", None, sys.exc_info())
    line = JsonFormatter().format(record)
    assert log_reason(f"earlier line\n{line}\n\n") == "consumer lost: ConnectionError: broker gone"


def test_a_log_line_is_bounded_redacted_and_shown_raw_when_it_is_not_whole_json() -> None:
    long_line = "password=hunter2 " + "x" * 1000
    reason = log_reason(long_line)
    assert len(reason) == 300
    assert reason.endswith("…")
    assert "hunter2" not in reason
    assert "password=[redacted]" in reason
    cut = '... truncated by the kubelet", "role": "caller"}'
    assert log_reason(f"{cut}") == cut
    assert log_reason('{"level": "info", "msg": "not ours"}') == '{"level": "info", "msg": "not ours"}'
    assert log_reason("\n \n") == ""
    assert clip("a\n  b\tc") == "a b c"


def test_a_second_container_is_named_in_the_message() -> None:
    sidecar = {**k.running_status(restarts=1, last=k.ended("OOMKilled", 137, AT)), "name": "proxy"}
    body = k.pod("caller-x", containers=[k.running_status(), sidecar])
    [failure] = _failures(body)
    assert failure.message.startswith("container proxy: its worker was OOMKilled")
    assert "at its memory limit" not in failure.message, "the proxy container has no limit in the spec"


# --- pods that ended ---


def test_an_eviction_is_named_with_the_kubelets_message_and_does_not_stall() -> None:
    body = k.evicted("caller-ev")
    assert _failures(body) == [
        Failure(
            "caller-ev",
            "Evicted",
            "the kubelet evicted it: The node was low on resource: memory. Threshold quantity: 100Mi, available: "
            "92164Ki. Container worker was using 180432Ki, request is 64Mi, has larger consumption of memory.",
            AT,
        )
    ], "the container's end is the eviction's doing: not a crash of its own"
    pod = k.parsed(body)
    assert not pod.alive
    assert blocking([pod]) == ""


def test_an_eviction_on_a_cluster_without_disruption_conditions_takes_the_containers_end_as_its_time() -> None:
    body = k.evicted("caller-ev")
    body["status"]["conditions"] = [c for c in body["status"]["conditions"] if c["type"] != "DisruptionTarget"]
    [failure] = _failures(body)
    assert (failure.kind, failure.time) == ("Evicted", AT)


def test_a_preemption_by_the_scheduler_is_named_while_the_pod_terminates() -> None:
    assert _failures(k.preempted("caller-pre")) == [
        Failure("caller-pre", "Preempted", "the scheduler preempted it to make room for a pod of higher priority", AT)
    ]
    assert not k.parsed(k.preempted()).alive


def test_a_drain_is_a_disruption_and_its_workers_clean_stop_is_no_failure() -> None:
    assert _failures(k.drained("caller-dr")) == [
        Failure(
            "caller-dr",
            "Disrupted",
            "evicted through the Eviction API (a node drain, the descheduler or the cluster autoscaler)",
            AT,
        )
    ]


def test_a_node_shutdown_is_a_disruption_with_the_kubelets_message() -> None:
    [failure] = _failures(k.node_shutdown("caller-sd"))
    assert (failure.kind, failure.message) == (
        "Disrupted",
        "its node's kubelet stopped it: Pod was terminated in response to imminent node shutdown.",
    )


def test_the_taint_manager_and_the_pod_gc_are_disruptions() -> None:
    body = k.preempted("caller-t")
    body["status"]["conditions"][0].update(reason="DeletionByTaintManager", message="Taint manager: deleting")
    [failure] = _failures(body)
    assert (failure.kind, failure.message) == (
        "Disrupted",
        "deleted because its node has a NoExecute taint it does not tolerate (node not ready or unreachable?)",
    )
    body["status"]["conditions"][0].update(reason="DeletionByPodGC", message="PodGC: node no longer exists")
    assert _failures(body)[0].message == "deleted by the pod garbage collector: its node is gone"


def test_a_pod_its_node_refused_is_rejected_with_the_kubelets_reason() -> None:
    assert _failures(k.rejected("caller-r")) == [
        Failure(
            "caller-r",
            "Rejected",
            "its node refused to run it (OutOfcpu): Pod was rejected: Node didn't have enough resource: cpu, "
            "requested: 500, used: 1800, capacity: 2000",
            "",
        )
    ]


# --- states that last until a person acts ---


def test_an_unschedulable_pod_is_named_with_the_schedulers_reason_and_stalls() -> None:
    body = k.unschedulable("caller-u")
    reason = (
        "0/1 nodes are available: 1 node(s) didn't match Pod's node affinity/selector. preemption: 0/1 nodes are "
        "available: 1 Preemption is not helpful for scheduling."
    )
    assert _failures(body) == [Failure("caller-u", "Unschedulable", reason, "2026-01-01T00:01:00Z")]
    assert blocking([k.parsed(body)]) == f"pod caller-u is Unschedulable: {reason}"


def test_an_image_that_cannot_be_pulled_is_one_kind_whether_backing_off_or_failing() -> None:
    backing_off, failing = _failures(k.image_pull_backoff("caller-i")), _failures(k.err_image_pull("caller-i"))
    assert [(f.kind, f.time) for f in backing_off + failing] == [("ImagePullBackOff", ""), ("ImagePullBackOff", "")]
    assert blocking([k.parsed(k.image_pull_backoff("caller-i"))]) == (
        'pod caller-i is ImagePullBackOff: Back-off pulling image "ghcr.io/hivekeeper/worker:nope"'
    )
    assert blocking([k.parsed(k.err_image_pull("caller-i"))]).startswith("pod caller-i is ErrImagePull: rpc error")


def test_a_missing_secret_stalls_with_the_kubelets_message() -> None:
    body = k.missing_secret("caller-s")
    assert (
        blocking([k.parsed(body)]) == 'pod caller-s is CreateContainerConfigError: secret "hivekeeper-broker" not found'
    )
    assert [f.kind for f in _failures(body)] == ["CreateContainerConfigError"]


def test_the_first_pod_by_name_that_needs_a_person_is_named() -> None:
    pods = [k.parsed(k.oom_crash_loop("b-oom")), k.parsed(k.unschedulable("c-u")), k.parsed(k.running("a-ok"))]
    assert blocking(pods).startswith("pod b-oom is CrashLoopBackOff")


def test_a_running_pod_shows_no_failure() -> None:
    assert _failures(k.running()) == []
    assert blocking([k.parsed(k.running())]) == ""


def test_restarts_are_summed_over_the_live_pods() -> None:
    pods = [k.oom_crash_loop("a"), k.unresponsive_restarted("b", restarts=2), k.evicted("c"), k.running("d")]
    evicted_restarted = k.parsed(pods[2])
    evicted_restarted.status.containerStatuses[0].restartCount = 5
    assert restarts([k.parsed(pods[0]), k.parsed(pods[1]), evicted_restarted, k.parsed(pods[3])]) == 3 + 2


def test_a_failed_pod_is_not_alive() -> None:
    assert [k.parsed(b).alive for b in (k.running(), k.evicted(), k.rejected(), k.preempted())] == [
        True,
        False,
        False,
        False,
    ]
