"""Typed views of every body the operator reads: Swarms, WorkerRoles (from kopf or a list), Pods.

The specs are the API models themselves (:mod:`hivekeeper.api`): the CRDs are generated from them, so
an object the API server stored parses. Metadata and statuses are read leniently (``extra="ignore"``):
metadata carries whatever the API server adds, and a status written by an older operator may hold a
field this one no longer writes. A body that does not parse is an :class:`InvalidResource` naming the
object and the field.
"""

from __future__ import annotations

from typing import Annotated, Any, TypeVar

import pydantic
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from hivekeeper.api.swarm import _ALIAS_PATTERN, ObjectMeta, Swarm, SwarmStatus
from hivekeeper.api.workerrole import WorkerRole, WorkerRoleStatus
from hivekeeper.operator.errors import InvalidResource
from hivekeeper.operator.plan import LABEL_ROLE


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class _SecretKeyRef(_Lenient):
    name: str | None = None


class _EnvVarSource(_Lenient):
    secretKeyRef: _SecretKeyRef | None = None


class EnvVar(_Lenient):
    """The parts of a Kubernetes EnvVar the operator reads (a role's ``env`` is a list of them): the policy checks
    names and Secret reads, the pod's grace period follows HIVEKEEPER_STOP_GRACE_SECONDS."""

    name: Annotated[str, BeforeValidator(str)] = ""
    value: object = None
    """A string in any EnvVar the API server took; read as the value only when it is one."""
    valueFrom: _EnvVarSource | None = None

    @property
    def secret(self) -> str | None:
        """The Secret it reads with ``secretKeyRef``, if any."""
        ref = self.valueFrom.secretKeyRef if self.valueFrom is not None else None
        return ref.name if ref is not None else None


class OwnerReference(_Lenient):
    kind: str = ""
    uid: str = ""


class Meta(ObjectMeta):
    """The metadata fields the operator reads. Any object name the API server takes (a WorkerRole's
    ``<swarm>-<role>`` may be longer than a Swarm's name may be)."""

    name: str
    uid: str = ""
    generation: int = 0
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    ownerReferences: list[OwnerReference] = Field(default_factory=list)
    deletionTimestamp: str | None = None


class SwarmMeta(Meta):
    """A Swarm's name is also part of queue names and routing keys: the API model's pattern holds."""

    name: str = Field(pattern=_ALIAS_PATTERN)


class SwarmStatusView(SwarmStatus):
    model_config = ConfigDict(extra="ignore")


class WorkerRoleStatusView(WorkerRoleStatus):
    model_config = ConfigDict(extra="ignore")


class SwarmBody(Swarm):
    """A Swarm as the API server holds it."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    metadata: SwarmMeta
    status: SwarmStatusView = Field(default_factory=SwarmStatusView)

    @property
    def namespace(self) -> str:
        return self.metadata.namespace or "default"


class WorkerRoleBody(WorkerRole):
    """A WorkerRole as the API server holds it."""

    model_config = ConfigDict(extra="ignore")

    metadata: Meta
    status: WorkerRoleStatusView = Field(default_factory=WorkerRoleStatusView)

    @property
    def namespace(self) -> str:
        return self.metadata.namespace or "default"

    @property
    def role(self) -> str:
        """The role's name in its swarm: the label the Swarm sets, or (hand-written) the object's own name."""
        return self.metadata.labels.get(LABEL_ROLE) or self.metadata.name

    def swarm_owner_uid(self) -> str | None:
        """The uid of the Swarm that owns this WorkerRole; None for a hand-written one."""
        owners = [o for o in self.metadata.ownerReferences if o.kind == "Swarm"]
        return owners[0].uid if owners else None


_Body = TypeVar("_Body", bound=BaseModel)


def parse(model: type[_Body], body: dict[str, Any], what: str) -> _Body:
    """``body`` as ``model``, or :class:`InvalidResource` naming ``what`` and every field that is wrong."""
    try:
        return model.model_validate(body)
    except pydantic.ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in error['loc'])}: {error['msg']} (got {error['input']!r:.80})"
            for error in exc.errors(include_url=False)
        )
        raise InvalidResource(f"{what} cannot be read: {problems}; fix the object, or delete it") from exc
