"""Worker pods as the API server returns them (``kubectl get pod -o json``) in each failure the operator names.

Each function gives the whole pod of a Deployment-made worker (fields the operator ignores included, so the views
are shown to read real bodies), with the status the kubelet or the scheduler writes in that failure: the reasons,
messages, conditions and container states are theirs (kubelet eviction manager, node shutdown manager, scheduler
preemption, taint manager, image puller, ``FallbackToLogsOnError`` log tails).
"""

from __future__ import annotations

import copy
from typing import Any

from hivekeeper.operator.pods import Pod

NAMESPACE = "load"
STARTED = "2026-01-01T00:00:00Z"
LOG_TAIL = (
    '{"time": "2026-01-01T00:04:58", "level": "info", "logger": "hivekeeper.worker", "message": "worker running",'
    ' "swarmId": "load.quickstart", "role": "caller", "instance": "quickstart-caller-7d9f8b6c5-x2k4q"}\n'
)


def _container(memory: str) -> dict[str, Any]:
    return {
        "name": "worker",
        "image": "ghcr.io/hivekeeper/worker:0.18.0",
        "imagePullPolicy": "IfNotPresent",
        "ports": [{"name": "metrics", "containerPort": 9464, "protocol": "TCP"}],
        "resources": {"limits": {"cpu": "500m", "memory": memory}, "requests": {"cpu": "100m", "memory": memory}},
        "livenessProbe": {
            "httpGet": {"path": "/livez", "port": "metrics", "scheme": "HTTP"},
            "periodSeconds": 10,
            "timeoutSeconds": 3,
            "failureThreshold": 3,
            "successThreshold": 1,
        },
        "terminationMessagePath": "/dev/termination-log",
        "terminationMessagePolicy": "FallbackToLogsOnError",
    }


def _condition(type_: str, status: str = "True", at: str = STARTED, **extra: str) -> dict[str, Any]:
    return {"type": type_, "status": status, "lastProbeTime": None, "lastTransitionTime": at, **extra}


def running_status(
    *, restarts: int = 0, last: dict[str, Any] | None = None, ready: bool = True, started: str = STARTED
) -> dict[str, Any]:
    """The worker container running (after ``restarts`` restarts, the last one ending as ``last``)."""
    return {
        "name": "worker",
        "image": "ghcr.io/hivekeeper/worker:0.18.0",
        "imageID": "ghcr.io/hivekeeper/worker@sha256:9f2c",
        "containerID": "containerd://4be1",
        "ready": ready,
        "started": True,
        "restartCount": restarts,
        "state": {"running": {"startedAt": started}},
        "lastState": {"terminated": last} if last else {},
    }


def backing_off(name: str, *, restarts: int, last: dict[str, Any]) -> dict[str, Any]:
    """The worker container waiting in CrashLoopBackOff after its last run ended as ``last``."""
    return {
        **running_status(restarts=restarts, last=last, ready=False),
        "started": False,
        "state": {
            "waiting": {
                "reason": "CrashLoopBackOff",
                "message": f"back-off 40s restarting failed container=worker pod={name}_{NAMESPACE}(5c0e1d2a)",
            }
        },
    }


def ended(reason: str, exit_code: int, finished: str, message: str = "") -> dict[str, Any]:
    """A ``terminated`` container state."""
    state: dict[str, Any] = {
        "exitCode": exit_code,
        "reason": reason,
        "startedAt": STARTED,
        "finishedAt": finished,
        "containerID": "containerd://17aa",
    }
    if message:
        state["message"] = message
    return state


