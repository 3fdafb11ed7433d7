"""The ``Swarm`` resource: a whole load-testing pipeline in one manifest.

The same model is read by the operator (from the Kubernetes API) and by ``hivekeeper run`` (from a
file), and the CRD in ``crds/`` is generated from it (``make crds``): class docstrings and field
descriptions become what ``kubectl explain`` shows, and the invariants checked here in Python are also
CEL rules (``x-kubernetes-validations``) that the API server enforces.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from hivekeeper.api.auth import AUTH_NAME_PATTERN, MAX_PROFILES, AuthProfile
from hivekeeper.api.call_template import MAX_NAME, CallTemplate
from hivekeeper.api.cel import cel_rules
from hivekeeper.api.pod_template import PodTemplate
from hivekeeper.api.run import RunSpec, run_problems
from hivekeeper.api.run_status import HISTORY_LENGTH, RunRecord, RunStatus
from hivekeeper.api.status import Condition, QueueStatus, RoleStatus, Totals

BUILTIN_ROLES = ("generator", "request-builder", "processor", "postprocessor", "http-sequence", "moderator")
WorkerProtocol = Literal["hivekeeper", "pockethive"]
"""What a worker image speaks; decides the environment the operator gives its pods and how signals reach it."""
BuiltinRole = Literal["generator", "request-builder", "processor", "postprocessor", "http-sequence", "moderator"]
_ALIAS_PATTERN = r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$"
MAX_ROLES = 32
MAX_TEMPLATES = 128
DEAD_LETTER_MAX_LENGTH = 1_000_000
DEAD_LETTER_MAX_TTL = 604_800
RESERVED_ALIASES = ("dead-letters",)
"""Work aliases that would collide with the swarm's own queues (``hivekeeper.<swarm>.dead-letters``)."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class Endpoint(_Model):
    """One endpoint of the system under test."""

    baseUrl: str = Field(max_length=2048, description="Base URL, e.g. `http://cards-api.perf.svc:8080`.")
    auth: str | None = Field(
        default=None,
        pattern=AUTH_NAME_PATTERN,
        description="Name of a spec.auth profile every request to this endpoint uses (unless its template or "
        "step names another).",
    )


class Sut(_Model):
    """The system under test, referenced from configs and templates as `sut.endpoints.<id>.baseUrl`."""

    endpoints: dict[str, Endpoint] = Field(default_factory=dict, description="Endpoints by id (`default`, ...).")


class Work(_Model):
    """Which work queues a role consumes from and publishes to, by alias (queue `hivekeeper.<swarm>.<alias>`)."""

    in_: str | None = Field(
        default=None,
        alias="in",
        pattern=_ALIAS_PATTERN,
        max_length=MAX_NAME,
        description=("Alias of the queue this role consumes."),
    )
    out: str | None = Field(
        default=None,
        pattern=_ALIAS_PATTERN,
        max_length=MAX_NAME,
        description="Alias of the queue this role publishes to.",
    )

    @field_validator("in_", "out")
    @classmethod
    def _not_reserved(cls, alias: str | None) -> str | None:
        if alias in RESERVED_ALIASES:
            raise ValueError(
                f"work alias {alias!r} is reserved (hivekeeper.<swarm>.{alias} is the swarm's dead-letter queue); "
                "choose another alias"
            )
        return alias


