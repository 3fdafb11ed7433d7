"""Workers that fit the cluster they run on, on the bench's real node (issue 18): placement by nodeSelector and
tolerations, a role that fits nowhere Stalled with the scheduler's reason, annotations and pull secrets on the
pods, an edit rolling only its role; failures named in the status; Events in `kubectl describe`; and a worker
whose event loop is stuck restarted by its liveness probe.

The node is the bench's one node: the tests label and taint it with names of their own (removed afterwards), so
a role lands there only when it may. The operator runs as a local process (testbench.operator_proc).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import pytest
import yaml
from lightkube import AsyncClient
from lightkube.generic_resource import create_namespaced_resource
from lightkube.resources.core_v1 import Pod

from testbench.diagnose import pods_report
from testbench.kube import NODE_NAME, Cluster, run_kubectl
from testbench.node import PAUSE_IMAGE
from testbench.operator_proc import fresh_namespace
from testbench.procs import ManagedProcess
from testbench.swarms import two_stage_swarm
from testbench.waiting import eventually

pytestmark = pytest.mark.e2e
WorkerRole = create_namespaced_resource("hivekeeper.io", "v1alpha1", "WorkerRole", "workerroles")
SwarmResource = create_namespaced_resource("hivekeeper.io", "v1alpha1", "Swarm", "swarms")
UNREACHABLE_SUT = "http://127.0.0.1:9"
"""These tests are about pods, not traffic: the callers' requests are refused, which they count as errors."""


class Pool(NamedTuple):
    """A node pool on the bench's node: its label and its taint (names unique to the test)."""

    label: str
    value: str
    taint: str


@pytest.fixture
def pool(kubeconfig: Path) -> Iterator[Pool]:
    """The node labelled as a load-generator pool and tainted NoSchedule for it, as a platform team does; both are
    removed afterwards (pods already running are not evicted by a NoSchedule taint)."""
    suffix = uuid.uuid4().hex[:6]
    found = Pool(label=f"hivekeeper.test/pool-{suffix}", value="loadgen", taint=f"hivekeeper.test/loadgen-{suffix}")
    labelled = run_kubectl(kubeconfig, "label", "node", NODE_NAME, f"{found.label}={found.value}")
    assert labelled.returncode == 0, labelled.stderr
    tainted = run_kubectl(kubeconfig, "taint", "node", NODE_NAME, f"{found.taint}=true:NoSchedule")
    try:
        assert tainted.returncode == 0, tainted.stderr
        yield found
    finally:
        run_kubectl(kubeconfig, "taint", "node", NODE_NAME, f"{found.taint}-")
        run_kubectl(kubeconfig, "label", "node", NODE_NAME, f"{found.label}-")


@pytest.fixture
def namespace() -> str:
    return f"fit-{uuid.uuid4().hex[:8]}"


def _apply(kubeconfig: Path, namespace: str, manifest: dict[str, Any]) -> None:
    applied = run_kubectl(kubeconfig, "apply", "-n", namespace, "-f", "-", stdin=yaml.safe_dump(manifest))
    assert applied.returncode == 0, applied.stderr


def _pool_swarm(pool: Pool, sut_url: str) -> dict[str, Any]:
    """feeder -> caller pinned to the pool (Swarm-wide defaults), plus two callers that may not land: ``lost``
    selects a pool no node is in, ``untolerated`` drops the toleration."""
    swarm = two_stage_swarm("fit", sut_url, 2)
    spec = swarm["spec"]
    spec["pod"] = {
        "nodeSelector": {pool.label: pool.value},
        "tolerations": [{"key": pool.taint, "operator": "Exists", "effect": "NoSchedule"}],
        "annotations": {"sidecar.istio.io/inject": "false"},
        "labels": {"team": "perf"},
        "imagePullSecrets": [{"name": "mirror-pull"}],
    }
    caller = spec["roles"][1]
    lost = {**caller, "name": "lost", "pod": {"nodeSelector": {pool.label: "elsewhere"}}}
    untolerated = {**caller, "name": "untolerated", "pod": {"tolerations": []}}
    spec["roles"] += [lost, untolerated]
    return swarm