def pod(
    name: str = "quickstart-caller-7d9f8b6c5-x2k4q",
    *,
    phase: str = "Running",
    containers: list[dict[str, Any]] | None = None,
    conditions: list[dict[str, Any]] | None = None,
    memory: str = "64Mi",
    deleting: bool = False,
    **status: Any,
) -> dict[str, Any]:
    """A worker pod's JSON: ``containers`` are its containerStatuses, ``status`` the rest of its status."""
    body: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "generateName": name.rsplit("-", 1)[0] + "-",
            "namespace": NAMESPACE,
            "uid": "5c0e1d2a-8f1e-4d57-9a0b-3f7c2e9d1b44",
            "resourceVersion": "48213",
            "creationTimestamp": STARTED,
            "labels": {"hivekeeper.io/swarm": "quickstart", "hivekeeper.io/role": "caller"},
            "ownerReferences": [
                {
                    "apiVersion": "apps/v1",
                    "kind": "ReplicaSet",
                    "name": name.rsplit("-", 1)[0],
                    "uid": "0d6f",
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "spec": {
            "containers": [_container(memory)],
            "restartPolicy": "Always",
            "terminationGracePeriodSeconds": 30,
            "schedulerName": "default-scheduler",
            "nodeName": "hk-node",
            "priority": 0,
        },
        "status": {
            "phase": phase,
            "conditions": conditions
            if conditions is not None
            else [
                _condition("Initialized"),
                _condition("Ready"),
                _condition("ContainersReady"),
                _condition("PodScheduled"),
            ],
            "hostIP": "172.18.0.2",
            "podIP": "10.244.0.17",
            "startTime": STARTED,
            "qosClass": "Guaranteed",
            "containerStatuses": containers if containers is not None else [running_status()],
            **status,
        },
    }
    if deleting:
        body["metadata"]["deletionTimestamp"] = "2026-01-01T00:06:00Z"
        body["metadata"]["deletionGracePeriodSeconds"] = 30
    return body


def parsed(body: dict[str, Any]) -> Pod:
    return Pod.model_validate(copy.deepcopy(body))


# --- one function per failure, as the cluster shows it ---


def running(name: str = "quickstart-caller-7d9f8b6c5-x2k4q") -> dict[str, Any]:
    return pod(name)


def oom_crash_loop(name: str = "quickstart-caller-7d9f8b6c5-x2k4q", finished: str = "2026-01-01T00:05:00Z") -> dict:
    """Killed at its 64Mi limit three times; the kubelet backs off restarting it. (The message is the log tail: the
    container ended with a non-zero exit code, so FallbackToLogsOnError applies even to an OOM kill.)"""
    last = ended("OOMKilled", 137, finished, LOG_TAIL)
    return pod(name, containers=[backing_off(name, restarts=3, last=last)])


def oom_running_again(name: str = "quickstart-caller-7d9f8b6c5-x2k4q", finished: str = "2026-01-01T00:05:00Z") -> dict:
    """Killed at its limit once, running again (the first restart is immediate)."""
    return pod(name, containers=[running_status(restarts=1, last=ended("OOMKilled", 137, finished, LOG_TAIL))])


def unresponsive_restarted(
    name: str = "quickstart-caller-7d9f8b6c5-x2k4q", finished: str = "2026-01-01T00:05:00Z", restarts: int = 1
) -> dict[str, Any]:
    """Its liveness probe failed after the worker's health check wrote why; the kubelet restarted it."""
    last = ended("Error", 143, finished, "unhealthy: event loop has not turned for 31.2 s")
    return pod(name, containers=[running_status(restarts=restarts, last=last)])


def fatal_crash_loop(name: str = "quickstart-caller-7d9f8b6c5-x2k4q") -> dict[str, Any]:
    """The worker stopped on an error it named (its bootstrap config), again and again."""
    message = "fatal: bootstrap config rejected: inputs.scheduler.ratePerSec: must be >= 0 (got -5)"
    last = ended("Error", 2, "2026-01-01T00:05:00Z", message)
    return pod(name, containers=[backing_off(name, restarts=4, last=last)])


def log_tail_crash_loop(name: str = "quickstart-caller-7d9f8b6c5-x2k4q") -> dict[str, Any]:
    """The worker crashed without a termination message: the kubelet kept the tail of its log, whose last line is a
    JSON error line with a traceback."""
    tail = LOG_TAIL + (
        '{"time": "2026-01-01T00:04:59", "level": "error", "logger": "hivekeeper.worker", "message": '
        '"cannot reach the broker at amqp://rabbitmq.load:5672", "swarmId": "load.quickstart", "role": "caller", '
        '"exception": "Traceback (most recent call last):\\n  File \\"/app/hivekeeper/worker/runtime.py\\", line 88, '
        "in start\\nConnectionRefusedError: [Errno 111] Connect call failed ('10.96.0.12', 5672)\"}\n"
    )
    last = ended("Error", 1, "2026-01-01T00:05:00Z", tail)
    return pod(name, containers=[backing_off(name, restarts=2, last=last)])


def traceback_crash(name: str = "quickstart-caller-7d9f8b6c5-x2k4q") -> dict[str, Any]:
    """A crash before logging was set up: the log tail is a plain Python traceback (stderr); running again."""
    tail = (
        "Traceback (most recent call last):\n"
        '  File "/app/hivekeeper/worker/__main__.py", line 12, in <module>\n'
        "    main()\n"
        "ModuleNotFoundError: No module named 'hivekeeper.worker.roles.custom'\n"
    )
    return pod(name, containers=[running_status(restarts=1, last=ended("Error", 1, "2026-01-01T00:05:00Z", tail))])


def evicted(name: str = "quickstart-caller-7d9f8b6c5-b7wz2", at: str = "2026-01-01T00:05:00Z") -> dict[str, Any]:
    """Evicted by the kubelet under node memory pressure (phase Failed, reason Evicted, DisruptionTarget)."""
    message = (
        "The node was low on resource: memory. Threshold quantity: 100Mi, available: 92164Ki. Container worker was "
        "using 180432Ki, request is 64Mi, has larger consumption of memory. "
    )
    return pod(
        name,
        phase="Failed",
        reason="Evicted",
        message=message,
        conditions=[
            _condition("DisruptionTarget", at=at, reason="TerminationByKubelet", message=message),
            _condition("Initialized"),
            _condition("Ready", "False", at, reason="PodFailed"),
            _condition("ContainersReady", "False", at, reason="PodFailed"),
            _condition("PodScheduled"),
        ],
        containers=[{**running_status(ready=False), "state": {"terminated": ended("Error", 137, at)}}],
    )


def preempted(name: str = "quickstart-caller-7d9f8b6c5-p4m8d", at: str = "2026-01-01T00:05:00Z") -> dict[str, Any]:
    """Preempted by the scheduler: the condition is set, then the pod is deleted (seen while it terminates)."""
    return pod(
        name,
        deleting=True,
        conditions=[
            _condition(
                "DisruptionTarget",
                at=at,
                reason="PreemptionByScheduler",
                message="default-scheduler: preempting to accommodate a higher priority pod",
            ),
            _condition("Initialized"),
            _condition("Ready"),
            _condition("ContainersReady"),
            _condition("PodScheduled"),
        ],
    )


def drained(name: str = "quickstart-caller-7d9f8b6c5-d9q1v", at: str = "2026-01-01T00:05:00Z") -> dict[str, Any]:
    """Evicted through the Eviction API (``kubectl drain``): being deleted, its worker stopping."""
    return pod(
        name,
        deleting=True,
        conditions=[
            _condition("DisruptionTarget", at=at, reason="EvictionByEvictionAPI", message="Eviction API: evicting"),
            _condition("Initialized"),
            _condition("Ready"),
            _condition("PodScheduled"),
        ],
        containers=[{**running_status(), "state": {"terminated": ended("Completed", 0, at)}}],
    )


def node_shutdown(name: str = "quickstart-caller-7d9f8b6c5-s3h6n", at: str = "2026-01-01T00:05:00Z") -> dict:
    """Stopped by the kubelet's graceful node shutdown."""
    message = "Pod was terminated in response to imminent node shutdown."
    return pod(
        name,
        phase="Failed",
        reason="Terminated",
        message=message,
        conditions=[
            _condition("DisruptionTarget", at=at, reason="TerminationByKubelet", message=message),
            _condition("Ready", "False", at),
            _condition("PodScheduled"),
        ],
        containers=[{**running_status(ready=False), "state": {"terminated": ended("Error", 143, at)}}],
    )


def rejected(name: str = "quickstart-caller-7d9f8b6c5-r5c2x") -> dict[str, Any]:
    """Refused by its node's kubelet at admission (not enough cpu left there): phase Failed, no container ran."""
    return pod(
        name,
        phase="Failed",
        reason="OutOfcpu",
        message="Pod was rejected: Node didn't have enough resource: cpu, requested: 500, used: 1800, capacity: 2000",
        conditions=[],
        containers=[],
    )


def unschedulable(name: str = "quickstart-caller-7d9f8b6c5-u8k3t", at: str = "2026-01-01T00:01:00Z") -> dict:
    """Pending: no node fits its node selector."""
    message = (
        "0/1 nodes are available: 1 node(s) didn't match Pod's node affinity/selector. preemption: 0/1 nodes are "
        "available: 1 Preemption is not helpful for scheduling."
    )
    body = pod(
        name,
        phase="Pending",
        conditions=[_condition("PodScheduled", "False", at, reason="Unschedulable", message=message)],
        containers=[],
        qosClass="Guaranteed",
    )
    del body["spec"]["nodeName"]
    for key in ("hostIP", "podIP", "startTime"):
        del body["status"][key]
    return body


def image_pull_backoff(name: str = "quickstart-caller-7d9f8b6c5-i2n7f") -> dict[str, Any]:
    status = {
        **running_status(ready=False),
        "image": "ghcr.io/hivekeeper/worker:nope",
        "imageID": "",
        "started": False,
        "state": {
            "waiting": {
                "reason": "ImagePullBackOff",
                "message": 'Back-off pulling image "ghcr.io/hivekeeper/worker:nope"',
            }
        },
    }
    return pod(name, phase="Pending", containers=[status])


def err_image_pull(name: str = "quickstart-caller-7d9f8b6c5-i2n7f") -> dict[str, Any]:
    message = (
        'rpc error: code = NotFound desc = failed to pull and unpack image "ghcr.io/hivekeeper/worker:nope": failed to '
        'resolve reference "ghcr.io/hivekeeper/worker:nope": ghcr.io/hivekeeper/worker:nope: not found'
    )
    status = {
        **running_status(ready=False),
        "imageID": "",
        "started": False,
        "state": {"waiting": {"reason": "ErrImagePull", "message": message}},
    }
    return pod(name, phase="Pending", containers=[status])


def missing_secret(name: str = "quickstart-caller-7d9f8b6c5-m1s5c") -> dict[str, Any]:
    status = {
        **running_status(ready=False),
        "started": False,
        "state": {
            "waiting": {"reason": "CreateContainerConfigError", "message": 'secret "hivekeeper-broker" not found'}
        },
    }
    return pod(name, phase="Pending", containers=[status])
