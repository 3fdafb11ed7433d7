"""Pods of our images on the bench's real node: worker Deployments built by the operator's manifests, and an
operator pod under a Role that leaves things out.

Everything is real: the API server, the Deployment and ReplicaSet controllers, the scheduler, the kubelet
with containerd and runc, the Secret the credentials come from, and RabbitMQ (pods reach the bench's broker
through the node's address). What a pod did is read from the broker, the API and ``kubectl logs``.
"""

from __future__ import annotations

import asyncio
import base64
import uuid
from pathlib import Path
from typing import Any

import aio_pika
import pytest
import yaml
from lightkube import AsyncClient, KubeConfig
from lightkube.codecs import from_dict
from lightkube.generic_resource import create_namespaced_resource
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.apps_v1 import Deployment
from lightkube.resources.core_v1 import Namespace, Pod, Secret

from hivekeeper.api.manifests import load_swarm
from hivekeeper.api.workerrole import WorkerRoleSpec
from hivekeeper.operator import manifests, plan
from hivekeeper.protocol import envelope as env
from hivekeeper.protocol import naming
from testbench.diagnose import pods_report
from testbench.kube import run_kubectl
from testbench.waiting import eventually

pytestmark = pytest.mark.e2e
REPO = Path(__file__).resolve().parents[2]
WorkerRole = create_namespaced_resource("hivekeeper.io", "v1alpha1", "WorkerRole", "workerroles")


async def _report(kubeconfig: Path, namespace: str) -> str:
    return await asyncio.to_thread(pods_report, kubeconfig, namespace)


