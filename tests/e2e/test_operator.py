"""The operator on the bench's real node: a Swarm becomes running worker pods (our worker image, run by the
kubelet and containerd); a spec edit reaches them live, without restarting a container.

The operator runs as a local process here (its log and restarts are the test's to control); the Helm tests
run it as a pod. Pods reach the bench's RabbitMQ, Redis and the SUT through the node's address."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from lightkube import AsyncClient
from lightkube.generic_resource import create_namespaced_resource
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import Pod, Secret

from testbench.demo import DemoService, demo_service
from testbench.diagnose import pods_report
from testbench.kube import Cluster, run_kubectl
from testbench.operator_proc import fresh_namespace, start_operator
from testbench.procs import ManagedProcess
from testbench.scripted_http import ScriptedServer, scripted_server
from testbench.swarms import two_stage_swarm
from testbench.waiting import eventually

pytestmark = pytest.mark.e2e
WorkerRole = create_namespaced_resource("hivekeeper.io", "v1alpha1", "WorkerRole", "workerroles")
SwarmResource = create_namespaced_resource("hivekeeper.io", "v1alpha1", "Swarm", "swarms")


@pytest.fixture
def namespace() -> str:
    return f"op-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def operator_process(
    kubeconfig: Path,
    rabbitmq_url: str,
    hivekeeper_crds: None,
    namespace: str,
    tmp_path: Path,
    hivekeeper_images: dict[str, str],
) -> Iterator[ManagedProcess]:
    process = start_operator(
        kubeconfig=kubeconfig,
        rabbitmq_url=rabbitmq_url,
        namespace=namespace,
        worker_image=hivekeeper_images["worker"],
        log_path=tmp_path / "operator.log",
        # The safe default refuses custom images; the image-worker test runs one from this test-only prefix.
        policy={"allowedImages": ["example.test/*"]},
    )
    yield process
    process.stop()


@pytest.fixture
async def sut() -> AsyncIterator[ScriptedServer]:
    async with scripted_server() as server:
        yield server


@pytest.fixture
async def demo() -> AsyncIterator[DemoService]:
    async with demo_service() as service:
        yield service


@pytest.fixture
def sut_url(sut: ScriptedServer, expose: Callable[[int], str]) -> str:
    """The SUT as the worker pods reach it (the node's address, relayed to the server's loopback port)."""
    return f"http://{expose(sut.port)}"


async def _metrics_port(operator: ManagedProcess) -> int:
    """The port the operator's /metrics bound (``--metrics-port auto``), from its log."""

    async def logged() -> int | None:
        found = re.search(r"serving /metrics on port (\d+)", operator.log_path.read_text(errors="replace"))
        return int(found.group(1)) if found else None

    return await eventually(logged, timeout=30, what="the operator to log its metrics port")


_namespace = fresh_namespace


def _apply(kubeconfig: Path, namespace: str, manifest: dict[str, Any]) -> subprocess.CompletedProcess[str]:
    return run_kubectl(kubeconfig, "apply", "-n", namespace, "-f", "-", stdin=yaml.safe_dump(manifest))


def _swarm(sut_url: str, rate: float) -> dict[str, Any]:
    return two_stage_swarm("live", sut_url, rate, callers=2, threads=4)


async def _request_rate(sut: ScriptedServer, seconds: float) -> float:
    """Requests per second the SUT receives over a measuring window (the window is the measurement)."""
    before = len(sut.requests)
    await asyncio.sleep(seconds)
    return (len(sut.requests) - before) / seconds


def _scrape(port: int) -> dict[str, float]:
    """The operator's /metrics as {'name{labels}': value}."""
    import urllib.request

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    samples = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.rpartition(" ")
            samples[key] = float(value)
    return samples


async def test_a_swarm_runs_and_a_rate_edit_is_applied_live_without_restarting_pods(
    kubeconfig: Path,
    rabbitmq_url: str,
    namespace: str,
    operator_process: ManagedProcess,
    sut: ScriptedServer,
    sut_url: str,
    pod_rabbitmq_url: str,
) -> None:
    async with _namespace(kubeconfig, namespace, amqp_url=pod_rabbitmq_url) as kube:
        applied = _apply(kubeconfig, namespace, _swarm(sut_url, 20))
        assert applied.returncode == 0, applied.stderr

        async def config_applied(name: str, generation: int) -> bool:
            role = await kube.get(WorkerRole, name, namespace=namespace)
            status = role.get("status") or {}
            conditions = {c["type"]: c for c in status.get("conditions", [])}
            ok = conditions.get("ConfigApplied", {}).get("status") == "True"
            return ok and status.get("configGeneration") == generation and status.get("readyReplicas", 0) >= 1

        async def everything_applied(generation: int) -> bool:
            return await config_applied("live-feeder", generation) and await config_applied("live-caller", generation)

        try:
            await eventually(
                lambda: everything_applied(1),
                timeout=90,
                interval=0.5,
                what="both WorkerRoles at ConfigApplied=True, generation 1",
            )
        except AssertionError as exc:
            raise AssertionError(
                f"{exc}\noperator log: {operator_process.log_path.read_text()[-3000:]}"
                f"\n{pods_report(kubeconfig, namespace)}"
            ) from exc

        async def traffic() -> bool:
            return len([r for r in sut.requests if r.startswith(b"GET /hello ")]) >= 10

        await eventually(traffic, timeout=30, what="requests from the processors at the SUT")
        pods_before = {p.metadata.uid async for p in kube.list(Pod, namespace=namespace)}
        rate_before = await _request_rate(sut, 3.0)

        patched = _apply(kubeconfig, namespace, _swarm(sut_url, 80))
        assert patched.returncode == 0, patched.stderr
        await eventually(
            lambda: config_applied("live-feeder", 2),
            timeout=30,
            interval=0.2,
            what="the generator at config generation 2",
        )
        pods_after = {p.metadata.uid async for p in kube.list(Pod, namespace=namespace)}
        assert pods_after == pods_before, "a config edit must not restart any pod"
        feeder = await kube.get(WorkerRole, "live-feeder", namespace=namespace)
        assert not feeder["metadata"].get("finalizers"), "a WorkerRole must be deletable without the operator"
        rate_after = await _request_rate(sut, 3.0)
        assert 12 <= rate_before <= 28, f"{rate_before:.1f} req/s at ratePerSec 20"
        assert 60 <= rate_after <= 100, f"{rate_after:.1f} req/s at ratePerSec 80 (was {rate_before:.1f})"

        restarts = {
            p.metadata.name: [c.restartCount for c in (p.status.containerStatuses or [])]
            async for p in kube.list(Pod, namespace=namespace)
        }
        assert all(counts == [0] for counts in restarts.values()), f"no container restarted: {restarts}"
        log = operator_process.log_path.read_text(errors="replace")
        assert "reconcile_swarm" in log, "the log shows the operator's own work"
        assert "HTTP Request:" not in log, "each Kubernetes API request is debugging detail (--verbose)"
        assert "Timer 'roll_up' succeeded." not in log, "each status timer run is routine (--verbose)"
        metrics = _scrape(await _metrics_port(operator_process))
        assert metrics['hivekeeper_operator_reconciles_total{kind="Swarm",result="ok"}'] >= 2
        assert metrics['hivekeeper_operator_reconciles_total{kind="WorkerRole",result="ok"}'] >= 3
        assert metrics['hivekeeper_operator_config_pushes_total{reason="change"}'] >= 3, "2 roles at 1, feeder at 2"
        assert metrics["hivekeeper_operator_config_ack_seconds_count"] >= 1, "the feeder's ack of generation 2"
        assert metrics['hivekeeper_operator_status_patches_total{kind="WorkerRole"}'] >= 2

        async def swarm_ready() -> dict[str, Any] | None:
            swarm = await kube.get(SwarmResource, "live", namespace=namespace)
            status = dict(swarm.get("status") or {})
            conditions = {c["type"]: c for c in status.get("conditions", [])}
            return status if conditions.get("Ready", {}).get("status") == "True" else None

        swarm_status = await eventually(swarm_ready, timeout=30, interval=0.5, what="the Swarm to be Ready")
        assert swarm_status["totals"]["workers"] == "3/3"
        assert [r["name"] for r in swarm_status["roles"]] == ["feeder", "caller"]
        caller = swarm_status["roles"][1]
        assert 0 < caller["latencyMs"]["p50"] <= caller["latencyMs"]["p95"], caller
        assert {q["name"]: q["consumers"] for q in swarm_status["queues"]} == {f"hivekeeper.{namespace}_live.call": 2}
        listed = run_kubectl(kubeconfig, "get", "sw", "-n", namespace)
        assert "3/3" in listed.stdout, listed.stdout