async def _pods(kube: AsyncClient, namespace: str, role: str) -> list[Pod]:
    return [
        p
        async for p in kube.list(Pod, namespace=namespace, labels={"hivekeeper.io/role": role})
        if p.metadata and not p.metadata.deletionTimestamp
    ]


async def _stalled(kube: AsyncClient, namespace: str, name: str) -> str | None:
    """The Stalled condition's message of WorkerRole ``name`` while it is True, else None."""
    role = await kube.get(WorkerRole, name, namespace=namespace)
    for condition in (role.get("status") or {}).get("conditions", []):
        if condition["type"] == "Stalled" and condition["status"] == "True":
            return str(condition["message"])
    return None


@pytest.mark.timeout(600)
async def test_a_pinned_role_lands_on_its_pool_and_one_that_fits_nowhere_is_stalled_with_the_schedulers_reason(
    kubeconfig: Path,
    namespace: str,
    operator_process: ManagedProcess,
    pod_rabbitmq_url: str,
    pool: Pool,
) -> None:
    async with fresh_namespace(kubeconfig, namespace, amqp_url=pod_rabbitmq_url) as kube:
        _apply(kubeconfig, namespace, _pool_swarm(pool, UNREACHABLE_SUT))

        async def running(role: str) -> list[Pod] | None:
            pods = await _pods(kube, namespace, role)
            return pods if pods and all(p.status and p.status.phase == "Running" for p in pods) else None

        try:
            [caller] = await eventually(lambda: running("caller"), timeout=180, interval=1, what="the caller pod")
            await eventually(lambda: running("feeder"), timeout=60, interval=1, what="the feeder pod")
            lost = await eventually(
                lambda: _stalled(kube, namespace, "fit-lost"), timeout=90, interval=1, what="fit-lost Stalled"
            )
            untolerated = await eventually(
                lambda: _stalled(kube, namespace, "fit-untolerated"),
                timeout=90,
                interval=1,
                what="fit-untolerated Stalled",
            )
        except AssertionError as exc:
            log = operator_process.log_path.read_text(errors="replace")[-3000:]
            raise AssertionError(f"{exc}\noperator log: {log}\n{pods_report(kubeconfig, namespace)}") from exc

        assert caller.spec is not None
        assert caller.metadata is not None
        assert caller.spec.nodeName == NODE_NAME
        assert caller.spec.nodeSelector == {pool.label: pool.value}
        assert [(t.key, t.operator, t.effect) for t in caller.spec.tolerations or [] if t.key == pool.taint] == [
            (pool.taint, "Exists", "NoSchedule")
        ]
        assert (caller.metadata.annotations or {}).get("sidecar.istio.io/inject") == "false"
        assert (caller.metadata.labels or {}).get("team") == "perf"
        assert [s.name for s in caller.spec.imagePullSecrets or []] == ["mirror-pull"]
        assert "Unschedulable" in lost, lost
        assert "didn't match Pod's node affinity/selector" in lost, lost
        assert "Unschedulable" in untolerated, untolerated
        assert "had untolerated taint" in untolerated, untolerated

        async def swarm_stalled() -> str | None:
            swarm = await kube.get(SwarmResource, "fit", namespace=namespace)
            for condition in (swarm.get("status") or {}).get("conditions", []):
                if condition["type"] == "Stalled" and condition["status"] == "True":
                    return str(condition["message"])
            return None

        message = await eventually(swarm_stalled, timeout=60, interval=1, what="the Swarm Stalled")
        assert message.startswith(("lost: pod fit-lost-", "untolerated: pod fit-untolerated-")), message
        assert "Unschedulable" in message, message

        # What happened, in `kubectl describe`: the operator's own Events on the Swarm and on the WorkerRole.
        async def described(kind: str, name: str, *reasons: str) -> str | None:
            text = run_kubectl(kubeconfig, "describe", kind, "-n", namespace, name).stdout
            return text if all(reason in text for reason in reasons) else None

        swarm_described = await eventually(
            lambda: described("swarm", "fit", "Created"), timeout=60, interval=1, what="the Swarm's Events"
        )
        assert "created WorkerRole fit-caller" in swarm_described, swarm_described
        role_described = await eventually(
            lambda: described("wr", "fit-caller", "QueuesDeclared", "ConfigPushed", "ConfigApplied"),
            timeout=60,
            interval=1,
            what="the caller WorkerRole's Events",
        )
        assert "config generation 1" in role_described, role_described
        pause = '{"spec":{"paused":true}}'
        paused = run_kubectl(kubeconfig, "patch", "-n", namespace, "sw/fit", "--type=merge", "-p", pause)
        assert paused.returncode == 0, paused.stderr
        await eventually(
            lambda: described("swarm", "fit", "Paused"), timeout=60, interval=1, what="the Swarm's Paused Event"
        )
        await eventually(
            lambda: described("wr", "fit-caller", "Paused", "config generation 2"),
            timeout=60,
            interval=1,
            what="the caller's Paused Event and its config generation 2 (enabled: false)",
        )

        explained = run_kubectl(kubeconfig, "explain", "swarm.spec.pod.tolerations")
        assert explained.returncode == 0, explained.stderr
        assert "tolerationSeconds" in explained.stdout
        assert "Taints the pods tolerate" in explained.stdout

        # An edit of one role's pod block rolls that role only.
        feeder_before = {p.metadata.uid for p in await _pods(kube, namespace, "feeder") if p.metadata}
        edited = _pool_swarm(pool, UNREACHABLE_SUT)
        edited["spec"]["roles"][1]["pod"] = {"annotations": {"example.test/edited": "yes"}}
        _apply(kubeconfig, namespace, edited)

        async def caller_rolled() -> bool:
            pods = await running("caller") or []
            return any((p.metadata.annotations or {}).get("example.test/edited") == "yes" for p in pods if p.metadata)

        await eventually(caller_rolled, timeout=120, interval=1, what="a new caller pod with the edited annotation")
        feeder_after = {p.metadata.uid for p in await _pods(kube, namespace, "feeder") if p.metadata}
        assert feeder_after == feeder_before, "the feeder's pod block did not change: its pod stays"
        # The same Event again (resumed, then paused once more) bumps the count of the one written, with a PATCH, as
        # the built-in controllers do; it writes no second Event. (`kubectl apply` above left `paused` alone: the
        # patch set it, and apply only changes what its own manifests said.)
        resume = '{"spec":{"paused":false}}'
        resumed = run_kubectl(kubeconfig, "patch", "-n", namespace, "sw/fit", "--type=merge", "-p", resume)
        assert resumed.returncode == 0, resumed.stderr
        await eventually(
            lambda: described("swarm", "fit", "Resumed"), timeout=60, interval=1, what="the Swarm's Resumed Event"
        )
        paused = run_kubectl(kubeconfig, "patch", "-n", namespace, "sw/fit", "--type=merge", "-p", pause)
        assert paused.returncode == 0, paused.stderr

        async def paused_events() -> list[int] | None:
            found = _swarm_events(kubeconfig, namespace, "Paused")
            return found if found == [2] else None

        try:
            await eventually(paused_events, timeout=60, interval=1, what="one Paused Event with count 2")
        except AssertionError as exc:
            every = run_kubectl(kubeconfig, "get", "events", "-n", namespace, "-o", "wide").stdout
            raise AssertionError(f"{exc}\n{every}") from exc
        deleted = run_kubectl(kubeconfig, "delete", "-n", namespace, "swarm/fit", "--timeout=90s")
        assert deleted.returncode == 0, deleted.stderr
        events = run_kubectl(
            kubeconfig, "get", "events", "-n", namespace, "--field-selector", "involvedObject.kind=Swarm",
            "-o", "jsonpath={range .items[*]}{.reason}{'\\n'}{end}",
        )  # fmt: skip
        assert {"QueuesDeleted", "FinalizerReleased"} <= set(events.stdout.split()), events.stdout