class StageSpec(_Model):
    """What a stage runs and how it is wired: shared by Swarm.spec.roles[] and WorkerRole.spec."""

    model_config = ConfigDict(
        extra="forbid",
        populate_by_name=True,
        json_schema_extra=cel_rules(
            (
                "has(self.role) != has(self.image)",
                "set exactly one of role (a built-in role) or image (a custom worker image)",
            ),
            (
                "!has(self.protocol) || self.protocol == 'hivekeeper' || has(self.image)",
                "protocol: pockethive needs image (a PocketHive worker image); built-in roles speak hivekeeper",
            ),
        ),
    )

    role: BuiltinRole | None = Field(default=None, description="Built-in role the workers run.")
    image: str | None = Field(
        default=None,
        max_length=512,
        description="Custom worker image; it speaks the hivekeeper protocol unless `protocol` says otherwise.",
    )
    protocol: WorkerProtocol = Field(
        default="hivekeeper",
        description="What the image speaks: `hivekeeper` (the HIVEKEEPER_* environment, docs/worker.md) or "
        "`pockethive` (a PocketHive worker image: the operator gives it the SPRING_RABBITMQ_* and POCKETHIVE_* "
        "environment it reads and addresses its signals so its bindings receive them; docs/custom-images.md). "
        "Only with `image`; an edit rolls this stage.",
    )
    replicas: int = Field(
        default=1, ge=0, description="Worker instances (pods); a WorkerRole's is also driven through /scale."
    )
    work: Work = Field(default_factory=Work, description="Queue wiring by alias; an edit re-wires and rolls the stage.")
    config: dict[str, Any] = Field(
        default_factory=dict,
        description="Role configuration; its keys depend on the role. Built-in roles: `generator`, "
        "`request-builder`, `processor`, `postprocessor`, `http-sequence`, `moderator`; docs/roles.md lists "
        "every key of each (one section per role: type, bounds, default, live or fixed), generated from the "
        "models that check it, and `hivekeeper validate PATH` checks a manifest's configs offline with the "
        "same located messages. Keys every role shares: inputs, outputs, interceptors, vars, sut, templates, "
        "templating, deadLetter. Live: an edit reaches the running workers as a config-update without "
        "restarting them (inputs.type and outputs.type are fixed); a rejected edit keeps the old config and "
        "shows the reason in the ConfigApplied condition. A custom image's config is passed through unchecked.",
    )
    resources: dict[str, Any] | None = Field(
        default=None, description="Pod resources (requests/limits) of the workers; an edit rolls this stage only."
    )
    env: list[dict[str, Any]] | None = Field(
        default=None, description="Extra environment variables (EnvVar) of the workers; an edit rolls this stage only."
    )
    pod: PodTemplate | None = Field(
        default=None,
        description="Where and how this stage's pods run: nodeSelector, tolerations, affinity, topology spread, "
        "priority class, annotations, labels, ServiceAccount, pull secrets, security tightening (docs/pods.md). "
        "On a Swarm role it is laid over spec.pod (a field set here wins; nodeSelector, annotations and labels "
        "merge key by key); an edit rolls this stage only.",
    )

    @model_validator(mode="after")
    def _role_or_image(self) -> StageSpec:
        if (self.role is None) == (self.image is None):
            raise ValueError(
                f"{self._label()}: set exactly one of `role` (a built-in role: "
                f"{', '.join(BUILTIN_ROLES)}) or `image` (a custom worker image)"
            )
        if self.protocol == "pockethive" and self.image is None:
            raise ValueError(
                f"{self._label()}: protocol: pockethive is for a PocketHive worker image: set `image` to it, or "
                "drop `protocol` to run the built-in role"
            )
        return self

    def _label(self) -> str:
        return "stage"


class RoleSpec(StageSpec):
    """One stage of the pipeline; becomes a WorkerRole and a Deployment of worker pods."""

    name: str = Field(pattern=_ALIAS_PATTERN, max_length=MAX_NAME, description="Stage name, unique in the swarm.")
    autoscaled: bool = Field(
        default=False,
        description="An autoscaler (KEDA, HPA) drives this role's WorkerRole through /scale: replicas is only the "
        "initial count, and Swarm edits keep the count the autoscaler set.",
    )

    def _label(self) -> str:
        return f"role {self.name!r}"


class SecretRef(_Model):
    """A Secret in the swarm's namespace holding broker and Redis credentials."""

    name: str = Field(max_length=253, description="Secret name.")
    amqpUrlKey: str = Field(default="amqpUrl", description="Key holding the RabbitMQ URL.")
    redisUrlKey: str = Field(default="redisUrl", description="Key holding the Redis URL (optional in the Secret).")