async def test_a_config_the_workers_refuse_shows_in_the_condition_and_the_old_config_keeps_running(
    kubeconfig: Path,
    rabbitmq_url: str,
    namespace: str,
    operator_process: ManagedProcess,
    sut: ScriptedServer,
    sut_url: str,
    pod_rabbitmq_url: str,
) -> None:
    async with _namespace(kubeconfig, namespace, amqp_url=pod_rabbitmq_url) as kube:
        assert _apply(kubeconfig, namespace, _swarm(sut_url, 20)).returncode == 0

        async def feeder_status() -> dict[str, Any]:
            role = await kube.get(WorkerRole, "live-feeder", namespace=namespace)
            return dict(role.get("status") or {})

        async def applied_at_1() -> bool:
            status = await feeder_status()
            return status.get("appliedGeneration") == 1 and status.get("readyReplicas") == 1

        await eventually(applied_at_1, timeout=90, interval=0.5, what="the generator at config generation 1")
        assert _apply(kubeconfig, namespace, _swarm(sut_url, -5)).returncode == 0

        async def refused() -> dict[str, Any] | None:
            status = await feeder_status()
            conditions = {c["type"]: c for c in status.get("conditions", [])}
            config = conditions.get("ConfigApplied", {})
            return config if config.get("reason") == "WorkerRejectedConfig" else None

        condition = await eventually(refused, timeout=30, interval=0.2, what="ConfigApplied=False from the worker")
        assert condition["status"] == "False"
        assert "inputs.scheduler.ratePerSec" in condition["message"]
        assert "workers keep generation 1" in condition["message"]
        status = await feeder_status()
        assert (status["configGeneration"], status["appliedGeneration"]) == (2, 1)
        ready = {c["type"]: c for c in status["conditions"]}["Ready"]
        assert ready["status"] == "False"


async def test_kubectl_scale_on_a_workerrole_brings_more_reporting_instances(
    kubeconfig: Path,
    rabbitmq_url: str,
    namespace: str,
    operator_process: ManagedProcess,
    sut: ScriptedServer,
    sut_url: str,
    pod_rabbitmq_url: str,
) -> None:
    async with _namespace(kubeconfig, namespace, amqp_url=pod_rabbitmq_url) as kube:
        assert _apply(kubeconfig, namespace, _swarm(sut_url, 20)).returncode == 0

        async def caller_instances(count: int) -> bool:
            role = await kube.get(WorkerRole, "live-caller", namespace=namespace)
            status = role.get("status") or {}
            return status.get("readyReplicas") == count and status.get("appliedGeneration") == 1

        await eventually(lambda: caller_instances(2), timeout=90, interval=0.5, what="2 caller instances")
        scaled = run_kubectl(kubeconfig, "scale", "-n", namespace, "wr/live-caller", "--replicas=3")
        assert scaled.returncode == 0, scaled.stderr
        await eventually(
            lambda: caller_instances(3),
            timeout=60,
            interval=0.5,
            what="3 caller instances reporting at the current config generation",
        )
        selector = run_kubectl(
            kubeconfig, "get", "-n", namespace, "wr/live-caller", "-o", "jsonpath={.status.selector}"
        )
        assert selector.stdout == "hivekeeper.io/role=caller,hivekeeper.io/swarm=live"


async def test_a_missing_secret_shows_as_stalled_with_the_secret_named(
    kubeconfig: Path,
    namespace: str,
    operator_process: ManagedProcess,
    sut: ScriptedServer,
    sut_url: str,
    pod_rabbitmq_url: str,
) -> None:
    async with _namespace(kubeconfig, namespace, amqp_url=None) as kube:
        assert _apply(kubeconfig, namespace, _swarm(sut_url, 20)).returncode == 0

        async def stalled() -> dict[str, Any] | None:
            swarm = await kube.get(SwarmResource, "live", namespace=namespace)
            conditions = {c["type"]: c for c in (swarm.get("status") or {}).get("conditions", [])}
            condition = conditions.get("Stalled", {})
            return condition if condition.get("status") == "True" else None

        condition = await eventually(stalled, timeout=60, interval=0.5, what="the Swarm to report Stalled")
        assert "CreateContainerConfigError" in condition["message"]
        assert "hivekeeper-broker" in condition["message"]


async def _queue_exists(rabbitmq_url: str, name: str) -> bool:
    import aio_pika

    connection = await aio_pika.connect(rabbitmq_url)
    try:
        channel = await connection.channel()
        try:
            await channel.declare_queue(name, passive=True)
        except aio_pika.exceptions.ChannelClosed:
            return False
        return True
    finally:
        await connection.close()


@pytest.mark.parametrize("policy", ["Delete", "Retain"])
async def test_deleting_a_swarm_removes_its_children_and_its_queues_unless_retained(
    kubeconfig: Path,
    rabbitmq_url: str,
    namespace: str,
    operator_process: ManagedProcess,
    sut: ScriptedServer,
    sut_url: str,
    pod_rabbitmq_url: str,
    policy: str,
) -> None:
    queue = f"hivekeeper.{namespace}_live.call"
    async with _namespace(kubeconfig, namespace, amqp_url=pod_rabbitmq_url) as kube:
        manifest = _swarm(sut_url, 20)
        manifest["spec"]["deletionPolicy"] = policy
        assert _apply(kubeconfig, namespace, manifest).returncode == 0

        async def running() -> bool:
            swarm = await kube.get(SwarmResource, "live", namespace=namespace)
            status = dict(swarm.get("status") or {})
            ready = {c["type"]: c["status"] for c in status.get("conditions", [])}.get("Ready") == "True"
            return ready and await _queue_exists(rabbitmq_url, queue)

        await eventually(running, timeout=90, interval=0.5, what="a Ready swarm and its call queue")
        deleted = run_kubectl(kubeconfig, "delete", "-n", namespace, "sw/live", "--wait=true", "--timeout=60s")
        assert deleted.returncode == 0, deleted.stderr

        async def children_gone() -> bool:
            roles = [r async for r in kube.list(WorkerRole, namespace=namespace)]
            pods = [p async for p in kube.list(Pod, namespace=namespace)]
            return not roles and not pods

        await eventually(
            children_gone, timeout=120, interval=0.5, what="WorkerRoles, pods and worker processes gone with the Swarm"
        )
        assert await _queue_exists(rabbitmq_url, queue) is (policy == "Retain")

        # The WorkerRoles had no finalizer, so kopf saw no deletion timestamp: their status timers must still stop.
        roles = ["feeder", "caller"]

        def stop_lines() -> list[str]:
            log = operator_process.log_path.read_text(errors="replace")
            return [r for r in roles if f"WorkerRole {namespace}/live-{r} deleted: its status timer stops" in log]

        async def timers_told_to_stop() -> bool:
            return len(stop_lines()) == len(roles)

        await eventually(timers_told_to_stop, timeout=30, what=f"the operator to stop the timers of {roles}")
        port = await _metrics_port(operator_process)
        before = _scrape(port).get('hivekeeper_operator_roll_ups_total{kind="WorkerRole"}', 0.0)
        await asyncio.sleep(3 * 2.0)  # the observation window: three timer intervals in which nothing may run
        after = _scrape(port).get('hivekeeper_operator_roll_ups_total{kind="WorkerRole"}', 0.0)
        assert after == before, f"{after - before:.0f} WorkerRole roll-ups ran after every WorkerRole was deleted"
        log = operator_process.log_path.read_text(errors="replace")
        assert "Traceback" not in log, log[-4000:]