def _swarm_events(kubeconfig: Path, namespace: str, reason: str) -> list[int]:
    """The counts of the Events of ``reason`` on the Swarms of ``namespace``."""
    listed = run_kubectl(
        kubeconfig, "get", "events", "-n", namespace, "--field-selector", f"involvedObject.kind=Swarm,reason={reason}",
        "-o", "json",
    )  # fmt: skip
    assert listed.returncode == 0, listed.stderr
    return [int(item.get("count") or 1) for item in json.loads(listed.stdout)["items"]]


async def _failures(kube: AsyncClient, namespace: str, name: str) -> list[dict[str, Any]]:
    role = await kube.get(WorkerRole, name, namespace=namespace)
    return list((role.get("status") or {}).get("failures", []))


def _one_role_swarm(name: str, role: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "hivekeeper.io/v1alpha1",
        "kind": "Swarm",
        "metadata": {"name": name},
        "spec": {"sut": {"endpoints": {"default": {"baseUrl": UNREACHABLE_SUT}}}, "roles": [role]},
    }


ONE_A_SECOND = {"inputs": {"type": "SCHEDULER", "scheduler": {"ratePerSec": 1}}}
CALLER = {
    "name": "caller",
    "role": "processor",
    "config": {"baseUrl": "{{ sut.endpoints.default.baseUrl }}", "threadCount": 1, **ONE_A_SECOND},
}
"""A processor making its own items, one a second (its calls are refused): a worker pod is all these tests need."""


