"""kopf handlers: the only module that imports kopf. Thin: read, call the pure planners, apply.

Swarm → one WorkerRole per role (server-side apply, owned by the Swarm). WorkerRole → the swarm's
queue topology, a Deployment of workers, and config: when the desired config (or paused) changes,
the generation goes up and one ``signal.config-update`` (replace) reaches every instance; pods are
not restarted. A timer rolls the workers' reports up into the status and re-sends the current
config to any instance that reports an older generation (level-based: new and restarted pods
converge by themselves).
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import functools
import hashlib
import logging
import os
import time
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

import kopf
import orjson

from hivekeeper.api.status import Condition
from hivekeeper.api.swarm import Swarm
from hivekeeper.operator import manifests, metrics, plan, policy, topology
from hivekeeper.operator import status as rules
from hivekeeper.operator.effects import Broker, Kube
from hivekeeper.operator.observations import Observations
from hivekeeper.protocol import naming
from hivekeeper.protocol.signing import Signer

GROUP, VERSION = "hivekeeper.io", "v1alpha1"
STARTUP_GRACE = 6.0
"""Seconds after start during which a role nobody has reported on yet keeps its previous status."""
log = logging.getLogger("hivekeeper.operator")


class Runtime:
    """What the handlers share (kopf's memo holds one)."""

    def __init__(
        self,
        kube: Kube,
        broker: Broker,
        observations: Observations,
        defaults: manifests.WorkerDefaults,
        rules: policy.Policy | None = None,
    ):
        self.started = time.monotonic()
        self.kube = kube
        self.broker = broker
        self.observations = observations
        self.defaults = defaults
        self.policy = rules or policy.Policy()


RUNTIME: dict[str, Runtime] = {}


def runtime() -> Runtime:
    return RUNTIME["current"]


def counted(kind: str) -> Callable[[Callable[..., Awaitable[None]]], Callable[..., Awaitable[None]]]:
    """Count a handler's runs in ``hivekeeper_operator_reconciles`` by result (ok, retry, error)."""

    def decorate(handler: Callable[..., Awaitable[None]]) -> Callable[..., Awaitable[None]]:
        @functools.wraps(handler)
        async def run(**kwargs: Any) -> None:
            try:
                await handler(**kwargs)
            except kopf.TemporaryError:
                metrics.RECONCILES.labels(kind, "retry").inc()
                raise
            except Exception:
                metrics.RECONCILES.labels(kind, "error").inc()
                raise
            metrics.RECONCILES.labels(kind, "ok").inc()

        return run

    return decorate


async def push_config(
    current: Runtime, swarm_id: str, role: str, instance: str, data: dict[str, Any], *, reason: str
) -> None:
    """Publish one config-update and remember when, so the workers' acks can be timed."""
    await current.broker.signal(swarm_id, role, instance, data)
    current.observations.pushed(swarm_id, role, instance, int(data["configGeneration"]), time.monotonic())
    metrics.CONFIG_PUSHES.labels(reason).inc()


def changed(status: Mapping[str, Any], patch: dict[str, Any]) -> bool:
    """Whether a status patch would change anything (unchanged statuses are not written: fewer API calls)."""
    return any(status.get(key) != value for key, value in patch.items())


@kopf.on.startup()
async def startup(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    from lightkube import AsyncClient, KubeConfig

    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=GROUP)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(prefix=GROUP)
    settings.persistence.finalizer = f"{GROUP}/queue-cleanup"
    settings.posting.level = logging.WARNING  # events only for problems, not for every reconcile
    settings.watching.server_timeout = 60
    metrics.serve(int(memo.get("metrics_port", 0)))
    url = os.environ["HIVEKEEPER_AMQP_URL"]
    config = (
        KubeConfig.from_service_account()
        if os.environ.get("KUBERNETES_SERVICE_HOST")
        else KubeConfig.from_file(os.environ.get("KUBECONFIG") or str(Path.home() / ".kube" / "config"))
    )
    observations = Observations()
    seed = os.environ.get("HIVEKEEPER_SIGNING_KEY", "").strip()
    signer = Signer.from_seed(seed) if seed else None
    if signer is None:
        log.warning(
            "HIVEKEEPER_SIGNING_KEY is not set: signals go out unsigned and workers accept signals from anyone "
            "holding a broker credential (the Helm chart always sets a key; see docs/decisions/0007)"
        )
    broker = Broker(url, observations, signer)
    await broker.start()
    resources = os.environ.get("HIVEKEEPER_WORKER_RESOURCES", "").strip()
    defaults = manifests.WorkerDefaults(
        image=os.environ.get("HIVEKEEPER_WORKER_IMAGE", manifests.WorkerDefaults.image),
        secret_name=os.environ.get("HIVEKEEPER_BROKER_SECRET", manifests.WorkerDefaults.secret_name),
        resources=orjson.loads(resources) if resources else dict(manifests.DEFAULT_RESOURCES),
        signal_key=signer.public_key() if signer is not None else "",
    )
    rules = policy.parse(os.environ.get("HIVEKEEPER_POLICY"))
    log.info(
        "operator policy: custom images %s; env Secrets %s; secretRefs %s",
        list(rules.allowedImages) or "none",
        list(rules.envSecrets) or "none",
        list(rules.secretRefs) or "none",
    )
    RUNTIME["current"] = Runtime(Kube(AsyncClient(config=config)), broker, observations, defaults, rules)
    await broker.request_status()


@kopf.on.cleanup()
async def cleanup(**_: Any) -> None:
    current = RUNTIME.pop("current", None)
    if current is not None:
        await current.broker.close()
        await current.kube.client.close()


@kopf.on.login()
def login(settings: kopf.OperatorSettings, **_: Any) -> kopf.ConnectionInfo | None:
    if os.environ.get("KUBERNETES_SERVICE_HOST"):
        return kopf.login_with_service_account(settings=settings)
    return kopf.login_with_kubeconfig(settings=settings)


@kopf.on.resume(GROUP, VERSION, "swarms")
@kopf.on.create(GROUP, VERSION, "swarms")
@kopf.on.update(GROUP, VERSION, "swarms")
@counted("Swarm")
async def reconcile_swarm(body: kopf.Body, meta: kopf.Meta, namespace: str | None, **_: Any) -> None:
    assert namespace is not None, "Swarm is namespaced"
    swarm = Swarm.model_validate({k: v for k, v in body.items() if k in ("apiVersion", "kind", "metadata", "spec")})
    kube = runtime().kube
    existing = await kube.workerrole_objects(namespace, swarm.metadata.name)
    current = {str(obj["metadata"]["name"]): int(obj["spec"].get("replicas", 1)) for obj in existing}
    children = plan.plan_children(swarm, uid=str(meta["uid"]), current_replicas=current)
    # Resume consumers before producers (and pause producers before consumers), so that no queue fills
    # while nobody reads it: the first group is applied and awaited before the second is applied.
    # Only a change of ``paused`` needs that order; any other edit goes to every role at once.
    pausing_or_resuming = any(bool(obj["spec"].get("paused", False)) != swarm.spec.paused for obj in existing)
    by_name = {child.name: child for child in children}
    consumers = [by_name[plan.workerrole_name(swarm, r)] for r in swarm.spec.roles if r.work.in_]
    producers = [by_name[plan.workerrole_name(swarm, r)] for r in swarm.spec.roles if not r.work.in_]
    first, second = (producers, consumers) if swarm.spec.paused else (consumers, producers)
    await asyncio.gather(*(kube.apply(child.manifest) for child in first))
    if pausing_or_resuming:
        await _until_applied(kube, namespace, first, timeout=ORDERING_TIMEOUT)
    await asyncio.gather(*(kube.apply(child.manifest) for child in second))
    names = [str(obj["metadata"]["name"]) for obj in existing]
    for orphan in plan.orphans(names, children):
        await kube.delete_workerrole(namespace, orphan)


ORDERING_TIMEOUT = 15.0
"""How long a pause or resume waits for the first group of roles before moving on to the second."""


async def _until_applied(kube: Kube, namespace: str, children: list[plan.ChildPlan], timeout: float) -> None:
    """Wait (bounded) until every child's workers run the config the child plan carries."""
    if not children:
        return
    swarm = children[0].manifest["spec"]["swarmRef"]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        objects = await kube.workerrole_objects(namespace, swarm)
        statuses = {obj["metadata"]["name"]: obj.get("status") or {} for obj in objects}
        if all(_applied(statuses.get(child.name, {}), child) for child in children):
            return
        await asyncio.sleep(0.2)
    log.warning("%d role(s) did not apply their config within %.0fs; continuing", len(children), timeout)


def _applied(status: dict[str, Any], child: plan.ChildPlan) -> bool:
    generation = status.get("configGeneration", 0)
    return bool(status.get("configDigest") == child.digest and status.get("appliedGeneration") == generation)


SKIP_CLEANUP = f"{GROUP}/skip-queue-cleanup"
"""Annotate a Swarm with this set to "true" to let its deletion finish without deleting queues (an escape
hatch for when the broker is gone for good)."""
CLEANUP_ATTEMPTS = 6


@kopf.on.delete(GROUP, VERSION, "swarms")
@counted("SwarmDeletion")
async def delete_swarm(
    spec: kopf.Spec, meta: kopf.Meta, namespace: str | None, name: str, retry: int, **_: Any
) -> None:
    """Queues follow ``deletionPolicy`` (Delete by default); children go by owner reference."""
    assert namespace is not None, "Swarm is namespaced"
    if spec.get("deletionPolicy", "Delete") == "Retain":
        return
    if meta.get("annotations", {}).get(SKIP_CLEANUP) == "true":
        log.warning("swarm %s/%s: queues left in place (%s)", namespace, name, SKIP_CLEANUP)
        return
    swarm = Swarm.model_validate(
        {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "Swarm",
            "metadata": {"name": name, "namespace": namespace},
            "spec": dict(spec),
        }
    )
    aliases = {a for r in swarm.spec.roles for a in (r.work.in_, r.work.out) if a}
    swarm_id = naming.swarm_id(name, namespace)
    current = runtime()
    try:
        # Stop the workers first: a worker still publishing would re-declare a queue we just deleted.
        # Pausing the WorkerRoles (not just signalling) is level-based: a pod that starts during the
        # deletion is brought to the paused config too, instead of being enabled by the status timer.
        paused = swarm.model_copy(update={"spec": swarm.spec.model_copy(update={"paused": True})})
        for child in plan.plan_children(paused, uid=str(meta["uid"])):
            await current.kube.apply(child.manifest)
        await current.broker.signal(swarm_id, naming.ALL, naming.ALL, {"enabled": False})
        await _until_disabled(current, namespace, name, [r.name for r in swarm.spec.roles], timeout=10.0)
        await current.broker.delete(topology.topology(swarm_id, aliases))
    except Exception as exc:
        if retry + 1 >= CLEANUP_ATTEMPTS:
            log.error(
                "swarm %s/%s: gave up deleting its queues after %d attempts (%s); they stay on the broker",
                namespace,
                name,
                retry + 1,
                exc,
            )
            return
        raise kopf.TemporaryError(
            f"cannot delete the swarm's queues yet ({exc}); retrying. To finish without them, annotate the "
            f"Swarm with {SKIP_CLEANUP}=true",
            delay=5,
        ) from exc


async def _until_disabled(current: Runtime, namespace: str, swarm: str, roles: list[str], timeout: float) -> None:
    """Wait (bounded) until the worker of every existing pod of the swarm has reported itself disabled."""
    swarm_id = naming.swarm_id(swarm, namespace)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pending = []
        for role in roles:
            reports = {r.name: r for r in current.observations.instances(swarm_id, role)}
            for pod in await current.kube.pods(namespace, swarm, role):
                name = pod.metadata.name if pod.metadata else None
                report = reports.get(name or "")
                if report is None or report.enabled:
                    pending.append(name)
        if not pending:
            return
        await asyncio.sleep(0.1)
    log.warning("swarm %s/%s: workers still enabled after %.0fs; deleting its queues anyway", namespace, swarm, timeout)


def _stage(spec: Mapping[str, Any], meta: kopf.Meta, namespace: str, name: str) -> tuple[dict[str, Any], str, str, str]:
    """A WorkerRole's spec as a dict, its swarm, swarm id and role name (the label, or its own name)."""
    spec_dict = dict(spec)
    swarm = str(spec_dict["swarmRef"])
    return spec_dict, swarm, naming.swarm_id(swarm, namespace), str(meta.get("labels", {}).get(plan.LABEL_ROLE) or name)


async def _swarm_lives(current: Runtime, meta: kopf.Meta, namespace: str, swarm: str) -> bool:
    """False when the Swarm that owns this WorkerRole is gone or being deleted.

    Deleting a Swarm pauses its WorkerRoles (an update this handler sees) and then deletes the queues; a
    handler that ran late would declare them again and leave them behind. Hand-written WorkerRoles,
    owned by no Swarm, always declare what they use.
    """
    owners = [o for o in meta.get("ownerReferences") or [] if o.get("kind") == "Swarm"]
    if not owners:
        return True
    return await current.kube.live_swarm_uid(namespace, swarm) == str(owners[0].get("uid"))


def _digest(value: Any) -> str:
    return hashlib.sha256(orjson.dumps(value, option=orjson.OPT_SORT_KEYS)).hexdigest()[:16]


@kopf.on.resume(GROUP, VERSION, "workerroles")
@kopf.on.create(GROUP, VERSION, "workerroles")
@kopf.on.update(GROUP, VERSION, "workerroles")
@counted("WorkerRole")
async def reconcile_role(
    spec: kopf.Spec, meta: kopf.Meta, status: kopf.Status, namespace: str | None, name: str, **_: Any
) -> None:
    assert namespace is not None, "WorkerRole is namespaced"
    current = runtime()
    spec_dict, swarm, swarm_id, role = _stage(spec, meta, namespace, name)
    current.observations.manage(swarm_id, role)
    if refused := policy.violations(spec_dict, current.policy):
        # Nothing of this spec is applied: the Deployment and the running config stay as they were, and the
        # roll-up shows the rules broken (Stalled, reason PolicyViolation) until the spec is fixed.
        log.warning("WorkerRole %s/%s refused by the operator policy: %s", namespace, name, "; ".join(refused))
        await _roll_up(current, spec, meta, status, namespace, name)
        return
    work = spec_dict.get("work") or {}
    if await _swarm_lives(current, meta, namespace, swarm):
        await current.broker.declare(
            topology.topology(swarm_id, topology.role_aliases(work.get("in"), work.get("out")))
        )

    owner = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "WorkerRole",
        "name": name,
        "uid": meta["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }
    # The signal key is part of the pod template: a new operator key rolls the pods so they trust it.
    rollout = _digest({**manifests.rollout_fingerprint(spec_dict), "signalKey": current.defaults.signal_key})
    patch: dict[str, Any] = {}
    config = dict(spec_dict.get("config") or {})
    if status.get("rolloutDigest") != rollout:
        deployment = manifests.deployment(
            name=name,
            namespace=namespace,
            swarm=swarm,
            swarm_id=swarm_id,
            role=role,
            spec=spec_dict,
            bootstrap_config=config,
            owner=owner,
            defaults=current.defaults,
        )
        await current.kube.apply(deployment)
        patch["rolloutDigest"] = rollout
    else:
        await current.kube.scale_deployment(namespace, name, int(spec_dict.get("replicas", 1)))
    enabled = not bool(spec_dict.get("paused", False))
    digest = plan.config_digest(config, enabled)
    generation = int(status.get("configGeneration", 0))
    if status.get("configDigest") != digest:
        generation += 1
        data = {**config, "replace": True, "enabled": enabled, "configGeneration": generation}
        await push_config(current, swarm_id, role, naming.ALL, data, reason="change")
        patch.update(configGeneration=generation, configDigest=digest)
    patch["selector"] = manifests.selector_string(swarm, role)
    patch["observedGeneration"] = meta.get("generation", 0)
    await current.kube.patch_workerrole_status(namespace, name, patch)
    if "configGeneration" in patch and await _acknowledged(current, swarm_id, role, generation, timeout=ACK_WAIT):
        # Show the applied config now rather than at the next status tick (kubectl wait, GitOps health).
        await _roll_up(current, spec, meta, {**status, **patch}, namespace, name)


ACK_WAIT = 3.0
"""How long a reconcile waits for every known instance to acknowledge a push before leaving it to the timer."""


async def _acknowledged(current: Runtime, swarm_id: str, role: str, generation: int, timeout: float) -> bool:
    """Wait (bounded) until every instance the operator knows of has applied or refused ``generation``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        instances = current.observations.instances(swarm_id, role)
        if instances and all(
            r.config_generation >= generation or r.rejected_generation == generation for r in instances
        ):
            return True
        await asyncio.sleep(0.02)
    return False


class Deleted:
    """The uids of WorkerRoles the API server reported deleted, most recent last, bounded.

    kopf stops an object's timers when it sees a deletion timestamp, but a WorkerRole has no finalizer (see
    :func:`_without_finalizer`), so it vanishes without one and its timer would go on forever, failing on a
    404 every minute. kopf does stop a timer whose ``when`` filter stops matching, and it re-evaluates the
    filters on every event, including the final DELETED one, right after the event handlers ran: the event
    handler below records the uid, the filter reads it, and the timer stops.
    """

    KEPT = 4096
    """Enough for any burst of deletions between two events; an old uid is never seen again."""

    def __init__(self) -> None:
        self._uids: dict[str, None] = {}

    def add(self, uid: str) -> None:
        self._uids[uid] = None
        while len(self._uids) > self.KEPT:
            del self._uids[next(iter(self._uids))]

    def __contains__(self, uid: object) -> bool:
        return uid in self._uids


DELETED_ROLES = Deleted()


@kopf.on.event(GROUP, VERSION, "workerroles")
def note_deleted_role(
    type: str, spec: kopf.Spec, meta: kopf.Meta, namespace: str | None, name: str | None, **_: Any
) -> None:
    if type == "DELETED" and meta.get("uid") and namespace and name:
        DELETED_ROLES.add(str(meta["uid"]))
        if RUNTIME and spec.get("swarmRef"):
            swarm_id, role_name = _stage(spec, meta, namespace, name)[2:]
            runtime().observations.unmanage(swarm_id, role_name)
        log.info("WorkerRole %s/%s deleted: its status timer stops", namespace, name)


def _not_deleted(meta: kopf.Meta, **_: Any) -> bool:
    return meta.get("uid") not in DELETED_ROLES


@kopf.timer(GROUP, VERSION, "workerroles", interval=2.0, idle=0, when=_not_deleted)
async def roll_up(
    spec: kopf.Spec, meta: kopf.Meta, status: kopf.Status, namespace: str | None, name: str, **_: Any
) -> None:
    assert namespace is not None, "WorkerRole is namespaced"
    metrics.ROLL_UPS.labels("WorkerRole").inc()
    await _roll_up(runtime(), spec, meta, status, namespace, name)


def _without_finalizer(fn: Callable[..., Any]) -> None:
    """Register ``fn``'s timer without the finalizer kopf adds to every object that has a timer.

    The WorkerRole timer only reads and reports; a finalizer would leave WorkerRoles stuck in deletion
    whenever the operator is gone (uninstalled before the swarms, say), because nothing would remove it.
    kopf has no option for this, so the registered handler is swapped for the same one without it.
    """
    handlers = kopf.get_default_registry()._spawning._handlers
    found = [i for i, h in enumerate(handlers) if getattr(h, "fn", None) is fn]
    if len(found) != 1:  # kopf changed inside: fail at import rather than silently keep the finalizer
        raise RuntimeError(f"cannot find kopf's timer handler for {fn.__name__}")
    handlers[found[0]] = dataclasses.replace(handlers[found[0]], requires_finalizer=False)


_without_finalizer(roll_up)


async def _roll_up(
    current: Runtime, spec: Mapping[str, Any], meta: kopf.Meta, status: Mapping[str, Any], namespace: str, name: str
) -> None:
    """Fold the workers' last reports into the WorkerRole's status; re-send config to instances behind."""
    spec_dict, swarm, swarm_id, role = _stage(spec, meta, namespace, name)
    current.observations.manage(swarm_id, role)
    generation = int(status.get("configGeneration", 0))
    pods = await current.kube.pods(namespace, swarm, role)
    alive = {p.metadata.name for p in pods if p.metadata and p.metadata.deletionTimestamp is None}
    reported = {r.name for r in current.observations.instances(swarm_id, role)}
    if time.monotonic() - current.started < STARTUP_GRACE and not alive <= reported:
        return  # a restarted operator has not heard from every worker yet: keep the last status, don't flap
    current.observations.forget(swarm_id, role, keep={n for n in alive if n})
    config = dict(spec_dict.get("config") or {})
    enabled = not bool(spec_dict.get("paused", False))
    refused = "; ".join(policy.violations(spec_dict, current.policy))
    # The timer may run on a body older than the reconcile's last status patch, or before the reconcile has
    # pushed this spec's config at all: then the status's generation is not this config's. Such a roll-up must
    # neither call the workers "applied" (a Swarm Ready before its config reached them) nor re-send this config
    # under the old generation number; it waits for the reconcile's push (one generation up).
    unpushed = status.get("configDigest") != plan.config_digest(config, enabled)
    if unpushed:
        generation += 1
    resend = not refused and not unpushed
    for instance in current.observations.behind(swarm_id, role, generation) if resend else []:
        data = {**config, "replace": True, "enabled": enabled, "configGeneration": generation}
        await push_config(current, swarm_id, role, instance, data, reason="resend")
    queue_reason, queue_problem = await _queue_health(current, spec_dict, meta, status, namespace, name)
    observed = rules.Observed(
        generation=int(meta.get("generation", 0)),
        desired_replicas=int(spec_dict.get("replicas", 1)),
        desired_config_generation=generation,
        paused=not enabled,
        now=time.monotonic(),
        instances=current.observations.instances(swarm_id, role),
        pod_problem=rules.pod_problem([_pod_state(p) for p in pods]),
        policy_problem=refused,
        queues_ready=not queue_problem,
        queue_reason=queue_reason or "BrokerUnavailable",
        queue_problem=queue_problem,
    )
    previous = [Condition.model_validate(c) for c in status.get("conditions", [])]
    now_text = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    live = rules.live_instances(observed)
    patch = {
        "replicas": len(alive),
        "readyReplicas": len(live),
        "appliedGeneration": rules.applied_generation(observed),
        "tps": round(sum(r.tps for r in live), 2),
        "errors": sum(r.errors for r in live),
        "latencyMs": rules.role_latency(observed).model_dump(mode="json"),
        "instances": [i.model_dump(mode="json") for i in rules.instance_statuses(observed)],
        "conditions": [c.model_dump(mode="json") for c in rules.conditions(observed, previous, now_text)],
    }
    if changed(status, patch):
        await current.kube.patch_workerrole_status(namespace, name, patch)


async def _queue_health(
    current: Runtime, spec: Mapping[str, Any], meta: kopf.Meta, status: Mapping[str, Any], namespace: str, name: str
) -> tuple[str, str]:
    """('', '') when every queue the role reads or writes exists; else the QueuesReady reason and message.

    A queue deleted behind the operator's back (by hand, or a broker that lost it) is reported and declared
    again in the same tick, so ``QueuesReady`` shows False once and comes back at the next roll-up. Before
    the role's first reconcile (no ``configGeneration`` yet) the queues are not expected: nothing is reported.
    """
    _, swarm, swarm_id, _ = _stage(spec, meta, namespace, name)
    work = spec.get("work") or {}
    aliases = topology.role_aliases(work.get("in"), work.get("out"))
    if not aliases or "configGeneration" not in status:
        return "", ""
    wanted = [naming.work_queue(swarm_id, alias) for alias in sorted(aliases)]
    try:
        present = {queue for queue, _, _ in await current.broker.queue_stats(wanted)}
    except Exception as exc:  # any broker failure is a status to show, not a timer traceback every tick
        return "BrokerUnavailable", f"cannot reach the broker to check the queues: {exc}"
    missing = [queue for queue in wanted if queue not in present]
    if not missing or not await _swarm_lives(current, meta, namespace, swarm):
        return "", ""
    log.warning("WorkerRole %s/%s: queue %s missing on the broker; declaring it again", namespace, name, missing[0])
    problem = f"queue {', '.join(missing)} was missing on the broker (deleted?); the operator declared it again"
    try:
        await current.broker.declare(topology.topology(swarm_id, aliases))
    except Exception as exc:
        return "BrokerUnavailable", f"queue {', '.join(missing)} is missing and cannot be declared: {exc}"
    return "QueueMissing", problem


def _pod_state(pod: Any) -> rules.PodState:
    name = pod.metadata.name if pod.metadata else "?"
    waiting_reason = waiting_message = unschedulable = terminated_reason = memory_limit = ""
    for container in (pod.spec.containers if pod.spec else None) or []:
        limits = container.resources.limits if container.resources else None
        if limits and limits.get("memory"):
            memory_limit = str(limits["memory"])
    status = pod.status
    if status is not None:
        for container in status.containerStatuses or []:
            waiting = container.state.waiting if container.state else None
            if waiting is not None and waiting.reason:
                waiting_reason, waiting_message = waiting.reason, waiting.message or ""
            # The current run's end if it has ended, else, while the kubelet backs off restarting it, the last
            # run's. A container running again after one kill is not a problem to report here.
            ended = container.state.terminated if container.state else None
            if ended is None and waiting is not None and container.lastState is not None:
                ended = container.lastState.terminated
            if ended is not None and ended.reason:
                terminated_reason = ended.reason
        for condition in status.conditions or []:
            if condition.type == "PodScheduled" and condition.status == "False" and condition.reason == "Unschedulable":
                unschedulable = condition.message or "no node fits"
    return rules.PodState(
        name=name,
        waiting_reason=waiting_reason,
        waiting_message=waiting_message,
        unschedulable=unschedulable,
        terminated_reason=terminated_reason,
        memory_limit=memory_limit,
    )


@kopf.timer(GROUP, VERSION, "swarms", interval=2.0, idle=0)
async def swarm_roll_up(
    spec: kopf.Spec, meta: kopf.Meta, status: kopf.Status, namespace: str | None, name: str, **_: Any
) -> None:
    assert namespace is not None, "Swarm is namespaced"
    if meta.get("deletionTimestamp"):
        return  # being deleted: its queues are going away on purpose; do not declare them again
    metrics.ROLL_UPS.labels("Swarm").inc()
    current = runtime()
    swarm = Swarm.model_validate(
        {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "Swarm",
            "metadata": {"name": name, "namespace": namespace},
            "spec": dict(spec),
        }
    )
    children = {
        str(obj["metadata"]["labels"].get(plan.LABEL_ROLE)): obj
        for obj in await current.kube.workerrole_objects(namespace, name)
    }
    states: list[rules.ChildState] = []
    roles: list[dict[str, Any]] = []
    for role in swarm.spec.roles:
        child = children.get(role.name) or {}
        child_status = child.get("status") or {}
        conditions = [Condition.model_validate(c) for c in child_status.get("conditions", [])]
        states.append(
            rules.ChildState(
                role=role.name,
                desired=role.replicas,
                ready=int(child_status.get("readyReplicas", 0)),
                conditions=conditions,
            )
        )
        roles.append(
            {
                "name": role.name,
                "replicas": role.replicas,
                "readyReplicas": int(child_status.get("readyReplicas", 0)),
                "configGeneration": int(child_status.get("configGeneration", 0)),
                "appliedGeneration": int(child_status.get("appliedGeneration", 0)),
                "tps": float(child_status.get("tps", 0.0)),
                "errors": int(child_status.get("errors", 0)),
                "latencyMs": child_status.get("latencyMs") or {"p50": 0.0, "p95": 0.0, "p99": 0.0},
            }
        )
    swarm_id = naming.swarm_id(name, namespace)
    aliases = sorted({a for r in swarm.spec.roles for a in (r.work.in_, r.work.out) if a})
    # Depths and consumers only: a missing queue is each WorkerRole's to report (QueuesReady) and declare again.
    try:
        queues = await current.broker.queue_stats([naming.work_queue(swarm_id, alias) for alias in aliases])
    except Exception as exc:
        log.info("swarm %s/%s: queue depths unavailable this tick (%s)", namespace, name, exc)
        queues = [(q["name"], int(q["depth"]), int(q["consumers"])) for q in status.get("queues", [])]
    last_stages = {r.name for r in swarm.spec.roles if not r.work.out}
    previous = [Condition.model_validate(c) for c in status.get("conditions", [])]
    now_text = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    patch = {
        "observedGeneration": meta.get("generation", 0),
        "roles": roles,
        "queues": [{"name": q, "depth": depth, "consumers": consumers} for q, depth, consumers in queues],
        "totals": {
            "tps": round(sum(r["tps"] for r in roles if r["name"] in last_stages), 2),
            "errors": sum(r["errors"] for r in roles),
            "workers": f"{sum(s.ready for s in states)}/{sum(s.desired for s in states)}",
        },
        "conditions": [
            c.model_dump(mode="json")
            for c in rules.swarm_conditions(
                states,
                paused=swarm.spec.paused,
                generation=int(meta.get("generation", 0)),
                previous=previous,
                now_text=now_text,
            )
        ],
    }
    if changed(status, patch):
        await current.kube.patch_swarm_status(namespace, name, patch)