async def test_a_workerrole_edited_after_its_swarm_deleted_the_queues_does_not_declare_them_again(
    kubeconfig: Path,
    rabbitmq_url: str,
    namespace: str,
    operator_process: ManagedProcess,
    sut: ScriptedServer,
    sut_url: str,
    pod_rabbitmq_url: str,
) -> None:
    """Deleting a Swarm pauses its WorkerRoles, then deletes the queues; a WorkerRole reconcile that
    comes after that (late, or for any other edit) must not declare the queues again."""
    queue = f"hivekeeper.{namespace}_live.call"
    hold = "e2e.hivekeeper.io/hold"
    async with _namespace(kubeconfig, namespace, amqp_url=pod_rabbitmq_url) as kube:
        assert _apply(kubeconfig, namespace, _swarm(sut_url, 20)).returncode == 0

        async def running() -> bool:
            return await _swarm_condition(kube, namespace, "Ready") == "True" and await _queue_exists(
                rabbitmq_url, queue
            )

        await eventually(running, timeout=90, interval=0.5, what="a Ready swarm and its call queue")
        held = run_kubectl(
            kubeconfig, "patch", "-n", namespace, "sw/live", "--type=json",
            "-p", f'[{{"op": "add", "path": "/metadata/finalizers/-", "value": "{hold}"}}]',
        )  # fmt: skip
        assert held.returncode == 0, held.stderr
        try:
            deleting = run_kubectl(kubeconfig, "delete", "-n", namespace, "sw/live", "--wait=false")
            assert deleting.returncode == 0, deleting.stderr

            async def cleaned_up() -> bool:
                swarm = await kube.get(SwarmResource, "live", namespace=namespace)
                return swarm["metadata"].get("finalizers") == [hold] and not await _queue_exists(rabbitmq_url, queue)

            await eventually(cleaned_up, timeout=60, interval=0.2, what="the operator's cleanup, with the Swarm held")
            one = '{"spec": {"replicas": 1}}'
            edited = run_kubectl(kubeconfig, "patch", "-n", namespace, "wr/live-caller", "--type=merge", "-p", one)
            assert edited.returncode == 0, edited.stderr

            async def reconciled() -> bool:
                role = await kube.get(WorkerRole, "live-caller", namespace=namespace)
                return role["status"].get("observedGeneration") == role["metadata"]["generation"]

            await eventually(reconciled, timeout=30, interval=0.2, what="the WorkerRole edit to be reconciled")
            assert not await _queue_exists(rabbitmq_url, queue), "the deleted swarm's queue was declared again"
        finally:
            released = run_kubectl(
                kubeconfig, "patch", "-n", namespace, "sw/live", "--type=json",
                "-p", '[{"op": "remove", "path": "/metadata/finalizers"}]',
            )  # fmt: skip
            assert released.returncode == 0, released.stderr


async def test_an_operator_restart_converges_without_pushing_config_again(
    kubeconfig: Path,
    rabbitmq_url: str,
    namespace: str,
    operator_process: ManagedProcess,
    sut: ScriptedServer,
    sut_url: str,
    pod_rabbitmq_url: str,
) -> None:
    async with _namespace(kubeconfig, namespace, amqp_url=pod_rabbitmq_url) as kube:
        assert _apply(kubeconfig, namespace, _swarm(sut_url, 20)).returncode == 0

        async def feeder(generation: int) -> bool:
            role = await kube.get(WorkerRole, "live-feeder", namespace=namespace)
            status = role.get("status") or {}
            return status.get("appliedGeneration") == generation and status.get("configGeneration") == generation

        await eventually(lambda: feeder(1), timeout=90, interval=0.5, what="the generator at generation 1")

        async def swarm_ready() -> bool:
            return await _swarm_condition(kube, namespace, "Ready") == "True"

        await eventually(swarm_ready, timeout=30, interval=0.5, what="a Ready swarm before the restart")
        pods_before = {p.metadata.uid async for p in kube.list(Pod, namespace=namespace)}

        operator_process.stop()
        operator_process.start()
        await eventually(lambda: feeder(1), timeout=30, interval=0.5, what="the restarted operator's status")
        for _ in range(10):  # the Swarm stays Ready through the restart (sampled over ~2.5 s)
            swarm = await kube.get(SwarmResource, "live", namespace=namespace)
            conditions = {c["type"]: c for c in (swarm.get("status") or {}).get("conditions", [])}
            assert conditions["Ready"]["status"] == "True", conditions
            await asyncio.sleep(0.25)
        role = await kube.get(WorkerRole, "live-feeder", namespace=namespace)
        assert role["status"]["configGeneration"] == 1, "a restart must not push config again"
        assert {p.metadata.uid async for p in kube.list(Pod, namespace=namespace)} == pods_before

        assert _apply(kubeconfig, namespace, _swarm(sut_url, 40)).returncode == 0
        await eventually(lambda: feeder(2), timeout=30, interval=0.5, what="an edit after the restart applied")


async def _swarm_condition(kube: AsyncClient, namespace: str, type_: str) -> str | None:
    async def found() -> str | None:
        swarm = await kube.get(SwarmResource, "live", namespace=namespace)
        conditions = {c["type"]: c["status"] for c in (swarm.get("status") or {}).get("conditions", [])}
        return conditions.get(type_)

    return await eventually(found, timeout=30, interval=0.5, what=f"the Swarm's {type_} condition")


async def test_pause_disables_every_worker_and_resume_brings_traffic_back(
    kubeconfig: Path,
    rabbitmq_url: str,
    namespace: str,
    operator_process: ManagedProcess,
    sut: ScriptedServer,
    sut_url: str,
    pod_rabbitmq_url: str,
) -> None:
    async with _namespace(kubeconfig, namespace, amqp_url=pod_rabbitmq_url) as kube:
        manifest = _swarm(sut_url, 50)
        assert _apply(kubeconfig, namespace, manifest).returncode == 0

        async def condition(type_: str, value: str) -> bool:
            swarm = await kube.get(SwarmResource, "live", namespace=namespace)
            conditions = {c["type"]: c["status"] for c in (swarm.get("status") or {}).get("conditions", [])}
            return conditions.get(type_) == value

        await eventually(lambda: condition("Ready", "True"), timeout=90, interval=0.5, what="a Ready swarm")
        manifest["spec"]["paused"] = True
        assert _apply(kubeconfig, namespace, manifest).returncode == 0

        async def all_disabled() -> bool:
            roles = [r async for r in kube.list(WorkerRole, namespace=namespace)]
            instances = [i for r in roles for i in (r.get("status") or {}).get("instances", [])]
            return len(instances) == 3 and not any(i["enabled"] for i in instances)

        await eventually(all_disabled, timeout=60, interval=0.5, what="every worker instance disabled")
        await eventually(lambda: condition("Paused", "True"), timeout=30, interval=0.5, what="Paused=True")
        pods = {p.metadata.uid async for p in kube.list(Pod, namespace=namespace)}
        assert len(pods) == 3, "pause keeps the pods"

        requests_paused = len(sut.requests)
        manifest["spec"]["paused"] = False
        assert _apply(kubeconfig, namespace, manifest).returncode == 0

        async def traffic_again() -> bool:
            return len(sut.requests) >= requests_paused + 10

        await eventually(traffic_again, timeout=60, interval=0.5, what="traffic after resume")
        await eventually(lambda: condition("Paused", "False"), timeout=30, interval=0.5, what="Paused=False")
        assert {p.metadata.uid async for p in kube.list(Pod, namespace=namespace)} == pods


REPO = Path(__file__).resolve().parents[2]