@pytest.mark.timeout(600)
async def test_a_worker_whose_event_loop_is_stuck_is_restarted_by_its_liveness_probe_and_the_status_says_so(
    kubeconfig: Path,
    namespace: str,
    cluster: Cluster,
    operator_process: ManagedProcess,
    pod_rabbitmq_url: str,
) -> None:
    """A user's custom worker (tests/e2e/custom_worker) blocks its event loop for good 15 s after it starts, as a
    blocking library call would: its /livez answers 503 naming the stall (from a thread: the loop cannot answer),
    the kubelet restarts the container after three failed probes, and the WorkerRole's status names it
    ``Unresponsive`` with the worker's own reason, and counts the restart."""
    from testbench.images import ensure_image_from

    custom = "example.test/custom-worker:1"
    cluster.load_images([ensure_image_from(Path(__file__).parent / "custom_worker", custom)])
    async with fresh_namespace(kubeconfig, namespace, amqp_url=pod_rabbitmq_url) as kube:
        stuck = {
            "name": "stuck",
            "image": custom,
            "config": {"baseUrl": "{{ sut.endpoints.default.baseUrl }}", "threadCount": 1, **ONE_A_SECOND},
            "env": [{"name": "CUSTOM_STALL_AFTER_SECONDS", "value": "15"}],
        }
        _apply(kubeconfig, namespace, _one_role_swarm("stuck", stuck))

        async def unresponsive() -> dict[str, Any] | None:
            found = [f for f in await _failures(kube, namespace, "stuck-stuck") if f["reason"] == "Unresponsive"]
            return found[0] if found else None

        try:
            failure = await eventually(unresponsive, timeout=240, interval=2, what="an Unresponsive failure")
        except AssertionError as exc:
            log = operator_process.log_path.read_text(errors="replace")[-3000:]
            raise AssertionError(f"{exc}\noperator log: {log}\n{pods_report(kubeconfig, namespace)}") from exc
        assert (
            "its liveness probe failed and the kubelet restarted it: event loop has not turned for "
            in (failure["message"])
        ), failure
        assert "HIVEKEEPER_LOOP_STALL_SECONDS" in failure["message"], failure
        [pod] = await _pods(kube, namespace, "stuck")
        assert pod.status is not None
        [container] = pod.status.containerStatuses or []
        assert container.restartCount >= 1
        last = container.lastState.terminated if container.lastState else None
        assert last is not None
        assert (last.message or "").startswith("unhealthy: event loop has not turned for "), last
        role = await kube.get(WorkerRole, "stuck-stuck", namespace=namespace)
        assert role["status"]["restarts"] >= 1
        listed = run_kubectl(kubeconfig, "get", "wr", "-n", namespace, "stuck-stuck")
        assert "RESTARTS" in listed.stdout.splitlines()[0], listed.stdout


