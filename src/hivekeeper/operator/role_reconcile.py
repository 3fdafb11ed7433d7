"""A WorkerRole's reconcile: its queues, its Deployment, and its config pushed to the running workers.

The desired config (the spec's ``config`` and ``paused``) has a digest; when it differs from the one
the status says was last pushed, the generation goes up and one ``signal.config-update`` (replace)
reaches every instance: pods are not restarted. Only a change of the fields that shape the pod
(:func:`~hivekeeper.operator.manifests.rollout_fingerprint`, and the operator's signing key) re-applies
the Deployment; any other edit only scales it.

:func:`plan_role` decides (pure); :func:`reconcile_role` carries it out in this order: declare the
queues (only while the owning Swarm lives), apply or scale the Deployment, push the config, patch the
status, then wait (bounded) for the workers' acknowledgements so the status shows the applied config at
once instead of at the next roll-up.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from dataclasses import dataclass
from typing import Any

import orjson

from hivekeeper.api import API_VERSION
from hivekeeper.operator import config_events, events, manifests, plan, policy, topology
from hivekeeper.operator.bodies import WorkerRoleBody
from hivekeeper.operator.events import Note
from hivekeeper.operator.manifests import WorkerDefaults
from hivekeeper.operator.ports import Manifest
from hivekeeper.operator.role_rollup import roll_up_role
from hivekeeper.operator.runtime import Runtime
from hivekeeper.protocol import naming

log = logging.getLogger("hivekeeper.operator")


def _digest(value: Any) -> str:
    return hashlib.sha256(orjson.dumps(value, option=orjson.OPT_SORT_KEYS)).hexdigest()[:16]


@dataclass(frozen=True)
class ConfigPush:
    """One config-update to every instance: the whole config (replace), enabled, and its generation."""

    generation: int
    data: dict[str, Any]


@dataclass(frozen=True)
class RolePlan:
    """What one reconcile of a WorkerRole does."""

    refused: list[str]
    """The operator policy rules the spec breaks: when any, nothing else of the plan is carried out."""
    topology: topology.Topology
    """Declared while the owning Swarm lives (a hand-written WorkerRole always declares)."""
    deployment: Manifest | None
    """Applied when the pod-shaping fields changed; None: only ``replicas`` is set on the Deployment."""
    replicas: int
    push: ConfigPush | None
    """None when the workers already got this config (its digest is the status's)."""
    status_patch: dict[str, Any]


def owner_reference(role: WorkerRoleBody) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": "WorkerRole",
        "name": role.metadata.name,
        "uid": role.metadata.uid,
        "controller": True,
        "blockOwnerDeletion": True,
    }


def rollout_digest(role: WorkerRoleBody, defaults: WorkerDefaults) -> str:
    """The fingerprint of what the pods are made of; the signal key is part of the pod template, so a new
    operator key rolls the pods and they trust it, and so is the operator's template revision."""
    return _digest(
        {
            **manifests.rollout_fingerprint(role.spec),
            "signalKey": defaults.signal_key,
            "templateRevision": manifests.TEMPLATE_REVISION,
        }
    )


def plan_role(
    role: WorkerRoleBody, defaults: WorkerDefaults, rules: policy.Policy, *, workers_hold: int = 0
) -> RolePlan:
    """What reconciling ``role`` as it is now should do (see the module docstring for the order).

    ``workers_hold`` is the highest config generation a live instance reports. A new push goes above it as
    well as above the status's: workers refuse a generation older than theirs, so a status that lost its
    ``configGeneration`` (restored from a backup, replaced without status) must not start counting again at 1.
    """
    spec, status = role.spec, role.status
    swarm_id = naming.swarm_id(spec.swarmRef, role.namespace)
    config = dict(spec.config)
    patch: dict[str, Any] = {}
    rollout = rollout_digest(role, defaults)
    deployment = None
    if status.rolloutDigest != rollout:
        deployment = manifests.deployment(
            name=role.metadata.name,
            namespace=role.namespace,
            swarm=spec.swarmRef,
            swarm_id=swarm_id,
            role=role.role,
            spec=spec,
            bootstrap_config=config,
            owner=owner_reference(role),
            defaults=defaults,
            run_id=role.swarm_owner_uid() or role.metadata.uid,
        )
        patch["rolloutDigest"] = rollout
    enabled = not spec.paused
    digest = plan.config_digest(config, enabled)
    push = None
    if status.configDigest != digest:
        generation = max(status.configGeneration, workers_hold) + 1
        push = ConfigPush(generation, {**config, "replace": True, "enabled": enabled, "configGeneration": generation})
        patch.update(configGeneration=generation, configDigest=digest)
    patch["selector"] = manifests.selector_string(spec.swarmRef, role.role)
    patch["observedGeneration"] = role.metadata.generation
    return RolePlan(
        refused=policy.violations(spec, rules),
        topology=topology.topology(swarm_id, topology.role_aliases(spec.work.in_, spec.work.out)),
        deployment=deployment,
        replicas=spec.replicas,
        push=push,
        status_patch=patch,
    )


@dataclass(frozen=True)
class Previous:
    """The spec as it stood at the last reconcile that was carried out (kopf keeps it): what a transition is
    measured from. Unknown (None) on the first reconcile."""

    replicas: int | None = None
    paused: bool | None = None