async def test_the_quickstart_example_runs_through_kubectl_and_its_queues_come_back_when_deleted(
    kubeconfig: Path,
    rabbitmq_url: str,
    namespace: str,
    operator_process: ManagedProcess,
    sut: ScriptedServer,
    sut_url: str,
    pod_rabbitmq_url: str,
) -> None:
    """``kubectl apply -f examples/quickstart.yaml`` as users do, then aim it at the SUT with ``kubectl patch``."""
    import aio_pika

    async with _namespace(kubeconfig, namespace, amqp_url=pod_rabbitmq_url) as kube:
        applied = run_kubectl(kubeconfig, "apply", "-n", namespace, "-f", str(REPO / "examples" / "quickstart.yaml"))
        assert applied.returncode == 0, applied.stderr
        patch = {"spec": {"sut": {"endpoints": {"default": {"baseUrl": sut_url}}}}}
        patched = run_kubectl(
            kubeconfig, "patch", "-n", namespace, "sw/quickstart", "--type=merge", "-p", yaml.safe_dump(patch)
        )
        assert patched.returncode == 0, patched.stderr

        roles = ["feeder", "builder", "caller", "stats"]
        queues = [f"hivekeeper.{namespace}_quickstart.{alias}" for alias in ("build", "call", "results")]

        async def running() -> bool:
            deployments = run_kubectl(kubeconfig, "get", "deploy", "-n", namespace, "-o", "name").stdout.split()
            wanted = {f"deployment.apps/quickstart-{role}" for role in roles}
            queues_there = [await _queue_exists(rabbitmq_url, q) for q in queues]
            return set(deployments) == wanted and all(queues_there)

        await eventually(running, timeout=60, interval=0.5, what="4 Deployments and 3 queues of the quickstart")

        async def card_calls() -> bool:
            lines = [r.split(b"\r\n", 1)[0] for r in sut.requests]
            balance = [line for line in lines if line.startswith(b"GET /cards/card-") and b"/balance " in line]
            topup = [line for line in lines if line.startswith(b"POST /cards/card-") and b"/topup " in line]
            return len(balance) >= 20 and len(topup) >= 2

        await eventually(card_calls, timeout=120, interval=0.5, what="balance and topup calls at the SUT")

        async def all_workers_ready() -> bool:
            swarm = await kube.get(SwarmResource, "quickstart", namespace=namespace)
            return (swarm.get("status") or {}).get("totals", {}).get("workers") == "5/5"

        await eventually(all_workers_ready, timeout=30, interval=0.5, what="the Swarm counting 5/5 workers")

        early_log = operator_process.log_path.read_text(errors="replace")
        assert "missing" not in early_log, "a brand-new swarm's queues are not 'missing': " + early_log[-3000:]

        async def stats_queues_ready() -> tuple[str, str, str] | None:
            role = await kube.get(WorkerRole, "quickstart-stats", namespace=namespace)
            found = [c for c in (role.get("status") or {}).get("conditions", []) if c["type"] == "QueuesReady"]
            return (found[0]["status"], found[0]["reason"], found[0]["message"]) if found else None

        assert (await stats_queues_ready() or ("?",))[0] == "True"
        connection = await aio_pika.connect(rabbitmq_url)
        try:
            channel = await connection.channel()
            await channel.queue_delete(queues[2], if_unused=False, if_empty=False)
        finally:
            await connection.close()

        await eventually(
            lambda: _queue_exists(rabbitmq_url, queues[2]),
            timeout=30,
            interval=0.5,
            what="the deleted results queue declared again (its consumer does it at once)",
        )

        async def results_consumed() -> bool:
            swarm = await kube.get(SwarmResource, "quickstart", namespace=namespace)
            stats = {q["name"]: q for q in (swarm.get("status") or {}).get("queues", [])}
            return stats.get(queues[2], {}).get("consumers") == 1

        await eventually(results_consumed, timeout=60, interval=0.5, what="the postprocessor consuming it again")

        # Paused, nobody consumes and nobody re-declares: a deleted queue stays missing until the operator
        # notices. The WorkerRole says so (QueuesReady=False, QueueMissing, the queue named), declares it
        # again, and is back to True at its next roll-up.
        paused = run_kubectl(kubeconfig, "patch", "-n", namespace, "sw/quickstart", "--type=merge", "-p",
                             '{"spec": {"paused": true}}')  # fmt: skip
        assert paused.returncode == 0, paused.stderr

        async def stats_paused() -> bool:
            role = await kube.get(WorkerRole, "quickstart-stats", namespace=namespace)
            found = {c["type"]: c for c in (role.get("status") or {}).get("conditions", [])}
            return found.get("Paused", {}).get("reason") == "Paused"  # every stats worker reports itself disabled

        await eventually(stats_paused, timeout=60, interval=0.5, what="the stats workers of the quickstart paused")
        connection = await aio_pika.connect(rabbitmq_url)
        try:
            channel = await connection.channel()
            await channel.queue_delete(queues[2], if_unused=False, if_empty=False)
        finally:
            await connection.close()

        async def reported_missing() -> tuple[str, str, str] | None:
            # The caller writes the queue and stats reads it: whichever role's roll-up ticks first reports it.
            for role in [r async for r in kube.list(WorkerRole, namespace=namespace)]:
                for c in (role.get("status") or {}).get("conditions", []):
                    if c["type"] == "QueuesReady" and c["status"] == "False":
                        return (c["status"], c["reason"], c["message"])
            return None

        status, reason, message = await eventually(
            reported_missing, timeout=30, interval=0.2, what="QueuesReady=False on a WorkerRole using the queue"
        )
        assert (status, reason) == ("False", "QueueMissing")
        assert queues[2] in message
        assert await _queue_exists(rabbitmq_url, queues[2]), "declared again by the operator"

        async def ready_again() -> bool:
            found = await stats_queues_ready()
            return bool(found and found[0] == "True")

        await eventually(ready_again, timeout=30, interval=0.5, what="QueuesReady=True once the queue is back")


async def test_a_hand_written_workerrole_joins_an_existing_swarm(
    kubeconfig: Path,
    rabbitmq_url: str,
    namespace: str,
    operator_process: ManagedProcess,
    sut: ScriptedServer,
    sut_url: str,
    pod_rabbitmq_url: str,
) -> None:
    """A WorkerRole applied on its own with ``spec.swarmRef`` consumes the swarm's queue next to its roles."""
    async with _namespace(kubeconfig, namespace, amqp_url=pod_rabbitmq_url) as kube:
        assert _apply(kubeconfig, namespace, _swarm(sut_url, 40)).returncode == 0
        extra = {
            "apiVersion": "hivekeeper.io/v1alpha1",
            "kind": "WorkerRole",
            "metadata": {"name": "extra-caller"},
            "spec": {
                "swarmRef": "live",
                "role": "processor",
                "work": {"in": "call"},
                "config": {"baseUrl": sut_url, "threadCount": 2},
            },
        }
        assert _apply(kubeconfig, namespace, extra).returncode == 0

        async def joined() -> bool:
            role = await kube.get(WorkerRole, "extra-caller", namespace=namespace)
            status = role.get("status") or {}
            instances = status.get("instances", [])
            return status.get("readyReplicas") == 1 and any(i["tps"] > 0 for i in instances)

        await eventually(joined, timeout=90, interval=0.5, what="the hand-written WorkerRole's worker doing work")

        async def three_consumers() -> bool:
            swarm = await kube.get(SwarmResource, "live", namespace=namespace)
            queues = {q["name"]: q["consumers"] for q in (swarm.get("status") or {}).get("queues", [])}
            return queues.get(f"hivekeeper.{namespace}_live.call") == 3

        await eventually(three_consumers, timeout=30, interval=0.5, what="3 consumers on the swarm's call queue")
        pods = [p async for p in kube.list(Pod, namespace=namespace, labels={"hivekeeper.io/role": "extra-caller"})]
        assert [p.metadata.labels["hivekeeper.io/swarm"] for p in pods] == ["live"]


async def test_onboarding_and_usage_swarms_share_cards_through_redis_on_the_cluster(
    kubeconfig: Path,
    rabbitmq_url: str,
    redis_url: str,
    pod_rabbitmq_url: str,
    pod_redis_url: str,
    namespace: str,
    operator_process: ManagedProcess,
    expose: Callable[[int], str],
    demo: DemoService,
) -> None:
    """examples/onboarding.yaml and examples/usage.yaml through the operator: journeys create cards that
    the usage swarm drives and recycles, all through the Redis named in the Secret."""
    import redis.asyncio as aioredis

    redis_db = redis_url.rsplit("/", 1)[0] + "/8"
    store = aioredis.Redis.from_url(redis_db)
    await store.flushdb()
    state = demo.state
    url = f"http://{expose(int(demo.url.rsplit(':', 1)[1]))}"
    try:
        async with _namespace(
            kubeconfig, namespace, amqp_url=pod_rabbitmq_url, redis_url=pod_redis_url.rsplit("/", 1)[0] + "/8"
        ) as kube:
            for name in ("onboarding", "usage"):
                manifest = yaml.safe_load((REPO / "examples" / f"{name}.yaml").read_text())
                manifest["spec"]["sut"]["endpoints"]["default"]["baseUrl"] = url
                applied = _apply(kubeconfig, namespace, manifest)
                assert applied.returncode == 0, applied.stderr

            async def cards_cycling() -> bool:
                lengths = [await store.llen(n) for n in ("cards.topup", "cards.active", "cards.suspended")]
                topups = sum(n for call, n in state.calls.items() if call.endswith("/topup"))
                return len(state.cards) >= 20 and sum(lengths) >= 10 and topups >= 5

            try:
                await eventually(cards_cycling, timeout=120, interval=0.5, what="cards created, listed and used")
            except AssertionError as exc:
                raise AssertionError(
                    f"{exc}\nSUT calls {state.calls}\noperator log: {operator_process.log_path.read_text()[-2000:]}"
                    f"\n{pods_report(kubeconfig, namespace)}"
                ) from exc
            linked = [c for c in state.cards.values() if c["accountId"] in state.accounts]
            assert len(linked) == len(state.cards), "every card belongs to an account the journey opened"

            async def both_ready() -> bool:
                for name in ("onboarding", "usage"):
                    swarm = await kube.get(SwarmResource, name, namespace=namespace)
                    conditions = {c["type"]: c["status"] for c in (swarm.get("status") or {}).get("conditions", [])}
                    if conditions.get("Ready") != "True":
                        return False
                return True

            await eventually(both_ready, timeout=60, interval=0.5, what="both swarms Ready")
    finally:
        await store.flushdb()
        await store.aclose()