@pytest.mark.timeout(600)
async def test_an_evicted_and_a_preempted_worker_are_named_in_the_status(
    kubeconfig: Path,
    namespace: str,
    operator_process: ManagedProcess,
    pod_rabbitmq_url: str,
) -> None:
    """Two real disruptions of a worker pod on the node: the kubelet evicts one whose /tmp scratch volume grew past
    its size limit, and the scheduler preempts one for a pod of a higher PriorityClass that needs its CPU. Each is
    named in the WorkerRole's ``failures`` with Kubernetes' own reason; the Deployment replaces the pods."""
    async with fresh_namespace(kubeconfig, namespace, amqp_url=pod_rabbitmq_url) as kube:
        _apply(kubeconfig, namespace, _one_role_swarm("hit", CALLER))

        async def one_running(not_named: str = "") -> Pod | None:
            """The one caller pod once it is Ready (its worker answers /readyz: the container runs), other than
            ``not_named`` (an evicted pod can still say Ready for a moment after its Evicted Event is named)."""
            pods = [
                p
                for p in await _pods(kube, namespace, "caller")
                if _ready(p) and p.metadata is not None and p.metadata.name != not_named
            ]
            return pods[0] if len(pods) == 1 else None

        first = await eventually(one_running, timeout=120, interval=1, what="the caller pod Ready")
        assert first.metadata is not None
        filled = run_kubectl(
            kubeconfig, "exec", "-n", namespace, first.metadata.name, "--",
            "python", "-c", "open('/tmp/fill', 'wb').write(b'0' * (80 << 20))",
        )  # fmt: skip
        assert filled.returncode == 0, filled.stderr

        async def named(reason: str) -> dict[str, Any] | None:
            found = [f for f in await _failures(kube, namespace, "hit-caller") if f["reason"] == reason]
            return found[0] if found else None

        try:
            evicted = await eventually(lambda: named("Evicted"), timeout=120, interval=2, what="an Evicted failure")
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{pods_report(kubeconfig, namespace)}") from exc
        assert evicted["pod"] == first.metadata.name
        assert 'Usage of EmptyDir volume "tmp" exceeds the limit' in evicted["message"], evicted

        evicted_pod = first.metadata.name
        second = await eventually(
            lambda: one_running(not_named=evicted_pod), timeout=120, interval=1, what="a new caller pod Ready"
        )
        assert second.metadata is not None
        priority = f"hk-preemptor-{uuid.uuid4().hex[:6]}"
        try:
            made = run_kubectl(
                kubeconfig, "create", "priorityclass", priority, "--value=1000000", "--description=e2e preemptor"
            )
            assert made.returncode == 0, made.stderr
            _apply(kubeconfig, namespace, _cpu_hog(kubeconfig, priority))

            try:
                preempted = await eventually(
                    lambda: named("Preempted"), timeout=120, interval=1, what="a Preempted failure"
                )
            except AssertionError as exc:
                raise AssertionError(f"{exc}\n{pods_report(kubeconfig, namespace)}") from exc
            assert preempted["pod"] == second.metadata.name
            # Its replacement cannot fit while the hog runs: the role is Stalled with the scheduler's reason.
            message = await eventually(
                lambda: _stalled(kube, namespace, "hit-caller"), timeout=90, interval=1, what="hit-caller Stalled"
            )
            assert "Insufficient cpu" in message, message
        finally:
            run_kubectl(kubeconfig, "delete", "pod", "-n", namespace, "hog", "--wait=false")
            run_kubectl(kubeconfig, "delete", "priorityclass", priority)
        await eventually(one_running, timeout=120, interval=1, what="the caller running again without the hog")


