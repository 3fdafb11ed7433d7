"""Planning (pure): what children a Swarm should have, and what each worker should run with.

A Swarm owns one WorkerRole per ``spec.roles[]`` entry. The role's *desired config* is what the
workers receive in a config-update: the role's own config plus the swarm's ``vars``, ``sut``,
``templates`` and ``deadLetter``; ``paused`` becomes ``enabled``. Its digest decides whether a config-update is due, so
that an edit to an unrelated field (replicas, image) never pushes config, and an edit that changes
the config always does.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import orjson

from hivekeeper.api import API_VERSION
from hivekeeper.api.pod_template import merged as merged_pod
from hivekeeper.api.role_config import merged_role_config
from hivekeeper.api.swarm import RoleSpec, Swarm
from hivekeeper.protocol import naming

LABEL_SWARM = "hivekeeper.io/swarm"
LABEL_ROLE = "hivekeeper.io/role"
ANNOTATION_CONFIG_DIGEST = "hivekeeper.io/config-digest"


def swarm_id(swarm: Swarm) -> str:
    """``<namespace>_<name>``: unique per broker, safe in routing keys."""
    return naming.swarm_id(swarm.metadata.name, swarm.metadata.namespace or "default")


def desired_config(swarm: Swarm, role: RoleSpec) -> dict[str, Any]:
    """The full config a worker of ``role`` should run with (the data of a replace config-update)."""
    return merged_role_config(swarm.spec, role.config, role.work.out)


def config_digest(config: dict[str, Any], enabled: bool) -> str:
    """A short, order-independent fingerprint of what a config-update would carry."""
    canonical = orjson.dumps({"config": config, "enabled": enabled}, option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(canonical).hexdigest()[:16]


@dataclass(frozen=True)
class ChildPlan:
    """One WorkerRole the Swarm should own."""

    name: str
    manifest: dict[str, Any]
    config: dict[str, Any]
    digest: str


def workerrole_name(swarm: Swarm, role: RoleSpec) -> str:
    return f"{swarm.metadata.name}-{role.name}"


def owner_reference(swarm: Swarm, uid: str) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": "Swarm",
        "name": swarm.metadata.name,
        "uid": uid,
        "controller": True,
        "blockOwnerDeletion": True,
    }


def with_rate(config: dict[str, Any], block: str, rate: float) -> dict[str, Any]:
    """``config`` with ``inputs.<block>.ratePerSec`` set to ``rate`` (the rest of it as it was)."""
    inputs = config.get("inputs")
    inputs = dict(inputs) if isinstance(inputs, dict) else {}
    held = inputs.get(block)
    inputs[block] = {**(held if isinstance(held, dict) else {}), "ratePerSec": rate}
    return {**config, "inputs": inputs}


def plan_children(
    swarm: Swarm,
    uid: str,
    current_replicas: dict[str, int] | None = None,
    *,
    stopped: frozenset[str] = frozenset(),
    rates: dict[str, tuple[str, float]] | None = None,
) -> list[ChildPlan]:
    """The WorkerRoles of ``swarm``, in pipeline order (consumers are listed after their producers).

    ``current_replicas`` (WorkerRole name → spec.replicas now) keeps the count of ``autoscaled`` roles:
    applying it unchanged never fights the autoscaler that set it. ``stopped`` (role names) and ``rates``
    (role → (input block, rate)) are what a bounded run asks now (``run_play.RunControl``): roles held paused,
    and the staged input rates written into the roles' configs.
    """
    current_replicas = current_replicas or {}
    rates = rates or {}
    children = []
    for role in swarm.spec.roles:
        paused = swarm.spec.paused or role.name in stopped
        enabled = not paused
        config = desired_config(swarm, role)
        if role.name in rates:
            block, rate = rates[role.name]
            config = with_rate(config, block, rate)
        digest = config_digest(config, enabled)
        name = workerrole_name(swarm, role)
        replicas = role.replicas
        if role.autoscaled and name in current_replicas:
            replicas = current_replicas[name]
        spec: dict[str, Any] = {
            "swarmRef": swarm.metadata.name,
            "replicas": replicas,
            "work": role.work.model_dump(by_alias=True, exclude_none=True),
            "config": config,
            "paused": paused,
        }
        if role.role:
            spec["role"] = role.role
        if role.image:
            spec["image"] = role.image
        if role.protocol != "hivekeeper":
            spec["protocol"] = role.protocol
        if role.resources is not None:
            spec["resources"] = role.resources
        if role.env is not None:
            spec["env"] = role.env
        pod = merged_pod(swarm.spec.pod, role.pod)
        if pod is not None:
            spec["pod"] = pod.written()
        if swarm.spec.secretRef is not None:
            spec["secretRef"] = swarm.spec.secretRef.model_dump()
        manifest = {
            "apiVersion": API_VERSION,
            "kind": "WorkerRole",
            "metadata": {
                "name": name,
                "namespace": swarm.metadata.namespace,
                "labels": {
                    LABEL_SWARM: swarm.metadata.name,
                    LABEL_ROLE: role.name,
                    "app.kubernetes.io/part-of": "hivekeeper",
                    "app.kubernetes.io/managed-by": "hivekeeper",
                },
                "annotations": {ANNOTATION_CONFIG_DIGEST: digest},
                "ownerReferences": [owner_reference(swarm, uid)],
            },
            "spec": spec,
        }
        children.append(ChildPlan(name=name, manifest=manifest, config=config, digest=digest))
    return children


def enable_order(swarm: Swarm) -> list[str]:
    """Role names in the order to enable them: consumers before producers (resume never floods a queue
    that nobody reads yet); disable in the reverse order."""
    roles = swarm.spec.roles
    return [r.name for r in roles if r.work.in_] + [r.name for r in roles if not r.work.in_]


def orphans(existing: list[str], planned: list[ChildPlan]) -> list[str]:
    """WorkerRoles the Swarm owns but no longer lists (a role was removed from spec.roles)."""
    wanted = {child.name for child in planned}
    return sorted(name for name in existing if name not in wanted)