async def test_every_built_in_role_and_an_image_worker_run_from_the_example_against_a_sut_found_by_its_name(
    kubeconfig: Path,
    namespace: str,
    cluster: Cluster,
    operator_process: ManagedProcess,
    pod_rabbitmq_url: str,
    hivekeeper_images: dict[str, str],
) -> None:
    """``kubectl apply`` of examples/every-role.yaml, plus one role with ``image:`` (a user's own worker image,
    tests/e2e/custom_worker, built FROM our worker image), with the demo SUT as a Deployment and Service in the
    same namespace: every role's pod starts (its log says so), the image worker runs its own entry point (the
    operator adds no command or args) with the HIVEKEEPER_* environment, the SUT is reached by its Service name
    through cluster DNS and kube-proxy, and the Swarm gets Ready."""
    from testbench.images import ensure_image_from

    custom = "example.test/custom-worker:1"
    cluster.load_images([ensure_image_from(Path(__file__).parent / "custom_worker", custom)])
    async with _namespace(kubeconfig, namespace, amqp_url=pod_rabbitmq_url) as kube:
        sut = (
            (REPO / "hack" / "kind" / "demo-sut.yaml")
            .read_text()
            .replace("hivekeeper/worker:dev", hivekeeper_images["worker"])
        )
        assert run_kubectl(kubeconfig, "apply", "-n", namespace, "-f", "-", stdin=sut).returncode == 0
        # As a user would: the SUT first (its readiness probe passes), then the load; a call made before the
        # Service has an endpoint would count as an error for the whole run.
        rolled = run_kubectl(kubeconfig, "rollout", "status", "-n", namespace, "deploy/cards-api", "--timeout=50s")
        assert rolled.returncode == 0, f"{rolled.stderr}\n{pods_report(kubeconfig, namespace)}"
        swarm = yaml.safe_load((REPO / "examples" / "every-role.yaml").read_text())
        swarm["spec"]["sut"]["endpoints"]["default"]["baseUrl"] = f"http://cards-api.{namespace}.svc:8080"
        roles = {role["name"]: role["role"] for role in swarm["spec"]["roles"]}
        assert set(roles.values()) == {
            "generator", "moderator", "request-builder", "processor", "postprocessor", "http-sequence",
        }  # fmt: skip
        swarm["spec"]["roles"].append(
            {
                "name": "custom",
                "image": custom,
                "work": {"in": "call"},  # next to the built-in caller, on the same queue
                "config": {"baseUrl": "{{ sut.endpoints.default.baseUrl }}", "threadCount": 2},
            }
        )
        assert _apply(kubeconfig, namespace, swarm).returncode == 0
        waited = run_kubectl(
            kubeconfig, "wait", "-n", namespace, "sw/every-role", "--for=condition=Ready", "--timeout=60s"
        )
        assert waited.returncode == 0, f"{waited.stderr}\n{pods_report(kubeconfig, namespace)}"
        for name in [*roles, "custom"]:
            logs = run_kubectl(kubeconfig, "logs", "-n", namespace, f"deploy/every-role-{name}")
            assert "worker started" in logs.stdout, f"{name}: {logs.stdout[:500]}{logs.stderr}"
        [pod] = [p async for p in kube.list(Pod, namespace=namespace, labels={"hivekeeper.io/role": "custom"})]
        container = pod.spec.containers[0]
        assert (container.image, container.command, container.args) == (custom, None, None)
        logs = run_kubectl(kubeconfig, "logs", "-n", namespace, pod.metadata.name)
        assert "custom worker image: running as processor" in logs.stdout

        seen: dict[str, Any] = {}

        async def everything_flows() -> bool:
            swarm = await kube.get(SwarmResource, "every-role", namespace=namespace)
            seen.update({r["name"]: r for r in (swarm.get("status") or {}).get("roles", [])})
            flowing = all(seen.get(name, {}).get("tps", 0) > 0 for name in ("onboard", "stats", "custom"))
            return flowing and sum(r.get("errors", 0) for r in seen.values()) == 0

        try:
            await eventually(
                everything_flows, timeout=60, interval=0.5, what="journeys, card calls and the image worker's calls"
            )
        except AssertionError as exc:
            raise AssertionError(f"{exc}\nroles: {json.dumps(seen)}\n{pods_report(kubeconfig, namespace)}") from exc


def _broker_parts(url: str) -> dict[str, str]:
    """The workers' Secret with the URL's parts, as the chart writes it (what a PocketHive worker image reads)."""
    from urllib.parse import unquote, urlsplit

    parts = urlsplit(url)
    return {
        "amqpUrl": url,
        "amqpHost": parts.hostname or "",
        "amqpPort": str(parts.port or 5672),
        "amqpUsername": unquote(parts.username or ""),
        "amqpPassword": unquote(parts.password or ""),
        "amqpVhost": unquote(parts.path[1:]) if len(parts.path) > 1 else "/",
    }


async def test_a_pockethive_worker_image_applies_the_swarms_configs_and_feeds_our_next_role(
    kubeconfig: Path,
    namespace: str,
    cluster: Cluster,
    operator_process: ManagedProcess,
    pod_rabbitmq_url: str,
) -> None:
    """A ``protocol: pockethive`` role running the stand-in for a PocketHive worker image
    (tests/support/pockethive_stand_in, built FROM our worker image for its Python, sharing no code with
    hivekeeper): its pod starts from the SPRING_RABBITMQ_* parts of the workers' Secret and the POCKETHIVE_*
    names, applies each config the Swarm pushes without naming a generation (the Swarm gets Ready with
    ConfigApplied), a refused edit shows the worker's exception in ConfigApplied, and our moderator consumes
    the items it makes (hops in epoch milliseconds)."""
    from testbench.images import ensure_image_from

    stand_in = "example.test/pockethive-stand-in:1"
    cluster.load_images([ensure_image_from(REPO / "tests" / "support" / "pockethive_stand_in", stand_in)])
    async with _namespace(kubeconfig, namespace, amqp_url=None) as kube:
        secret = {k: base64.b64encode(v.encode()).decode() for k, v in _broker_parts(pod_rabbitmq_url).items()}
        await kube.create(Secret(metadata=ObjectMeta(name="hivekeeper-broker", namespace=namespace), data=secret))
        feeder = {"inputs": {"type": "SCHEDULER", "scheduler": {"ratePerSec": 5}}, "message": {"body": "{}"}}
        swarm = {
            "apiVersion": "hivekeeper.io/v1alpha1",
            "kind": "Swarm",
            "metadata": {"name": "ph"},
            "spec": {
                "roles": [
                    {"name": "feeder", "image": stand_in, "protocol": "pockethive", "work": {"out": "made"},
                     "config": feeder},
                    {"name": "mover", "role": "moderator", "work": {"in": "made", "out": "moved"},
                     "config": {"mode": {"type": "pass-through"}}},
                ]
            },
        }  # fmt: skip
        assert _apply(kubeconfig, namespace, swarm).returncode == 0
        waited = run_kubectl(kubeconfig, "wait", "-n", namespace, "sw/ph", "--for=condition=Ready", "--timeout=90s")
        assert waited.returncode == 0, f"{waited.stderr}\n{pods_report(kubeconfig, namespace)}"
        [pod] = [p async for p in kube.list(Pod, namespace=namespace, labels={"hivekeeper.io/role": "feeder"})]
        logs = run_kubectl(kubeconfig, "logs", "-n", namespace, pod.metadata.name).stdout
        assert f"hivekeeper.control.{namespace}_ph.feeder.{pod.metadata.name}" in logs, logs

        async def mover_flows() -> bool:
            status = (await kube.get(SwarmResource, "ph", namespace=namespace)).get("status") or {}
            roles = {r["name"]: r for r in status.get("roles", [])}
            return roles.get("mover", {}).get("tps", 0) > 0 and roles["mover"].get("errors", 0) == 0

        await eventually(mover_flows, timeout=60, interval=0.5, what="our moderator moving the stand-in's items")
        feeder["inputs"] = {"type": "SCHEDULER", "scheduler": {"ratePerSec": -1}}
        assert _apply(kubeconfig, namespace, swarm).returncode == 0

        async def refused() -> str | None:
            role = await kube.get(WorkerRole, "ph-feeder", namespace=namespace)
            conditions = {c["type"]: c for c in (role.get("status") or {}).get("conditions", [])}
            applied = conditions.get("ConfigApplied", {})
            return applied.get("message") if applied.get("reason") == "WorkerRejectedConfig" else None

        message = await eventually(refused, timeout=30, interval=0.5, what="the refused edit in ConfigApplied")
        assert "IllegalArgumentException: inputs.scheduler.ratePerSec must be >= 0" in message, message


