"""The operator as a local process against the bench's node, and fresh namespaces for e2e tests.

Shared by the e2e modules that run the operator outside the cluster (its log and restarts are the test's to
control); the Helm tests run it as a pod.
"""

from __future__ import annotations

import base64
import json
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from lightkube import AsyncClient, KubeConfig
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import Namespace, Secret

from testbench.procs import ManagedProcess

SIGNING_SEED = base64.b64encode(os.urandom(32)).decode()
"""One key per test session: a restarted operator process keeps signing with the key its pods trust."""


def start_operator(
    *,
    kubeconfig: Path,
    rabbitmq_url: str,
    namespace: str,
    worker_image: str,
    log_path: Path,
    policy: dict[str, Any] | None = None,
) -> ManagedProcess:
    """``hivekeeper operator`` watching ``namespace``, signing its signals as the chart does; its /metrics port is
    picked by itself and logged (``serving /metrics on port N``)."""
    env = {
        "KUBECONFIG": str(kubeconfig),
        "HIVEKEEPER_AMQP_URL": rabbitmq_url,
        "HIVEKEEPER_WORKER_IMAGE": worker_image,
        "HIVEKEEPER_POLICY": json.dumps(policy or {}),
        "HIVEKEEPER_SIGNING_KEY": SIGNING_SEED,
    }
    argv = [sys.executable, "-m", "hivekeeper.cli", "operator", "--namespace", namespace]
    argv += ["--health-port", "0", "--metrics-port", "auto"]
    return ManagedProcess("hivekeeper operator", argv, log_path, env={**os.environ, **env}).start()


@asynccontextmanager
async def fresh_namespace(
    kubeconfig: Path, namespace: str, *, amqp_url: str | None, redis_url: str | None = None
) -> AsyncIterator[AsyncClient]:
    """A client and a fresh namespace (with the broker Secret unless ``amqp_url`` is None), removed afterwards."""
    kube = AsyncClient(config=KubeConfig.from_file(str(kubeconfig)))
    await kube.create(Namespace(metadata=ObjectMeta(name=namespace)))
    try:
        if amqp_url is not None:
            keys = {"amqpUrl": amqp_url, **({"redisUrl": redis_url} if redis_url else {})}
            await kube.create(
                Secret(
                    metadata=ObjectMeta(name="hivekeeper-broker", namespace=namespace),
                    data={key: base64.b64encode(value.encode()).decode() for key, value in keys.items()},
                )
            )
        yield kube
    finally:
        await kube.delete(Namespace, namespace)
        await kube.close()