UndefinedRule = Literal["strict", "empty"]
TagNewlineRule = Literal["keep", "trim"]
UNDEFINED_HELP = (
    "A name a template reads that is not defined: `strict` fails the render (the item is dropped; `hivekeeper "
    'validate` names it first), `empty` renders it as "" (PocketHive\'s rule; written by `hivekeeper import`).'
)
TAG_NEWLINE_HELP = (
    "The newline right after a tag (`}}`, `%}`, `#}`): `keep` outputs it (Jinja's rule), `trim` does not "
    "(PocketHive's rule, so XML bodies written one tag a line start without blank lines; written by import)."
)


class TemplatingSpec(_Model):
    """How every template of the swarm treats undefined names and the newline after a tag (a role's
    `config.templating` overrides it key by key)."""

    undefined: UndefinedRule = Field(default="strict", description=UNDEFINED_HELP)
    tagNewline: TagNewlineRule = Field(default="keep", description=TAG_NEWLINE_HELP)


class DeadLetterSpec(_Model):
    """Opt-in dead-letter queue `hivekeeper.<swarmId>.dead-letters`: items a role fails to process (invalid
    item, missing template, template or runtime error) are kept there with the reason in headers; read them
    with `hivekeeper tap SWARM --dead-letters`."""

    enabled: bool = Field(
        default=False, description="Publish failed items to the dead-letter queue (false: they are dropped)."
    )
    maxLength: int = Field(
        default=10000,
        ge=1,
        le=DEAD_LETTER_MAX_LENGTH,
        description="Items kept at most; the oldest are dropped first. Fixed once the queue exists.",
    )
    ttlSeconds: int = Field(
        default=3600,
        ge=1,
        le=DEAD_LETTER_MAX_TTL,
        description="Seconds an item is kept before it expires. Fixed once the queue exists.",
    )


class SwarmSpec(_Model):
    """Desired state of a swarm."""

    model_config = ConfigDict(
        extra="forbid",
        populate_by_name=True,
        json_schema_extra=cel_rules(
            (
                "self.roles.all(r, self.roles.exists_one(s, s.name == r.name))",
                "spec.roles[].name must be unique in the swarm",
            ),
            (
                "self.roles.all(r, !has(r.work) || !has(r.work.__in__) || self.roles.exists(p, has(p.work) && "
                "has(p.work.out) && p.work.out == r.work.__in__))",
                "every spec.roles[].work.in must be the work.out of some role (an alias nobody produces would "
                "never receive work)",
            ),
            (
                "!has(self.templates) || self.templates.all(t, self.templates.exists_one(u, "
                "u.serviceId == t.serviceId && u.callId == t.callId))",
                "spec.templates[]: serviceId::callId must be unique",
            ),
        ),
    )

    paused: bool = Field(default=False, description="Pause disables work; pods, queues and data stay.")
    sut: Sut = Field(default_factory=Sut, description="The system under test.")
    vars: dict[str, Any] = Field(default_factory=dict, description="Scenario variables, `vars.*` in templates.")
    templates: list[CallTemplate] = Field(
        default_factory=list,
        max_length=MAX_TEMPLATES,
        description="Call templates (HTTP or TCP), by serviceId::callId.",
    )
    auth: dict[str, AuthProfile] = Field(
        default_factory=dict,
        max_length=MAX_PROFILES,
        description="Auth profiles by name, referenced by sut.endpoints.<id>.auth, templates[].auth and "
        "http-sequence steps[].auth (docs/auth.md). Credentials come from Secrets (secretKeyRef), never inline.",
    )
    templating: TemplatingSpec = Field(
        default_factory=TemplatingSpec,
        description="Template semantics: undefined names (strict or empty) and the newline after a tag (keep or trim).",
    )
    roles: list[RoleSpec] = Field(min_length=1, max_length=MAX_ROLES, description="The pipeline stages.")
    pod: PodTemplate | None = Field(
        default=None,
        description="Defaults for every role's pods (nodeSelector, tolerations, affinity, ...: docs/pods.md); a "
        "role's own `pod` overrides them field by field. An edit rolls the roles whose merged block changed.",
    )
    secretRef: SecretRef | None = Field(
        default=None,
        description=(
            "Credentials for this swarm's workers; default: the operator's Secret (Helm value workers.secret.name). "
            "The name must match the operator policy's secretRefs (default `hivekeeper-*`)."
        ),
    )
    deletionPolicy: Literal["Delete", "Retain"] = Field(
        default="Delete", description="Whether the swarm's queues are deleted with it."
    )
    deadLetter: DeadLetterSpec = Field(
        default_factory=DeadLetterSpec,
        description="Keep items the roles fail to process in a bounded queue (default: off, they are dropped).",
    )
    run: RunSpec | None = Field(
        default=None,
        description=(
            "A bounded run (duration, item budget, load stages, thresholds → a verdict); without it the swarm runs "
            "until paused or deleted. `hivekeeper run` plays it locally."
        ),
    )

    @field_validator("auth")
    @classmethod
    def _profile_names(cls, auth: dict[str, AuthProfile]) -> dict[str, AuthProfile]:
        for name in auth:
            if not re.match(AUTH_NAME_PATTERN, name):
                raise ValueError(
                    f"auth profile name {name!r} is not valid; use lower case letters, digits and '-' (at most 63, "
                    "starting and ending alphanumeric)"
                )
        return auth

    @field_validator("roles")
    @classmethod
    def _unique_names(cls, roles: list[RoleSpec]) -> list[RoleSpec]:
        seen: set[str] = set()
        for role in roles:
            if role.name in seen:
                raise ValueError(f"role name {role.name!r} is used twice; give every role a unique name")
            seen.add(role.name)
        return roles

    @model_validator(mode="after")
    def _wiring(self) -> SwarmSpec:
        produced = {r.work.out for r in self.roles if r.work.out}
        for role in self.roles:
            if role.work.in_ and role.work.in_ not in produced:
                raise ValueError(
                    f"role {role.name!r} consumes work.in {role.work.in_!r}, but no role has work.out "
                    f"{role.work.in_!r}; produced aliases: {sorted(produced) or 'none'}"
                )
        keys = [t.key for t in self.templates]
        duplicates = sorted({k for k in keys if keys.count(k) > 1})
        if duplicates:
            raise ValueError(f"template {duplicates[0]!r} is defined twice; serviceId::callId must be unique")
        if self.run is not None:
            problems = run_problems(self.run, [(r.name, r.role, r.config) for r in self.roles])
            if problems:
                raise ValueError("; ".join(problems))
        return self


