"""kopf handlers: with ``admission`` (the webhook), the only modules that import kopf. A thin adapter: unpack
kopf's arguments into the typed bodies, call the operator core, map its errors to kopf's.

Swarm → one WorkerRole per role (:mod:`~hivekeeper.operator.swarm_reconcile`). WorkerRole → the swarm's
queue topology, a Deployment of workers, and its config pushed to the running workers
(:mod:`~hivekeeper.operator.role_reconcile`). Timers roll the workers' reports up into the statuses
(:mod:`~hivekeeper.operator.role_rollup`, :mod:`~hivekeeper.operator.swarm_rollup`).
"""

from __future__ import annotations

import dataclasses
import functools
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import kopf

from hivekeeper.errors import InvalidInput
from hivekeeper.operator import metrics, role_reconcile, role_rollup, swarm_reconcile, swarm_rollup, wiring
from hivekeeper.operator.bodies import SwarmBody, WorkerRoleBody, parse
from hivekeeper.operator.errors import InvalidResource, OperatorError, RetryLater
from hivekeeper.operator.runtime import Runtime
from hivekeeper.operator.settings import from_environment
from hivekeeper.protocol import naming

GROUP, VERSION = "hivekeeper.io", "v1alpha1"
log = logging.getLogger("hivekeeper.operator")

RUNTIME: dict[str, Runtime] = {}


def runtime() -> Runtime:
    return RUNTIME["current"]


def to_kopf(error: OperatorError) -> Exception:
    """The kopf exception that tells kopf what to do about one of the core's errors: retrying cannot mend
    invalid input (a resource or a setting), only an edit can; anything else is retried."""
    if isinstance(error, RetryLater):
        return kopf.TemporaryError(str(error), delay=error.delay)
    if isinstance(error, InvalidInput):
        return kopf.PermanentError(str(error))
    return kopf.TemporaryError(str(error))


Handler = Callable[..., Awaitable[None]]
"""A kopf handler: kopf calls it with keyword arguments only."""

# The handler functions' names below are kopf's handler ids, kept in the objects' progress annotations: renaming one
# would leave its progress behind on every object. They are the names they always had.


def mapped(run: Handler) -> Handler:
    """Raise the core's errors as kopf's."""

    @functools.wraps(run)
    async def adapted(**kwargs: Any) -> None:
        try:
            await run(**kwargs)
        except OperatorError as error:
            raise to_kopf(error) from error

    return adapted


def counted(kind: str) -> Callable[[Handler], Handler]:
    """Map the core's errors to kopf's, and count the runs in ``hivekeeper_operator_reconciles`` by result
    (ok, retry, error)."""

    def decorate(run: Handler) -> Handler:
        adapted = mapped(run)

        @functools.wraps(run)
        async def counting(**kwargs: Any) -> None:
            try:
                await adapted(**kwargs)
            except kopf.TemporaryError:
                metrics.RECONCILES.labels(kind, "retry").inc()
                raise
            except Exception:
                metrics.RECONCILES.labels(kind, "error").inc()
                raise
            metrics.RECONCILES.labels(kind, "ok").inc()

        return counting

    return decorate


def _swarm(meta: kopf.Meta, spec: kopf.Spec, status: Mapping[str, Any] | None = None) -> SwarmBody:
    body = {"metadata": dict(meta), "spec": dict(spec), "status": dict(status or {})}
    return parse(SwarmBody, body, f"Swarm {meta.get('namespace')}/{meta.get('name')}")


def _workerrole(meta: kopf.Meta, spec: kopf.Spec, status: Mapping[str, Any] | None = None) -> WorkerRoleBody:
    body = {"metadata": dict(meta), "spec": dict(spec), "status": dict(status or {})}
    return parse(WorkerRoleBody, body, f"WorkerRole {meta.get('namespace')}/{meta.get('name')}")


@kopf.on.startup()
async def startup(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=GROUP)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(prefix=GROUP)
    settings.persistence.finalizer = swarm_reconcile.FINALIZER
    settings.posting.level = logging.WARNING  # events only for problems, not for every reconcile
    settings.watching.server_timeout = 60
    metrics.serve(int(memo.get("metrics_port", 0)))
    try:
        RUNTIME["current"] = await wiring.start(from_environment())
    except OperatorError as error:
        raise to_kopf(error) from error


@kopf.on.cleanup()
async def cleanup(**_: Any) -> None:
    current = RUNTIME.pop("current", None)
    if current is not None:
        await wiring.stop(current)