async def test_a_worker_over_its_memory_limit_is_oomkilled_and_the_swarm_names_it(
    kubeconfig: Path,
    namespace: str,
    operator_process: ManagedProcess,
    pod_rabbitmq_url: str,
    sut_url: str,
) -> None:
    """The runtime enforces the role's memory limit: a worker that needs more is OOMKilled by the kernel, and
    the Swarm is Stalled with a message that says OOMKilled and the limit to raise; the WorkerRole lists the kill in
    status.failures and the Swarm shows the role's last failure."""
    async with _namespace(kubeconfig, namespace, amqp_url=pod_rabbitmq_url) as kube:
        manifest = _swarm(sut_url, 20)
        manifest["spec"]["roles"][1]["resources"] = {"limits": {"memory": "16Mi"}}  # Python alone needs more
        assert _apply(kubeconfig, namespace, manifest).returncode == 0

        async def stalled() -> str | None:
            swarm = await kube.get(SwarmResource, "live", namespace=namespace)
            conditions = {c["type"]: c for c in (swarm.get("status") or {}).get("conditions", [])}
            condition = conditions.get("Stalled", {})
            return condition.get("message") if condition.get("status") == "True" else None

        try:
            message = await eventually(stalled, timeout=90, interval=0.5, what="the Swarm Stalled by the OOM kill")
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{pods_report(kubeconfig, namespace)}") from exc
        assert "OOMKilled" in message, message
        assert "16Mi" in message, message
        pods = json.loads(run_kubectl(kubeconfig, "get", "pods", "-n", namespace, "-o", "json").stdout)["items"]
        callers = [p for p in pods if p["metadata"]["labels"].get("hivekeeper.io/role") == "caller"]
        last = [c.get("lastState", {}).get("terminated", {}) for p in callers for c in p["status"]["containerStatuses"]]
        assert any(t.get("reason") == "OOMKilled" and t.get("exitCode") == 137 for t in last), last

        async def listed() -> list[dict[str, Any]] | None:
            role = await kube.get(WorkerRole, "live-caller", namespace=namespace)
            failures = (role.get("status") or {}).get("failures", [])
            return failures if any(f["reason"] == "OOMKilled" and "16Mi" in f["message"] for f in failures) else None

        await eventually(listed, timeout=30, interval=0.5, what="the OOM kill in the WorkerRole's status.failures")
        swarm = await kube.get(SwarmResource, "live", namespace=namespace)
        [caller] = [r for r in swarm["status"]["roles"] if r["name"] == "caller"]
        assert "lastFailure" in caller, caller


async def test_the_operator_policy_refuses_secret_reads_and_reserved_names_and_honours_secret_ref(
    kubeconfig: Path,
    namespace: str,
    operator_process: ManagedProcess,
    sut_url: str,
    pod_rabbitmq_url: str,
) -> None:
    """A Swarm author cannot read the namespace's Secrets through a role's env, override the operator's
    HIVEKEEPER_* variables or name an unlisted Secret as secretRef: the Swarm is Stalled with the rule named and
    no Deployment is written. Fixed, it runs, and spec.secretRef decides which Secret the pods read."""
    from lightkube.resources.apps_v1 import Deployment

    async with _namespace(kubeconfig, namespace, amqp_url=pod_rabbitmq_url) as kube:
        await kube.create(
            Secret(
                metadata=ObjectMeta(name="hivekeeper-team-a", namespace=namespace),
                data={"url": base64.b64encode(pod_rabbitmq_url.encode()).decode()},
            )
        )
        manifest = _swarm(sut_url, 5)
        caller = manifest["spec"]["roles"][1]
        caller["env"] = [
            {"name": "STOLEN", "valueFrom": {"secretKeyRef": {"name": "hivekeeper-broker", "key": "amqpUrl"}}},
            {"name": "HIVEKEEPER_SWARM_ID", "value": "someone-else"},
        ]
        manifest["spec"]["secretRef"] = {"name": "db-credentials"}
        assert _apply(kubeconfig, namespace, manifest).returncode == 0

        async def stalled() -> str | None:
            swarm = await kube.get(SwarmResource, "live", namespace=namespace)
            found = {c["type"]: c for c in (swarm.get("status") or {}).get("conditions", [])}
            return found["Stalled"]["message"] if found.get("Stalled", {}).get("status") == "True" else None

        message = await eventually(stalled, timeout=60, interval=0.5, what="the Swarm Stalled by the policy")
        assert "secretRef.name 'db-credentials' is not allowed" in message, "the Swarm names the first stalled role"
        role = await kube.get(WorkerRole, "live-caller", namespace=namespace)
        [cond] = [c for c in role["status"]["conditions"] if c["type"] == "Stalled"]
        assert cond["reason"] == "PolicyViolation"
        assert "env[0] (STOLEN) reads Secret 'hivekeeper-broker'" in cond["message"]
        assert "policy.envSecrets: none" in cond["message"]
        assert "env[1].name 'HIVEKEEPER_SWARM_ID' is reserved" in cond["message"]
        assert "secretRef.name 'db-credentials' is not allowed" in cond["message"]
        deployments = [d.metadata.name async for d in kube.list(Deployment, namespace=namespace)]
        assert deployments == [], f"a refused spec wrote Deployments: {deployments}"

        del caller["env"]
        manifest["spec"]["secretRef"] = {"name": "hivekeeper-team-a", "amqpUrlKey": "url"}
        assert _apply(kubeconfig, namespace, manifest).returncode == 0
        waited = run_kubectl(kubeconfig, "wait", "-n", namespace, "sw/live", "--for=condition=Ready", "--timeout=90s")
        assert waited.returncode == 0, f"{waited.stderr}\n{pods_report(kubeconfig, namespace)}"
        pods = [p async for p in kube.list(Pod, namespace=namespace, labels={"hivekeeper.io/swarm": "live"})]
        for pod in pods:
            env = {e.name: e for e in pod.spec.containers[0].env}
            ref = env["HIVEKEEPER_AMQP_URL"].valueFrom.secretKeyRef
            assert (ref.name, ref.key) == ("hivekeeper-team-a", "url"), pod.metadata.name
            resources = pod.spec.containers[0].resources
            assert (resources.requests, resources.limits) == (
                {"cpu": "100m", "memory": "128Mi", "ephemeral-storage": "64Mi"},
                {"cpu": "2", "memory": "512Mi", "ephemeral-storage": "256Mi"},
            ), "a role without resources gets the operator's defaults"


async def _run_example_to_its_end(
    kubeconfig: Path,
    namespace: str,
    example: str,
    demo: DemoService,
    expose: Callable[[int], str],
    endpoints: dict[str, str] | None = None,
) -> tuple[dict[str, Any], str]:
    """Apply ``examples/<example>.yaml`` aimed at the demo SUT (or its ``endpoints`` at those base URLs) and wait
    (kubectl wait) for its run's Completed condition: the pods start, then the run plays. Returns the Swarm as
    kubectl shows it and a context for failures (the status, the operator's log is the caller's)."""
    manifest = yaml.safe_load((REPO / "examples" / f"{example}.yaml").read_text())
    aimed = endpoints or {"default": f"http://{expose(int(demo.url.rsplit(':', 1)[1]))}"}
    for endpoint, url in aimed.items():
        manifest["spec"]["sut"]["endpoints"][endpoint]["baseUrl"] = url
    name = manifest["metadata"]["name"]
    applied = _apply(kubeconfig, namespace, manifest)
    assert applied.returncode == 0, applied.stderr
    for _ in range(5):  # pods start, then the 20 s run; kubectl itself runs in a thread: the SUT is ours
        waited = await asyncio.to_thread(
            run_kubectl,
            kubeconfig,
            "wait",
            "-n",
            namespace,
            f"swarm/{name}",
            "--for=condition=Completed",
            "--timeout=50s",
        )
        if waited.returncode == 0:
            break
    swarm = json.loads(run_kubectl(kubeconfig, "get", "-n", namespace, f"swarm/{name}", "-o", "json").stdout or "{}")
    context = (
        f"{waited.stderr}\nstatus {json.dumps(swarm.get('status'), indent=1)[-3000:]}\n"
        f"{pods_report(kubeconfig, namespace)}"
    )
    assert waited.returncode == 0, context
    return swarm, context


