"""Wiring: the real adapters (lightkube, aio-pika) built from the settings into one :class:`Runtime`.

Kept apart from the kopf handlers so that the adapter module stays thin and the handlers never touch
a client library themselves.
"""

from __future__ import annotations

import logging

from lightkube import AsyncClient, KubeConfig

from hivekeeper.operator.effects import AmqpBroker, LightkubeCluster
from hivekeeper.operator.observations import Observations
from hivekeeper.operator.runtime import Runtime
from hivekeeper.operator.settings import Settings
from hivekeeper.protocol import naming
from hivekeeper.protocol.signing import Signer

log = logging.getLogger("hivekeeper.operator")


async def start(settings: Settings) -> Runtime:
    """Connect to the cluster and the broker, ask every worker for its status, and return the runtime."""
    config = (
        KubeConfig.from_service_account() if settings.in_cluster else KubeConfig.from_file(str(settings.kubeconfig))
    )
    observations = Observations()
    signer = Signer.from_seed(settings.signing_seed) if settings.signing_seed else None
    if signer is None:
        log.warning(
            "HIVEKEEPER_SIGNING_KEY is not set: signals go out unsigned and workers accept signals from anyone "
            "holding a broker credential (the Helm chart always sets a key; see docs/decisions/0007)"
        )
    broker = AmqpBroker(settings.amqp_url, observations, signer)
    await broker.start()
    rules = settings.policy
    log.info(
        "operator policy: custom images %s; env Secrets %s; secretRefs %s",
        list(rules.allowedImages) or "none",
        list(rules.envSecrets) or "none",
        list(rules.secretRefs) or "none",
    )
    runtime = Runtime(
        cluster=LightkubeCluster(AsyncClient(config=config)),
        broker=broker,
        observations=observations,
        defaults=settings.worker_defaults(signer.public_key() if signer is not None else ""),
        policy=rules,
        timing=settings.timing,
    )
    # Every worker of ours binds ALL.ALL.ALL: a restarted operator relearns the state at once. PocketHive
    # workers bind no such key; their roles are asked one by one when first managed (Runtime.manage).
    await broker.request_status(naming.ALL, naming.ALL, naming.ALL)
    return runtime


async def stop(runtime: Runtime) -> None:
    """Close the broker connections and the API client."""
    if isinstance(runtime.broker, AmqpBroker):
        await runtime.broker.close()
    if isinstance(runtime.cluster, LightkubeCluster):
        await runtime.cluster.client.close()