@kopf.on.login()
def login(settings: kopf.OperatorSettings, **_: Any) -> kopf.ConnectionInfo | None:
    if from_environment().in_cluster:
        return kopf.login_with_service_account(settings=settings)
    return kopf.login_with_kubeconfig(settings=settings)


@kopf.on.resume(GROUP, VERSION, "swarms")
@kopf.on.create(GROUP, VERSION, "swarms")
@kopf.on.update(GROUP, VERSION, "swarms")
@counted("Swarm")
async def reconcile_swarm(spec: kopf.Spec, meta: kopf.Meta, status: kopf.Status, **_: Any) -> None:
    await swarm_reconcile.reconcile_swarm(runtime(), _swarm(meta, spec, status))


@kopf.on.delete(GROUP, VERSION, "swarms")
@counted("SwarmDeletion")
async def delete_swarm(spec: kopf.Spec, meta: kopf.Meta, retry: int, **_: Any) -> None:
    """Queues follow ``deletionPolicy`` (Delete by default); children go by owner reference."""
    await swarm_reconcile.delete_swarm(runtime(), _swarm(meta, spec), attempt=retry)


@kopf.on.resume(GROUP, VERSION, "workerroles")
@kopf.on.create(GROUP, VERSION, "workerroles")
@kopf.on.update(GROUP, VERSION, "workerroles")
@counted("WorkerRole")
async def reconcile_role(
    spec: kopf.Spec, meta: kopf.Meta, status: kopf.Status, old: Mapping[str, Any] | None = None, **_: Any
) -> None:
    await role_reconcile.reconcile_role(runtime(), _workerrole(meta, spec, status), _previous(old))


def _previous(old: Mapping[str, Any] | None) -> role_reconcile.Previous:
    """The spec kopf last handled (its ``old``: None on a creation), as far as the Events' transitions need it."""
    spec = (old or {}).get("spec")
    if not isinstance(spec, Mapping):
        return role_reconcile.Previous()
    replicas, paused = spec.get("replicas", 1), spec.get("paused", False)
    return role_reconcile.Previous(
        replicas=replicas if isinstance(replicas, int) and not isinstance(replicas, bool) else None,
        paused=paused if isinstance(paused, bool) else None,
    )


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
            try:
                role = _workerrole(meta, spec)
            except InvalidResource:
                role = None
            if role is not None:
                runtime().observations.unmanage(naming.swarm_id(role.spec.swarmRef, role.namespace), role.role)
        log.info("WorkerRole %s/%s deleted: its status timer stops", namespace, name)


def _not_deleted(meta: kopf.Meta, **_: Any) -> bool:
    return meta.get("uid") not in DELETED_ROLES


@kopf.timer(GROUP, VERSION, "workerroles", interval=2.0, idle=0, when=_not_deleted)
@mapped
async def roll_up(spec: kopf.Spec, meta: kopf.Meta, status: kopf.Status, **_: Any) -> None:
    metrics.ROLL_UPS.labels("WorkerRole").inc()
    await role_rollup.roll_up_role(runtime(), _workerrole(meta, spec, status))


def _without_finalizer(fn: Callable[..., Any]) -> None:
    """Register ``fn``'s timer without the finalizer kopf adds to every object that has a timer.

    The WorkerRole timer only reads and reports; a finalizer would leave WorkerRoles stuck in deletion
    whenever the operator is gone (uninstalled before the swarms, say), because nothing would remove it.

    kopf has no public option for this: its maintainer declined one on purpose (nolar/kopf pull request 896,
    closed in 2026: a timer without a finalizer cannot be guaranteed to stop; here :class:`Deleted` stops it).
    So the registered handler is swapped for the same one without it, through kopf's private registry. This
    is the one place that touches kopf's internals; it fails at import, loudly, if they change.
    """
    handlers = kopf.get_default_registry()._spawning._handlers
    found = [i for i, h in enumerate(handlers) if getattr(h, "fn", None) is fn]
    if len(found) != 1:  # kopf changed inside: fail at import rather than silently keep the finalizer
        raise RuntimeError(f"cannot find kopf's timer handler for {fn.__name__}")
    handlers[found[0]] = dataclasses.replace(handlers[found[0]], requires_finalizer=False)


_without_finalizer(roll_up)


@kopf.timer(GROUP, VERSION, "swarms", interval=2.0, idle=0)
@mapped
async def swarm_roll_up(spec: kopf.Spec, meta: kopf.Meta, status: kopf.Status, **_: Any) -> None:
    await swarm_rollup.roll_up_swarm(runtime(), _swarm(meta, spec, status))
