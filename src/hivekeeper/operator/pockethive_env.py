"""The environment of a ``protocol: pockethive`` role's pods (pure): PocketHive's worker contract.

A PocketHive worker image reads the broker as host, port, user, password and virtual host, never as a
URL, and the operator never reads Secrets (its RBAC has no such right): so each part comes from its own
key of the workers' Secret through ``secretKeyRef`` (:data:`BROKER_SECRET_KEYS`), the password included,
and nothing of the broker is written into the pod spec. The Helm chart writes these keys next to
``amqpUrl`` when it writes the workers' Secret; a Secret made by hand needs them (docs/custom-images.md).
The instance id is the pod's name (downward API), as ``HIVEKEEPER_INSTANCE`` is for our workers.
"""

from __future__ import annotations

from typing import Any, Final

from hivekeeper.api.workerrole import WorkerRoleSpec
from hivekeeper.protocol import pockethive

BROKER_SECRET_KEYS: Final = {
    pockethive.HOST: "amqpHost",
    pockethive.PORT: "amqpPort",
    pockethive.USERNAME: "amqpUsername",
    pockethive.PASSWORD: "amqpPassword",
    pockethive.VIRTUAL_HOST: "amqpVhost",
}
"""Variable → key of the workers' Secret holding that part of the broker URL (``amqpUrl``)."""


def pockethive_env(*, swarm_id: str, role: str, spec: WorkerRoleSpec, secret: str, run_id: str) -> list[dict[str, Any]]:
    """The EnvVars of a PocketHive worker of stage ``role``; ``secret`` is the workers' Secret.

    The template id is the swarm id (what our own workers report as ``runtime.templateId``); ``run_id`` is
    the Swarm's uid, which changes only when the Swarm is made anew (PocketHive's run id changes per swarm
    creation too).
    """
    env: list[dict[str, Any]] = [
        {"name": name, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}}
        for name, key in BROKER_SECRET_KEYS.items()
    ]
    env.append({"name": pockethive.INSTANCE_ID, "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}})
    names = pockethive.worker_variables(
        swarm_id=swarm_id,
        role=role,
        work_in=spec.work.in_,
        work_out=spec.work.out,
        template_id=swarm_id,
        run_id=run_id,
    )
    env.extend({"name": name, "value": value} for name, value in sorted(names.items()))
    return env
