"""The bench's control plane is a real Kubernetes API: CRDs, status, Deployments and GC work."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from lightkube import ApiError, AsyncClient, KubeConfig
from lightkube.codecs import from_dict
from lightkube.generic_resource import create_namespaced_resource
from lightkube.models.meta_v1 import ObjectMeta, OwnerReference
from lightkube.resources.apiextensions_v1 import CustomResourceDefinition
from lightkube.resources.apps_v1 import Deployment, ReplicaSet
from lightkube.resources.core_v1 import ConfigMap, Namespace, Pod
from lightkube.types import PatchType

from testbench.waiting import eventually

pytestmark = pytest.mark.e2e

GROUP = "bench.hivekeeper.test"
Widget = create_namespaced_resource(GROUP, "v1", "Widget", "widgets")


@pytest.fixture
async def kube(kubeconfig: Path) -> AsyncIterator[AsyncClient]:
    client = AsyncClient(config=KubeConfig.from_file(str(kubeconfig)))
    yield client
    await client.close()


@pytest.fixture
async def namespace(kube: AsyncClient) -> AsyncIterator[str]:
    name = f"bench-{uuid.uuid4().hex[:8]}"
    await kube.create(Namespace(metadata=ObjectMeta(name=name)))
    yield name
    await kube.delete(Namespace, name)


@pytest.fixture
async def widget_crd(kube: AsyncClient) -> None:
    crd: dict[str, Any] = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"widgets.{GROUP}"},
        "spec": {
            "group": GROUP,
            "scope": "Namespaced",
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "properties": {
                                "spec": {"type": "object", "properties": {"size": {"type": "integer"}}},
                                "status": {"type": "object", "properties": {"phase": {"type": "string"}}},
                            },
                        }
                    },
                }
            ],
        },
    }
    try:
        await kube.create(from_dict(crd))
    except ApiError as exc:
        if exc.status.code != 409:
            raise

    async def established() -> bool:
        current = await kube.get(CustomResourceDefinition, f"widgets.{GROUP}")
        conditions = (current.status.conditions if current.status else None) or []
        return any(c.type == "Established" and c.status == "True" for c in conditions)

    await eventually(established, timeout=30, what="the Widget CRD to be Established")


async def test_a_custom_resource_keeps_spec_and_status_apart(
    kube: AsyncClient,
    namespace: str,
    widget_crd: None,
) -> None:
    created = await kube.create(Widget(metadata=ObjectMeta(name="w1", namespace=namespace), spec={"size": 3}))
    generation = created.metadata.generation

    patched = await kube.patch(
        Widget.Status,
        "w1",
        {"status": {"phase": "Ready"}, "spec": {"size": 99}},
        namespace=namespace,
        patch_type=PatchType.MERGE,
    )

    assert patched.status == {"phase": "Ready"}
    assert patched["spec"]["size"] == 3, "the status subresource must ignore spec changes"
    assert patched.metadata.generation == generation, "a status write must not bump generation"


async def test_a_deployment_gets_a_replicaset_that_creates_its_pods(kube: AsyncClient, namespace: str) -> None:
    await kube.create(_deployment("web", namespace, replicas=2))

    async def replicaset_with_pods() -> list[Any]:
        sets = [rs async for rs in kube.list(ReplicaSet, namespace=namespace)]
        pods = [p async for p in kube.list(Pod, namespace=namespace)]
        owned = [
            rs
            for rs in sets
            if any(o.kind == "Deployment" and o.name == "web" for o in rs.metadata.ownerReferences or [])
        ]
        return owned if owned and len(pods) == 2 else []

    owned = await eventually(replicaset_with_pods, timeout=60, what="the Deployment's ReplicaSet and its 2 pods")
    assert owned[0].spec.replicas == 2


async def test_deleting_an_owner_garbage_collects_its_dependents(
    kube: AsyncClient,
    namespace: str,
    widget_crd: None,
) -> None:
    owner = await kube.create(Widget(metadata=ObjectMeta(name="owner", namespace=namespace), spec={"size": 1}))
    owner_ref = {
        "apiVersion": f"{GROUP}/v1",
        "kind": "Widget",
        "name": "owner",
        "uid": owner.metadata.uid,
        "controller": True,
        "blockOwnerDeletion": True,
    }
    await kube.create(
        ConfigMap(
            metadata=ObjectMeta(name="child", namespace=namespace, ownerReferences=[OwnerReference(**owner_ref)]),
            data={"k": "v"},
        )
    )
    await kube.create(_deployment("owned-web", namespace, replicas=1, owner_ref=owner_ref))

    async def has_replicaset() -> bool:
        return bool([rs async for rs in kube.list(ReplicaSet, namespace=namespace)])

    await eventually(has_replicaset, timeout=60, what="the owned Deployment's ReplicaSet")

    await kube.delete(Widget, "owner", namespace=namespace)

    async def all_gone() -> bool:
        left = [
            *[c async for c in kube.list(ConfigMap, namespace=namespace) if c.metadata.name == "child"],
            *[d async for d in kube.list(Deployment, namespace=namespace)],
            *[rs async for rs in kube.list(ReplicaSet, namespace=namespace)],
            *[p async for p in kube.list(Pod, namespace=namespace)],
        ]
        return not left

    await eventually(
        all_gone,
        timeout=60,
        what="the ConfigMap, Deployment, ReplicaSet and Pod owned by the Widget to be deleted",
    )


def _deployment(name: str, namespace: str, *, replicas: int, owner_ref: dict[str, Any] | None = None) -> Any:
    metadata: dict[str, Any] = {"name": name, "namespace": namespace}
    if owner_ref:
        metadata["ownerReferences"] = [owner_ref]
    return from_dict(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": metadata,
            "spec": {
                "replicas": replicas,
                "selector": {"matchLabels": {"app": name}},
                "template": {
                    "metadata": {"labels": {"app": name}},
                    "spec": {"containers": [{"name": "main", "image": "example.invalid/none:1"}]},
                },
            },
        }
    )


def test_control_plane_binaries_report_the_pinned_versions(kubeconfig: Path) -> None:
    from testbench.gobuild import ETCD, KUBERNETES
    from testbench.kube import binary_versions

    versions = binary_versions()
    assert versions["kube-apiserver"] == f"Kubernetes {KUBERNETES.version()}"
    assert versions["kube-controller-manager"] == f"Kubernetes {KUBERNETES.version()}"
    assert versions["etcd"] == f"etcd Version: {ETCD.version().lstrip('v')}"
