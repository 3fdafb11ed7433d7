"""The operator policy (pure): what a Swarm author may ask the operator to run with its own rights.

The operator creates Deployments with its service account, so anything a WorkerRole spec may say is,
in effect, a privilege the Swarm author borrows. The policy comes from the Helm values
(``policy:``, passed as ``HIVEKEEPER_POLICY`` JSON) and is safe by default:

- ``allowedImages``: patterns (``fnmatch``: ``registry.example/team/*``) a role's ``image`` must match.
  Empty (the default): only the built-in roles run, in the operator's worker image.
- ``envSecrets``: Secret names (patterns) a role's ``env[].valueFrom.secretKeyRef`` may read. Empty (the
  default): none, so a Swarm author cannot read a Secret of the namespace through a worker's environment.
- ``secretRefs``: Secret names (patterns) ``spec.secretRef`` may name (default ``hivekeeper-*``).
- ``authSecrets``: Secret names (patterns) an auth profile's ``secretKeyRef`` may name (default ``hivekeeper-*``):
  the workers send what they read to the profile's token URL or the SUT, both the Swarm author's choice.
- ``serviceAccounts``: ServiceAccount names (patterns) a role's ``pod.serviceAccountName`` may name. Empty (the
  default): none, so workers run as the namespace's ``default`` account (whose token is not even mounted): a
  ServiceAccount can carry cloud identities (workload identity) that a Swarm author should not borrow unasked.
- ``priorityClasses``: PriorityClass names (patterns) ``pod.priorityClassName`` may name. Empty (the default):
  none, since a high priority lets a load generator preempt other teams' pods.
- Reserved ``HIVEKEEPER_*`` variables (identity, credentials, wiring, config) can never be set by ``env``; nor,
  on a ``protocol: pockethive`` role, the ``SPRING_RABBITMQ_*`` and ``POCKETHIVE_*`` variables the operator
  gives it (:data:`hivekeeper.protocol.pockethive.VARIABLES`).

A refused spec changes nothing that runs: the WorkerRole keeps its Deployment as it was, and its
``Stalled`` condition (reason ``PolicyViolation``) names the field, the rule and the fix.
"""

from __future__ import annotations

import fnmatch

from pydantic import BaseModel, ConfigDict, Field

from hivekeeper.api.auth import role_secret_names
from hivekeeper.api.workerrole import WorkerRoleSpec
from hivekeeper.operator.bodies import EnvVar
from hivekeeper.protocol import pockethive

RESERVED_ENV = frozenset(
    {
        "HIVEKEEPER_SWARM_ID",
        "HIVEKEEPER_ROLE",
        "HIVEKEEPER_ROLE_KIND",
        "HIVEKEEPER_INSTANCE",
        "HIVEKEEPER_AMQP_URL",
        "HIVEKEEPER_REDIS_URL",
        "HIVEKEEPER_CONFIG",
        "HIVEKEEPER_METRICS_PORT",
        "HIVEKEEPER_WORK_IN",
        "HIVEKEEPER_WORK_OUT",
        "HIVEKEEPER_SIGNAL_KEY",
        "HIVEKEEPER_TERMINATION_LOG",
    }
)
"""Set by the operator on every worker; a role's ``env`` overriding one would change its identity or wiring."""