def _ready(pod: Pod) -> bool:
    conditions = pod.status.conditions if pod.status else None
    return any(c.type == "Ready" and c.status == "True" for c in conditions or [])


def _cpu_hog(kubeconfig: Path, priority: str) -> dict[str, Any]:
    """A pause pod of ``priority`` requesting the node's free CPU plus 50m: it fits only if a worker (100m) goes."""
    node = json.loads(run_kubectl(kubeconfig, "get", "node", NODE_NAME, "-o", "json").stdout)
    allocatable = _millicores(node["status"]["allocatable"]["cpu"])
    pods = json.loads(
        run_kubectl(
            kubeconfig, "get", "pods", "-A", "--field-selector", f"spec.nodeName={NODE_NAME}", "-o", "json"
        ).stdout
    )["items"]
    used = sum(
        _millicores(((c.get("resources") or {}).get("requests") or {}).get("cpu", "0"))
        for p in pods
        if p["status"].get("phase") not in ("Succeeded", "Failed")
        for c in p["spec"]["containers"]
    )
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "hog"},
        "spec": {
            "priorityClassName": priority,
            "containers": [
                {
                    "name": "pause",
                    "image": PAUSE_IMAGE,
                    "imagePullPolicy": "Never",
                    "resources": {"requests": {"cpu": f"{allocatable - used + 50}m"}},
                }
            ],
        },
    }


def _millicores(text: str) -> int:
    return int(text[:-1]) if text.endswith("m") else int(float(text) * 1000)


@pytest.mark.timeout(600)
async def test_a_crash_looping_worker_is_stalled_with_the_reason_it_gave(
    kubeconfig: Path,
    namespace: str,
    operator_process: ManagedProcess,
    pod_rabbitmq_url: str,
) -> None:
    """Workers whose Secret points at a broker nobody runs stop at start, naming why (their termination message);
    the kubelet backs off restarting them, and the WorkerRole is Stalled with CrashLoopBackOff and that reason,
    without the password of the URL."""
    async with fresh_namespace(kubeconfig, namespace, amqp_url=pod_rabbitmq_url) as kube:
        secret = run_kubectl(
            kubeconfig, "create", "secret", "generic", "hivekeeper-nowhere", "-n", namespace,
            "--from-literal=amqpUrl=amqp://guest:s3cret-pw@127.0.0.1:1/?connection_timeout=2",
        )  # fmt: skip
        assert secret.returncode == 0, secret.stderr
        swarm = _one_role_swarm("nowhere", CALLER)
        swarm["spec"]["secretRef"] = {"name": "hivekeeper-nowhere"}
        _apply(kubeconfig, namespace, swarm)

        async def crash_looping() -> str | None:
            message = await _stalled(kube, namespace, "nowhere-caller")
            return message if message and "CrashLoopBackOff" in message else None

        try:
            message = await eventually(crash_looping, timeout=240, interval=2, what="nowhere-caller CrashLoopBackOff")
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{pods_report(kubeconfig, namespace)}") from exc
        assert "broker unreachable at start" in message, message
        assert "s3cret-pw" not in message, message
        failures = await _failures(kube, namespace, "nowhere-caller")
        assert any("broker unreachable at start" in f["message"] for f in failures), failures
        assert not any("s3cret-pw" in f["message"] for f in failures), failures
