"""Worker Deployments built by the operator's manifests run as real workers on the bench cluster.

The test node agent plays the kubelet; everything else is real: the API server, the Deployment and
ReplicaSet controllers, the Secret the credentials come from, RabbitMQ, and the worker processes
that start from exactly the pod's env and args.
"""

from __future__ import annotations

import base64
import uuid
from pathlib import Path
from typing import Any

import aio_pika
import pytest
from lightkube import AsyncClient, KubeConfig
from lightkube.codecs import from_dict
from lightkube.generic_resource import create_namespaced_resource
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.apps_v1 import Deployment
from lightkube.resources.core_v1 import Namespace, Pod, Secret

from hivekeeper.api.manifests import load_swarm
from hivekeeper.operator import manifests, plan
from hivekeeper.protocol import envelope as env
from hivekeeper.protocol import naming
from testbench.node_agent import NodeAgent
from testbench.waiting import eventually

pytestmark = pytest.mark.e2e
REPO = Path(__file__).resolve().parents[2]
WorkerRole = create_namespaced_resource("hivekeeper.io", "v1alpha1", "WorkerRole", "workerroles")


async def test_a_worker_deployment_runs_workers_that_report_to_the_broker(
    kubeconfig: Path, rabbitmq_url: str, hivekeeper_crds: None, node_agent: NodeAgent
) -> None:
    kube = AsyncClient(config=KubeConfig.from_file(str(kubeconfig)))
    namespace = f"pods-{uuid.uuid4().hex[:8]}"
    await kube.create(Namespace(metadata=ObjectMeta(name=namespace)))
    connection = await aio_pika.connect(rabbitmq_url)
    try:
        await kube.create(
            Secret(
                metadata=ObjectMeta(name="hivekeeper-broker", namespace=namespace),
                data={"amqpUrl": base64.b64encode(rabbitmq_url.encode()).decode()},
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
            spec=child.manifest["spec"],
            bootstrap_config=child.config,
            owner=owner,
            defaults=manifests.WorkerDefaults(),
        )
        await kube.create(from_dict(deployment))

        async def both_reported() -> bool:
            return len(reports) == 2

        try:
            await eventually(both_reported, timeout=60, what="status-full from both worker pods")
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{node_agent.diagnostics()}") from exc
        pods = {p.metadata.name async for p in kube.list(Pod, namespace=namespace)}
        assert set(reports) == pods, "each worker reports under its pod's name (HIVEKEEPER_INSTANCE from fieldRef)"
        for report in reports.values():
            assert report.data["enabled"] is False, "workers start disabled until the operator enables them"
            assert report.data["config"]["threadCount"] == 16
            assert report.data["io"]["work"]["queues"]["in"] == [naming.work_queue(swarm_id, "call")]
            assert report.scope.swarmId == swarm_id

        async def deployment_ready() -> bool:
            current = await kube.get(Deployment, child.name, namespace=namespace)
            return bool(current.status and current.status.readyReplicas == 2)

        await eventually(deployment_ready, timeout=30, what="the Deployment to count 2 ready replicas")

        await kube.delete(WorkerRole, child.name, namespace=namespace)

        async def all_gone() -> bool:
            return not [p async for p in kube.list(Pod, namespace=namespace)] and not node_agent.pods

        await eventually(all_gone, timeout=90, what="the owner's deletion to cascade to pods and worker processes")
    finally:
        await connection.close()
        await kube.delete(Namespace, namespace)
        await kube.close()


async def test_an_operator_pod_runs_as_its_service_account_and_only_has_the_rights_given(
    kubeconfig: Path, rabbitmq_url: str, hivekeeper_crds: None, node_agent: NodeAgent
) -> None:
    """The node agent runs an operator pod with a token of the pod's ServiceAccount: a Role that allows
    the swarm resources lets it reconcile; what the Role leaves out (Deployments) it is refused."""
    import yaml

    from testbench.kube import run_kubectl

    namespace = f"oppod-{uuid.uuid4().hex[:8]}"
    amqp = base64.b64encode(rabbitmq_url.encode()).decode()
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
                        "containers": [
                            {
                                "name": "operator",
                                "image": "hivekeeper/operator:0.1.0",
                                "command": ["hivekeeper", "operator"],
                                "args": ["--namespace", namespace, "--health-port", "8080", "--metrics-port", "9090"],
                                "env": [
                                    {
                                        "name": "HIVEKEEPER_AMQP_URL",
                                        "valueFrom": {"secretKeyRef": {"name": "hivekeeper-broker", "key": "amqpUrl"}},
                                    }
                                ],
                            }
                        ],
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
            await eventually(roles_created, timeout=60, interval=0.5, what="the operator pod creating 4 WorkerRoles")
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{node_agent.diagnostics()}") from exc
        [log] = list(node_agent.workdir.glob(f"{namespace}_operator-*.log"))

        async def refused() -> bool:
            text = log.read_text(errors="replace")
            return "deployments.apps" in text and "forbidden" in text.lower()

        await eventually(
            refused, timeout=30, interval=0.5, what="the operator refused Deployments its Role does not grant"
        )
        swarm_deployments = kube.list(Deployment, namespace=namespace, labels={"hivekeeper.io/swarm": "quickstart"})
        assert not [d async for d in swarm_deployments]
    finally:
        await kube.delete(Namespace, namespace)
        await kube.close()