def _hivekeeper(kubeconfig: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The hivekeeper CLI as a user runs it, against the bench's cluster."""
    return subprocess.run(
        [sys.executable, "-m", "hivekeeper.cli", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "KUBECONFIG": str(kubeconfig)},
    )


async def test_a_staged_run_ends_by_itself_with_a_passed_verdict_an_event_and_a_report(
    kubeconfig: Path,
    namespace: str,
    operator_process: ManagedProcess,
    pod_rabbitmq_url: str,
    expose: Callable[[int], str],
    demo: DemoService,
    tmp_path: Path,
) -> None:
    """examples/staged-run.yaml on the node: Succeeded by itself, the producer paused, a RunPassed Event, the whole
    run's percentiles in the verdict, and its record (a ConfigMap owned by the Swarm) rendered by
    ``hivekeeper report`` with the run's points."""
    async with _namespace(kubeconfig, namespace, amqp_url=pod_rabbitmq_url):
        swarm, context = await _run_example_to_its_end(kubeconfig, namespace, "staged-run", demo, expose)
        context += f"\noperator log: {operator_process.log_path.read_text(errors='replace')[-3000:]}"
        run = swarm["status"]["run"]
        assert run["phase"] == "Succeeded", context
        assert run["verdict"]["result"] == "Passed", context
        assert run["endedBecause"] == "the run's 20 s are over"
        assert run["series"] == "staged-run-run-1", context
        feeder = json.loads(
            run_kubectl(kubeconfig, "get", "-n", namespace, "workerrole/staged-run-feeder", "-o", "json").stdout
        )
        assert feeder["spec"]["paused"] is True, "Stop, not Remove: the producer is paused, its pods stay"
        events = run_kubectl(
            kubeconfig, "get", "events", "-n", namespace, "--field-selector", "involvedObject.kind=Swarm", "-o", "json"
        )
        reasons = [e["reason"] for e in json.loads(events.stdout)["items"]]
        assert "RunPassed" in reasons, reasons
        assert sum(demo.state.calls.values()) > 100, "the SUT was called"

        held = json.loads(
            run_kubectl(kubeconfig, "get", "-n", namespace, "configmap/staged-run-run-1", "-o", "json").stdout
        )
        [owner] = held["metadata"]["ownerReferences"]
        assert (owner["kind"], owner["uid"]) == ("Swarm", swarm["metadata"]["uid"])
        record = json.loads(held["data"]["run.json"])
        assert (record["phase"], record["verdict"]["result"]) == ("Succeeded", "Passed")
        caller = next(r for r in record["roles"] if r["name"] == "caller")
        assert caller["processed"] > 100, record["roles"]
        assert set(caller["latencyMs"]) == {"p50", "p90", "p95", "p99", "max", "mean"}, caller
        [p95] = [t for t in run["verdict"]["thresholds"] if t["threshold"] == "caller p95 <= 300"]
        assert p95["observed"] == caller["latencyMs"]["p95"], "the verdict judged the whole run's p95"
        points = {r["role"]: r["points"] for r in record["timeseries"]["roles"]}
        assert len(points["caller"]) >= 3, points["caller"]
        made = sum(p["processed"] for p in points["caller"])  # the series and the verdict fold the same reports
        assert made == pytest.approx(caller["processed"], rel=0.1), (made, caller["processed"])

        out = tmp_path / "staged-run.html"
        written = await asyncio.to_thread(_hivekeeper, kubeconfig, "report", f"{namespace}/staged-run", "-o", str(out))
        assert written.returncode == 0, written.stderr
        page = out.read_text()
        assert "Passed" in page
        for role in ("feeder", "builder", "caller", "stats"):
            assert role in page
        assert "caller p95 &lt;= 300" in page or "caller p95 <= 300" in page
        assert page.count("<svg") >= 3, "rate, latency and error plots"


async def test_the_tcp_example_runs_on_the_node_against_the_tcp_demo(
    kubeconfig: Path,
    namespace: str,
    operator_process: ManagedProcess,
    pod_rabbitmq_url: str,
    expose: Callable[[int], str],
    demo: DemoService,
) -> None:
    """examples/tcp-iso8583.yaml on the node: the processor's pod reaches the TCP demo on the host (length-prefixed
    ISO 8583 frames, through ``expose``), every authorisation is answered, and the run passes with no error."""
    from hivekeeper.local.demo_tcp import TcpDemo
    from testbench.tcp_sut import tcp_sut

    switch = TcpDemo("length-prefix")
    async with tcp_sut(switch) as tcp, _namespace(kubeconfig, namespace, amqp_url=pod_rabbitmq_url):
        endpoints = {"switch": f"tcp://{expose(tcp.port)}"}
        swarm, context = await _run_example_to_its_end(kubeconfig, namespace, "tcp-iso8583", demo, expose, endpoints)
        context += f"\noperator log: {operator_process.log_path.read_text(errors='replace')[-3000:]}"
        run = swarm["status"]["run"]
        assert (run["phase"], run["verdict"]["result"]) == ("Succeeded", "Passed"), context
        caller = next(r for r in swarm["status"]["roles"] if r["name"] == "caller")
        assert caller["errors"] == 0, context
        # Every authorisation the caller handled was answered by the switch (how many there were in 15 s depends on
        # the machine's load: rates are the bench's business, not this test's).
        role = f"{swarm['metadata']['name']}-caller"
        worker_role = json.loads(run_kubectl(kubeconfig, "get", "wr", "-n", namespace, role, "-o", "json").stdout)
        processed = worker_role["status"]["processed"]
        assert processed > 0, context
        assert switch.answered >= processed, f"the switch answered {switch.answered} of {processed}\n{context}"


async def test_a_staged_run_that_fails_on_purpose_says_which_threshold_failed(
    kubeconfig: Path,
    namespace: str,
    operator_process: ManagedProcess,
    pod_rabbitmq_url: str,
    expose: Callable[[int], str],
    demo: DemoService,
) -> None:
    """examples/staged-run-fails.yaml: Completed with reason Failed, the p99 threshold named in the condition,
    the verdict and a Warning Event; the other thresholds held."""
    async with _namespace(kubeconfig, namespace, amqp_url=pod_rabbitmq_url):
        swarm, context = await _run_example_to_its_end(kubeconfig, namespace, "staged-run-fails", demo, expose)
        [completed] = [c for c in swarm["status"]["conditions"] if c["type"] == "Completed"]
        assert completed["reason"] == "Failed", context
        assert "caller p99 <= 0.001" in completed["message"], context
        failed = [t["threshold"] for t in swarm["status"]["run"]["verdict"]["thresholds"] if not t["passed"]]
        assert "caller p99 <= 0.001" in failed, context
        assert "caller errorRate <= 0.01" not in failed, context
        events = run_kubectl(
            kubeconfig, "get", "events", "-n", namespace, "--field-selector", "involvedObject.kind=Swarm", "-o", "json"
        )
        warnings = [(e["type"], e["reason"]) for e in json.loads(events.stdout)["items"]]
        assert ("Warning", "RunFailed") in warnings, warnings

        async def history() -> list[dict[str, Any]] | None:
            got = run_kubectl(kubeconfig, "get", "-n", namespace, "swarm/staged-run-fails", "-o", "json")
            return json.loads(got.stdout).get("status", {}).get("runs") or None

        [record] = await eventually(history, timeout=20, what="the finished run in status.runs")
        assert (record["id"], record["result"]) == ("1", "Failed"), record
        assert "caller p99 <= 0.001" in record["failed"], record
        listed = await asyncio.to_thread(_hivekeeper, kubeconfig, "history", f"{namespace}/staged-run-fails")
        assert listed.returncode == 0, listed.stderr
        assert "Failed" in listed.stdout, listed.stdout


async def test_the_oauth2_example_runs_on_the_node_with_its_credentials_mounted_from_a_secret(
    kubeconfig: Path,
    namespace: str,
    operator_process: ManagedProcess,
    pod_rabbitmq_url: str,
    expose: Callable[[int], str],
    demo: DemoService,
) -> None:
    """examples/oauth2-journey.yaml on the node: the client secret and password come from the Secret
    hivekeeper-demo-sut, mounted read-only into the journey's pods (never in an env, the CR or the status); every
    call to the demo's /secure/ paths carries a token fetched ahead of its expiry (2 s tokens over a 12 s run),
    and the run passes with no error."""
    from hivekeeper.local.demo_auth import DEMO_SECRET, DEMO_SECRET_NAME

    async with _namespace(kubeconfig, namespace, amqp_url=pod_rabbitmq_url) as kube:
        values = {key: value for (name, key), value in DEMO_SECRET.items() if name == DEMO_SECRET_NAME}
        await kube.create(
            Secret(
                metadata=ObjectMeta(name=DEMO_SECRET_NAME, namespace=namespace),
                data={key: base64.b64encode(value.encode()).decode() for key, value in values.items()},
            )
        )
        swarm, context = await _run_example_to_its_end(kubeconfig, namespace, "oauth2-journey", demo, expose)
        context += f"\noperator log: {operator_process.log_path.read_text(errors='replace')[-3000:]}"
        run = swarm["status"]["run"]
        assert (run["phase"], run["verdict"]["result"]) == ("Succeeded", "Passed"), context
        auth = demo.state.auth
        assert auth.issued >= 6, f"tokens refreshed over the run: {auth.stats()}"
        assert auth.unauthorized == 0, f"no call without a valid token: {auth.stats()}"
        assert demo.state.calls.get("POST /customers", 0) > 20, demo.state.calls
        pods = [p async for p in kube.list(Pod, namespace=namespace, labels={"hivekeeper.io/role": "onboard"})]
        assert pods, context
        for pod in pods:
            assert pod.spec is not None
            volumes = {v.name: v for v in pod.spec.volumes or []}
            mounted = [v.secret.secretName for v in volumes.values() if v.secret is not None]
            assert mounted == [DEMO_SECRET_NAME], mounted
            env = pod.spec.containers[0].env or []
            assert not any(
                e.valueFrom and e.valueFrom.secretKeyRef and e.valueFrom.secretKeyRef.name == DEMO_SECRET_NAME
                for e in env
            )
        everything = (
            json.dumps(swarm) + run_kubectl(kubeconfig, "get", "-n", namespace, "workerroles", "-o", "json").stdout
        )
        for value in values.values():
            assert value not in everything, "a credential in the Swarm, a WorkerRole or a status"


async def test_the_csv_example_reads_its_configmap_in_pods_and_two_replicas_share_one_cursor_in_redis(
    kubeconfig: Path,
    redis_url: str,
    pod_rabbitmq_url: str,
    pod_redis_url: str,
    namespace: str,
    operator_process: ManagedProcess,
    sut: ScriptedServer,
    sut_url: str,
) -> None:
    """examples/csv-dataset.yaml as its header says: the CSV file in a ConfigMap, mounted read-only into the two
    feeder pods, whose rows go out through the pipeline to the SUT; the replicas take rows from one cursor in the
    Redis of the Secret (its count is every row both made), so every card is topped up."""
    import redis.asyncio as aioredis

    store = aioredis.Redis.from_url(redis_url.rsplit("/", 1)[0] + "/9")
    await store.flushdb()
    manifest = yaml.safe_load((REPO / "examples" / "csv-dataset.yaml").read_text())
    manifest["spec"]["sut"]["endpoints"]["default"]["baseUrl"] = sut_url
    rows = (REPO / "examples" / "csv-dataset.csv").read_text().splitlines()[1:]
    cards = {row.split(",")[0] for row in rows}
    try:
        async with _namespace(
            kubeconfig, namespace, amqp_url=pod_rabbitmq_url, redis_url=pod_redis_url.rsplit("/", 1)[0] + "/9"
        ) as kube:
            made = run_kubectl(
                kubeconfig, "create", "configmap", "topups", "-n", namespace,
                f"--from-file=csv-dataset.csv={REPO / 'examples' / 'csv-dataset.csv'}",
            )  # fmt: skip
            assert made.returncode == 0, made.stderr
            assert _apply(kubeconfig, namespace, manifest).returncode == 0

            def topped_up() -> set[str]:
                found = (re.search(rb"^POST /cards/([^/ ]+)/topup ", r) for r in list(sut.requests))
                return {m.group(1).decode() for m in found if m}

            async def every_card() -> bool:
                return topped_up() >= cards

            try:
                await eventually(every_card, timeout=150, interval=0.5, what="a top-up for every card of the CSV")
            except AssertionError as exc:
                log, pods = operator_process.log_path.read_text()[-2000:], pods_report(kubeconfig, namespace)
                raise AssertionError(f"{exc}\ncards seen {sorted(topped_up())}\noperator log: {log}\n{pods}") from exc
            keys = [key async for key in store.scan_iter("hivekeeper:csv:*")]
            assert len(keys) == 1, f"one shared cursor for both replicas: {keys}"
            feeder = await kube.get(WorkerRole, "csv-topups-feeder", namespace=namespace)
            instances = (feeder.get("status") or {}).get("instances") or []
            assert len(instances) == 2, instances
            cursor = int(await store.get(keys[0]) or 0)
            assert cursor >= len(cards), f"the cursor counts every row both replicas took: {cursor}"
    finally:
        await store.flushdb()
        await store.aclose()


async def test_business_codes_from_result_rules_show_in_the_workerrole_status_and_the_runs_record(
    kubeconfig: Path,
    namespace: str,
    operator_process: ManagedProcess,
    pod_rabbitmq_url: str,
    expose: Callable[[int], str],
    demo: DemoService,
    tmp_path: Path,
) -> None:
    """examples/payments-rules.yaml, bounded to 15 s, against the demo's /payments (200 with a business code in
    the body): the declined payments (code 51) are errors of kind `business` in the caller's WorkerRole status,
    its business codes are counted there, and the run's record (what `hivekeeper report` renders) carries the
    codes and the dimensions."""
    manifest = yaml.safe_load((REPO / "examples" / "payments-rules.yaml").read_text())
    manifest["spec"]["sut"]["endpoints"]["default"]["baseUrl"] = f"http://{expose(int(demo.url.rsplit(':', 1)[1]))}"
    manifest["spec"]["run"] = {"id": "rules", "duration": "15s"}
    async with _namespace(kubeconfig, namespace, amqp_url=pod_rabbitmq_url) as kube:
        assert _apply(kubeconfig, namespace, manifest).returncode == 0

        async def declined() -> dict[str, Any] | None:
            caller = await kube.get(WorkerRole, "payments-rules-caller", namespace=namespace)
            status = caller.get("status") or {}
            return status if status.get("businessCodes", {}).get("51") else None

        try:
            status = await eventually(
                declined, timeout=150, interval=0.5, what="business code 51 in the caller's status"
            )
        except AssertionError as exc:
            log, pods = operator_process.log_path.read_text()[-2000:], pods_report(kubeconfig, namespace)
            raise AssertionError(f"{exc}\noperator log: {log}\n{pods}") from exc
        assert status["businessCodes"]["00"] > 0, status["businessCodes"]
        assert status["errorKinds"]["business"] > 0, status.get("errorKinds")

        async def judged() -> dict[str, Any] | None:
            held = run_kubectl(kubeconfig, "get", "cm", "payments-rules-run-rules", "-n", namespace, "-o", "json")
            if held.returncode != 0:
                return None
            record = json.loads(json.loads(held.stdout)["data"]["run.json"])
            return record if record.get("verdict") else None

        record = await eventually(judged, timeout=90, interval=1, what="the run's record with its verdict")
        caller = next(r for r in record["roles"] if r["name"] == "caller")
        assert set(caller["businessCodes"]) >= {"00", "51"}, caller
        assert caller["errorKinds"]["business"] == caller["businessCodes"]["51"], caller
        assert set(caller["dimensions"]) == {"channel", "decision"}, caller["dimensions"]
        out = tmp_path / "rules.html"
        written = await asyncio.to_thread(
            _hivekeeper, kubeconfig, "report", f"{namespace}/payments-rules", "-o", str(out)
        )
        assert written.returncode == 0, written.stderr
        assert "business code" in out.read_text()