class SwarmStatus(BaseModel):
    """Observed state of a swarm, written by the operator at a bounded rate."""

    model_config = ConfigDict(extra="forbid")

    observedGeneration: int = Field(default=0, description="The metadata.generation last reconciled.")
    conditions: list[Condition] = Field(
        default_factory=list,
        description=(
            "Ready (summary), Reconciling, Stalled, QueuesReady, WorkersAvailable, ConfigApplied, Paused, and "
            "Completed (with spec.run: True once the run ended, reason Passed or Failed)."
        ),
    )
    roles: list[RoleStatus] = Field(default_factory=list, description="Per-role figures.")
    queues: list[QueueStatus] = Field(default_factory=list, description="Work queues with depth and consumers.")
    totals: Totals = Field(default_factory=Totals, description="Swarm-wide figures.")
    run: RunStatus | None = Field(default=None, description="The run of spec.run: phase, times, verdict.")
    runs: list[RunRecord] = Field(
        default_factory=list,
        max_length=HISTORY_LENGTH,
        description="The last 10 finished runs, newest first: verdict, times and key figures.",
    )


class ObjectMeta(BaseModel):
    model_config = ConfigDict(extra="allow")

    name: str = Field(pattern=_ALIAS_PATTERN)
    namespace: str | None = None


class Swarm(_Model):
    """A load-testing swarm: a pipeline of worker roles wired through RabbitMQ queues, aimed at a system
    under test. Each role becomes a WorkerRole and a Deployment; edits to roles[].config, vars, sut,
    templates and paused reach the running workers live, without restarts."""

    apiVersion: Literal["hivekeeper.io/v1alpha1"] = "hivekeeper.io/v1alpha1"
    kind: Literal["Swarm"] = "Swarm"
    metadata: ObjectMeta
    spec: SwarmSpec
    status: SwarmStatus | None = None