def reconcile_notes(role: WorkerRoleBody, decided: RolePlan, previous: Previous, *, declared: bool) -> list[Note]:
    """What a reconcile that carried out ``decided`` says on the WorkerRole (``declared``: it declared the queues).

    A refused spec says only why. The Deployment created or its pod template changed (with the queues declared
    then: the first reconcile, or ``work`` changed), scaled, paused or resumed, and the config pushed (with its
    generation)."""
    ref = events.role_ref(role)
    name, spec = role.metadata.name, role.spec
    if decided.refused:
        message = f"refused by the operator policy, nothing of this spec is applied: {'; '.join(decided.refused)}"
        return [Note(ref, "Warning", "PolicyViolation", message)]
    notes = []
    created = not role.status.rolloutDigest
    if decided.deployment is not None:
        if created:
            message = f"created Deployment {name} with {events.counted(decided.replicas, 'replica')}"
            notes.append(Note(ref, "Normal", "Created", message))
        else:
            message = f"updated the pod template of Deployment {name}: its pods are replaced"
            notes.append(Note(ref, "Normal", "Updated", message))
        if declared and decided.topology.queues:
            queues = ", ".join(q.name for q in decided.topology.queues)
            said = "the queue" if len(decided.topology.queues) == 1 else "the queues"
            notes.append(Note(ref, "Normal", "QueuesDeclared", f"declared {said} {queues} and their bindings"))
    if previous.replicas is not None and previous.replicas != spec.replicas and not created:
        message = f"scaled Deployment {name} from {previous.replicas} to {events.counted(spec.replicas, 'replica')}"
        notes.append(Note(ref, "Normal", "Scaled", message))
    if previous.paused is not None and previous.paused != spec.paused:
        if spec.paused:
            notes.append(Note(ref, "Normal", "Paused", "paused: the workers stop working; pods and queues stay"))
        else:
            notes.append(Note(ref, "Normal", "Resumed", "resumed: the workers work again"))
    if decided.push is not None:
        state = "paused" if spec.paused else "working"
        message = f"pushed config generation {decided.push.generation} to every worker ({state}), live: pods stay"
        notes.append(Note(ref, "Normal", "ConfigPushed", message))
    return notes


async def reconcile_role(runtime: Runtime, role: WorkerRoleBody, previous: Previous | None = None) -> None:
    """Carry out :func:`plan_role` for ``role``; ``previous`` (the spec last reconciled) names the transitions."""
    swarm_id = naming.swarm_id(role.spec.swarmRef, role.namespace)
    await runtime.manage(swarm_id, role)
    held = (report.config_generation for report in runtime.observations.instances(swarm_id, role.role))
    decided = plan_role(role, runtime.defaults, runtime.policy, workers_hold=max(held, default=0))
    previous = previous or Previous()
    if decided.refused:
        # Nothing of this spec is applied: the Deployment and the running config stay as they were, and the
        # roll-up shows the rules broken (Stalled, reason PolicyViolation) until the spec is fixed.
        log.warning(
            "WorkerRole %s/%s refused by the operator policy: %s",
            role.namespace,
            role.metadata.name,
            "; ".join(decided.refused),
        )
        await _say(runtime, reconcile_notes(role, decided, previous, declared=False))
        await roll_up_role(runtime, role)
        return
    cluster = runtime.cluster
    declared = await runtime.swarm_lives(role)
    if declared:
        await runtime.broker.declare(decided.topology)
    if decided.deployment is not None:
        await cluster.apply(decided.deployment)
    else:
        await cluster.scale_deployment(role.namespace, role.metadata.name, decided.replicas)
    if decided.push is not None:
        await runtime.push_config(swarm_id, role.role, naming.ALL, decided.push.data, reason="change")
    await cluster.patch_workerrole_status(role.namespace, role.metadata.name, decided.status_patch)
    notes = reconcile_notes(role, decided, previous, declared=declared)
    if config_events.run_in_progress(runtime, role):  # a staged rate: the run's own status tells it
        notes = [note for note in notes if note.reason != "ConfigPushed"]
    if decided.push is None:
        await _say(runtime, notes)
        return
    # The Events go out while the workers acknowledge: they add no wait to the edit's path.
    _, acked = await asyncio.gather(
        _say(runtime, notes), acknowledged(runtime, swarm_id, role.role, decided.push.generation)
    )
    if acked:
        # Show the applied config now rather than at the next status tick (kubectl wait, GitOps health).
        updated = role.status.model_copy(update=decided.status_patch)
        await roll_up_role(runtime, role.model_copy(update={"status": updated}))


async def _say(runtime: Runtime, notes: list[Note]) -> None:
    for note in notes:
        await runtime.event(note.involved, note.type, note.reason, note.message)


def all_answered(runtime: Runtime, swarm_id: str, role: str, generation: int) -> bool:
    """Every instance the operator knows of has applied ``generation`` (or a later one) or refused it."""
    instances = runtime.observations.instances(swarm_id, role)
    return bool(instances) and all(
        r.config_generation >= generation or r.rejected_generation == generation for r in instances
    )


async def acknowledged(runtime: Runtime, swarm_id: str, role: str, generation: int) -> bool:
    """Wait (bounded by ``timing.ack_wait``) until :func:`all_answered`."""
    timing, clock = runtime.timing, runtime.clock
    deadline = clock.monotonic() + timing.ack_wait
    while clock.monotonic() < deadline:
        if all_answered(runtime, swarm_id, role, generation):
            return True
        await clock.sleep(timing.ack_poll)
    return False