class Policy(BaseModel):
    """What Swarm authors may ask for (the Helm value ``policy``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    allowedImages: tuple[str, ...] = Field(
        default=(), description="Patterns a role's custom image must match; empty: no custom images."
    )
    envSecrets: tuple[str, ...] = Field(
        default=(), description="Secret names (patterns) a role's env may read with secretKeyRef; empty: none."
    )
    secretRefs: tuple[str, ...] = Field(
        default=("hivekeeper-*",), description="Secret names (patterns) spec.secretRef may name."
    )
    authSecrets: tuple[str, ...] = Field(
        default=("hivekeeper-*",),
        description="Secret names (patterns) an auth profile's secretKeyRef may name (spec.auth).",
    )
    serviceAccounts: tuple[str, ...] = Field(
        default=(), description="ServiceAccount names (patterns) pod.serviceAccountName may name; empty: none."
    )
    priorityClasses: tuple[str, ...] = Field(
        default=(), description="PriorityClass names (patterns) pod.priorityClassName may name; empty: none."
    )


def parse(text: str | None) -> Policy:
    """The policy from ``HIVEKEEPER_POLICY`` (JSON); unset or empty: the safe defaults."""
    if not text or not text.strip():
        return Policy()
    return Policy.model_validate_json(text)


def _matches(value: str, patterns: tuple[str, ...]) -> bool:
    return any(fnmatch.fnmatchcase(value, pattern) for pattern in patterns)


def violations(spec: WorkerRoleSpec, policy: Policy) -> list[str]:
    """Every rule a WorkerRole spec breaks, each naming the field, the value, the rule and the fix."""
    found: list[str] = []
    image = spec.image
    if image and not _matches(str(image), policy.allowedImages):
        allowed = ", ".join(policy.allowedImages) or "none"
        found.append(
            f"image {image!r} is not allowed by the operator policy (policy.allowedImages: {allowed}); "
            "use a built-in role, or ask the operator's admin to add a pattern matching it"
        )
    reserved = RESERVED_ENV | set(pockethive.VARIABLES) if spec.protocol == "pockethive" else RESERVED_ENV
    for index, raw in enumerate(spec.env or []):
        var = EnvVar.model_validate(raw)
        name = var.name
        if name in reserved:
            found.append(
                f"env[{index}].name {name!r} is reserved: the operator sets it on every worker; "
                "remove it from the role's env"
            )
        secret = var.secret
        if secret is not None and not _matches(str(secret), policy.envSecrets):
            allowed = ", ".join(policy.envSecrets) or "none"
            found.append(
                f"env[{index}] ({name}) reads Secret {secret!r}, which the operator policy does not allow "
                f"(policy.envSecrets: {allowed}); ask the operator's admin to allow it, or pass the value another way"
            )
    for secret in role_secret_names(spec.role, spec.config):
        if not _matches(secret, policy.authSecrets):
            found.append(
                f"auth profiles read Secret {secret!r} (secretKeyRef), which the operator policy does not allow "
                f"(policy.authSecrets: {', '.join(policy.authSecrets) or 'none'}); keep the credentials in a "
                "Secret whose name matches, or ask the operator's admin to allow it"
            )
    ref = spec.secretRef.name if spec.secretRef is not None else None
    if ref is not None and not _matches(str(ref), policy.secretRefs):
        found.append(
            f"secretRef.name {ref!r} is not allowed by the operator policy (policy.secretRefs: "
            f"{', '.join(policy.secretRefs) or 'none'}); use a Secret whose name matches, or ask the admin"
        )
    found += _pod_violations(spec, policy)
    return found


def _pod_violations(spec: WorkerRoleSpec, policy: Policy) -> list[str]:
    pod = spec.pod
    if pod is None:
        return []
    found = []
    account = pod.serviceAccountName
    if account is not None and not _matches(account, policy.serviceAccounts):
        found.append(
            f"pod.serviceAccountName {account!r} is not allowed by the operator policy (policy.serviceAccounts: "
            f"{', '.join(policy.serviceAccounts) or 'none'}); leave it out to run as the namespace's default "
            "account, or ask the operator's admin to allow it"
        )
    priority = pod.priorityClassName
    if priority is not None and not _matches(priority, policy.priorityClasses):
        found.append(
            f"pod.priorityClassName {priority!r} is not allowed by the operator policy (policy.priorityClasses: "
            f"{', '.join(policy.priorityClasses) or 'none'}); leave it out, or ask the operator's admin to allow it"
        )
    return found
