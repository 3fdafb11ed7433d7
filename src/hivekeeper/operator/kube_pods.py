"""Pods with a swarm label, listed and watched with lightkube: the I/O of :mod:`~hivekeeper.operator.pod_watch`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from lightkube import AsyncClient
from lightkube.operators import exists
from lightkube.resources.core_v1 import Pod

from hivekeeper.operator.pod_watch import LABEL_SWARM


class LightkubePods:
    """:class:`hivekeeper.operator.pod_watch.PodSource` on the Kubernetes API: the pods that carry a swarm label."""

    def __init__(self, client: AsyncClient) -> None:
        self.client = client

    async def list_pods(self, namespace: str) -> tuple[list[dict[str, Any]], str]:
        listing = self.client.list(Pod, namespace=namespace, labels={LABEL_SWARM: exists()})
        items = [pod.to_dict() async for pod in listing]
        return items, listing.resourceVersion

    async def watch_pods(
        self, namespace: str, resource_version: str, timeout: int
    ) -> AsyncIterator[tuple[str, dict[str, Any]]]:
        watch = self.client.watch(
            Pod,
            namespace=namespace,
            labels={LABEL_SWARM: exists()},
            resource_version=resource_version,
            server_timeout=timeout,
        )
        async for kind, pod in watch:
            yield kind, pod.to_dict()