@pytest.mark.timeout(600)
async def test_a_worker_deployment_runs_workers_that_report_to_the_broker(
    kubeconfig: Path,
    rabbitmq_url: str,
    pod_rabbitmq_url: str,
    hivekeeper_crds: None,
    hivekeeper_images: dict[str, str],
) -> None:
    kube = AsyncClient(config=KubeConfig.from_file(str(kubeconfig)))
    namespace = f"pods-{uuid.uuid4().hex[:8]}"
    await kube.create(Namespace(metadata=ObjectMeta(name=namespace)))
    connection = await aio_pika.connect(rabbitmq_url)
    try:
        await kube.create(
            Secret(
                metadata=ObjectMeta(name="hivekeeper-broker", namespace=namespace),
                data={"amqpUrl": base64.b64encode(pod_rabbitmq_url.encode()).decode()},
            )
        )
        data = load_swarm(REPO / "examples" / "quickstart.yaml").model_dump(
            mode="json", by_alias=True, exclude_none=True
        )
        data["metadata"]["namespace"] = namespace
        swarm = type(load_swarm(REPO / "examples" / "quickstart.yaml")).model_validate(data)
        swarm_id = plan.swarm_id(swarm)
        child = plan.plan_children(swarm, uid="not-applied")[2]  # the caller: 2 replicas of the processor

        channel = await connection.channel()
        control = await channel.declare_exchange(naming.CONTROL_EXCHANGE, aio_pika.ExchangeType.TOPIC, durable=True)
        events = await channel.declare_queue(exclusive=True)
        await events.bind(control, naming.events_binding(swarm_id))
        reports: dict[str, env.Envelope] = {}

        async def collect(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            async with message.process():
                event = env.parse(message.body)
                if event.type == "status-full":
                    reports[event.scope.instance] = event

        await events.consume(collect)

        role_manifest: dict[str, Any] = {**child.manifest}
        role_manifest["metadata"] = {k: v for k, v in child.manifest["metadata"].items() if k != "ownerReferences"}
        owner_obj = await kube.create(WorkerRole.from_dict(role_manifest))  # type: ignore[attr-defined]
        owner = {
            "apiVersion": "hivekeeper.io/v1alpha1",
            "kind": "WorkerRole",
            "name": child.name,
            "uid": owner_obj.metadata.uid,
            "controller": True,
            "blockOwnerDeletion": True,
        }
        deployment = manifests.deployment(
            name=child.name,
            namespace=namespace,
            swarm=swarm.metadata.name,
            swarm_id=swarm_id,
            role="caller",
            spec=WorkerRoleSpec.model_validate(child.manifest["spec"]),
            bootstrap_config=child.config,
            owner=owner,
            defaults=manifests.WorkerDefaults(image=hivekeeper_images["worker"]),
        )
        await kube.create(from_dict(deployment))

        async def both_reported() -> bool:
            return len(reports) == 2

        try:
            await eventually(both_reported, timeout=180, interval=0.5, what="status-full from both worker pods")
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{await _report(kubeconfig, namespace)}") from exc
        pods = [p async for p in kube.list(Pod, namespace=namespace)]
        assert set(reports) == {p.metadata.name for p in pods}, (
            "each worker reports under its pod's name (HIVEKEEPER_INSTANCE from fieldRef)"
        )
        for pod in pods:
            [container] = pod.spec.containers
            assert container.image == hivekeeper_images["worker"]
            assert not container.command, "the image's entry point (`hivekeeper worker`) runs the worker"
            assert not container.args, "the image's entry point (`hivekeeper worker`) runs the worker"
        for report in reports.values():
            assert report.data["enabled"] is False, "workers start disabled until the operator enables them"
            assert report.data["config"]["threadCount"] == 16
            assert report.data["io"]["work"]["queues"]["in"] == [naming.work_queue(swarm_id, "call")]
            assert report.scope.swarmId == swarm_id

        async def deployment_ready() -> bool:
            current = await kube.get(Deployment, child.name, namespace=namespace)
            return bool(current.status and current.status.readyReplicas == 2)

        await eventually(deployment_ready, timeout=60, interval=0.5, what="the Deployment to count 2 ready replicas")

        await kube.delete(WorkerRole, child.name, namespace=namespace)

        async def all_gone() -> bool:
            return not [p async for p in kube.list(Pod, namespace=namespace)]

        # Garbage collection cascades WorkerRole -> Deployment -> ReplicaSet -> Pod; the kubelet stops the workers.
        await eventually(all_gone, timeout=180, interval=0.5, what="the owner's deletion to cascade to the pods")
    finally:
        await connection.close()
        await kube.delete(Namespace, namespace)
        await kube.close()


@pytest.mark.timeout(600)
async def test_an_operator_pod_runs_as_its_service_account_and_only_has_the_rights_given(
    kubeconfig: Path,
    pod_rabbitmq_url: str,
    hivekeeper_crds: None,
    hivekeeper_images: dict[str, str],
) -> None:
    """An operator pod of our image, under the token the kubelet mounts for its ServiceAccount: a Role that
    allows the swarm resources lets it reconcile; what the Role leaves out (Deployments) it is refused, and
    the API server's refusal, in ``kubectl logs``, names the ServiceAccount."""
    namespace = f"oppod-{uuid.uuid4().hex[:8]}"
    amqp = base64.b64encode(pod_rabbitmq_url.encode()).decode()
    objects = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}},
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "op", "namespace": namespace}},
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "hivekeeper-broker", "namespace": namespace},
            "data": {"amqpUrl": amqp},
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": {"name": "op", "namespace": namespace},
            "rules": [
                {"apiGroups": ["hivekeeper.io"], "resources": ["*"], "verbs": ["*"]},
                {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch"]},
                {"apiGroups": ["", "events.k8s.io"], "resources": ["events"], "verbs": ["create", "patch"]},
            ],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": "op", "namespace": namespace},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "op"},
            "subjects": [{"kind": "ServiceAccount", "name": "op", "namespace": namespace}],
        },
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "operator", "namespace": namespace},
            "spec": {
                "selector": {"matchLabels": {"app.kubernetes.io/name": "hivekeeper-operator"}},
                "template": {
                    "metadata": {"labels": {"app.kubernetes.io/name": "hivekeeper-operator"}},
                    "spec": {
                        "serviceAccountName": "op",
                        "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
                        "containers": [
                            {
                                "name": "operator",
                                "image": hivekeeper_images["operator"],
                                "imagePullPolicy": "Never",
                                # No command: the image's entry point is `hivekeeper operator`. No POD_ID either (the
                                # chart sets it): without it the operator must still start as uid 65532, which has
                                # no passwd entry in the image.
                                "args": ["--namespace", namespace, "--health-port", "8080", "--metrics-port", "9090"],
                                "env": [
                                    {
                                        "name": "HIVEKEEPER_AMQP_URL",
                                        "valueFrom": {"secretKeyRef": {"name": "hivekeeper-broker", "key": "amqpUrl"}},
                                    },
                                    {"name": "HIVEKEEPER_WORKER_IMAGE", "value": hivekeeper_images["worker"]},
                                ],
                                "securityContext": {
                                    "readOnlyRootFilesystem": True,
                                    "allowPrivilegeEscalation": False,
                                    "capabilities": {"drop": ["ALL"]},
                                },
                                "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
                            }
                        ],
                        "volumes": [{"name": "tmp", "emptyDir": {}}],
                    },
                },
            },
        },
    ]
    applied = run_kubectl(kubeconfig, "apply", "-f", "-", stdin=yaml.safe_dump_all(objects))
    assert applied.returncode == 0, applied.stderr
    kube = AsyncClient(config=KubeConfig.from_file(str(kubeconfig)))
    try:
        swarm = yaml.safe_load((REPO / "examples" / "quickstart.yaml").read_text())
        assert run_kubectl(kubeconfig, "apply", "-n", namespace, "-f", "-", stdin=yaml.safe_dump(swarm)).returncode == 0

        async def roles_created() -> bool:
            return len([r async for r in kube.list(WorkerRole, namespace=namespace)]) == 4

        try:
            await eventually(roles_created, timeout=180, interval=0.5, what="the operator pod creating 4 WorkerRoles")
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{await _report(kubeconfig, namespace)}") from exc
        [pod] = [
            p
            async for p in kube.list(Pod, namespace=namespace, labels={"app.kubernetes.io/name": "hivekeeper-operator"})
        ]
        assert pod.spec.serviceAccountName == "op"
        account = f"system:serviceaccount:{namespace}:op"

        async def refused() -> str | None:
            logs = await asyncio.to_thread(
                run_kubectl, kubeconfig, "logs", "-n", namespace, pod.metadata.name, "-c", "operator"
            )
            lines = [line for line in logs.stdout.splitlines() if "deployments" in line and "forbidden" in line.lower()]
            return next((line for line in lines if account in line), None)

        try:
            refusal = await eventually(
                refused, timeout=60, interval=0.5, what="the operator refused Deployments its Role does not grant"
            )
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{await _report(kubeconfig, namespace)}") from exc
        assert "deployments.apps" in refusal, refusal
        swarm_deployments = kube.list(Deployment, namespace=namespace, labels={"hivekeeper.io/swarm": "quickstart"})
        assert not [d async for d in swarm_deployments]
    finally:
        # The Swarm goes while the operator runs its finalizer; a namespace deletion could stop the pod first.
        deleted = await asyncio.to_thread(
            run_kubectl, kubeconfig, "delete", "-n", namespace, "swarm/quickstart", "--timeout=60s"
        )
        if deleted.returncode != 0:
            run_kubectl(
                kubeconfig, "patch", "-n", namespace, "swarm/quickstart", "--type=merge",
                "-p", '{"metadata":{"finalizers":null}}',
            )  # fmt: skip
        await kube.delete(Namespace, namespace)
        await kube.close()
