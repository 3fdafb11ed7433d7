"""Where and how a role's worker pods run: scheduling, metadata, identity and security tightening.

``spec.pod`` of a Swarm holds defaults for every role; ``spec.roles[].pod`` overrides them per role (a field a role
sets replaces the Swarm's; the maps ``nodeSelector``, ``annotations`` and ``labels`` are merged key by key, the
role's value winning); the merged block is the WorkerRole's ``spec.pod``. The Kubernetes-typed fields take exactly
what a PodSpec takes: their schemas are the Kubernetes release's own (``tools/k8s_types.py``), so ``kubectl
explain swarm.spec.pod.affinity`` shows the same help as for a Pod.

The operator's hardening is a floor: ``securityContext`` and ``containerSecurityContext`` may only tighten it
(other user ids, SELinux or seccomp profiles of the node, more dropped capabilities), never loosen it (root,
privilege escalation, a writable root filesystem, added capabilities, unconfined profiles, sysctls). What else
may be set (which ServiceAccounts, which priority classes) is the operator policy's call
(:mod:`hivekeeper.operator.policy`).
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

K8S_TYPE = "x-hivekeeper-k8s-type"
"""JSON-schema extra naming the vendored Kubernetes type a free-form field takes (``hivekeeper.api.crd``)."""
K8S_ITEMS = "x-hivekeeper-k8s-items"
"""Likewise for the items of a list field."""

MAX_TOLERATIONS = 64
MAX_SPREAD_CONSTRAINTS = 16
MAX_PULL_SECRETS = 16
MAX_METADATA_ENTRIES = 64
MAX_SELECTOR_ENTRIES = 32

RESERVED_LABEL_PREFIXES = ("hivekeeper.io/", "app.kubernetes.io/")
"""Labels the operator sets on every worker pod (its selector and the recommended labels): a role cannot set them."""
_NAME = r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?"
_QUALIFIED = re.compile(rf"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?{_NAME}$")
_LABEL_VALUE = re.compile(rf"^({_NAME})?$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_PROFILE_ANNOTATIONS = (
    "container.apparmor.security.beta.kubernetes.io/",
    "seccomp.security.alpha.kubernetes.io/",
)
"""Annotations that set a security profile the old way: allowed only with a confined value."""


def _k8s(type_name: str) -> dict[str, Any]:
    return {K8S_TYPE: type_name}


def _k8s_items(type_name: str) -> dict[str, Any]:
    return {K8S_ITEMS: type_name}


class PodTemplate(BaseModel):
    """How the worker pods of a role are placed and decorated (the fields of a PodSpec a load generator needs).
    Swarm.spec.pod gives defaults for every role; spec.roles[].pod overrides a field per role (nodeSelector,
    annotations and labels are merged key by key). An edit rolls only the roles whose merged block changed."""

    model_config = ConfigDict(extra="forbid")

    nodeSelector: dict[str, str] | None = Field(
        default=None,
        max_length=MAX_SELECTOR_ENTRIES,
        description="Node labels the pods must run on (PodSpec.nodeSelector), e.g. a load-generator node pool.",
    )
    tolerations: list[dict[str, Any]] | None = Field(
        default=None,
        max_length=MAX_TOLERATIONS,
        description="Taints the pods tolerate (PodSpec.tolerations), e.g. a dedicated, tainted node pool.",
        json_schema_extra=_k8s_items("Toleration"),
    )
    affinity: dict[str, Any] | None = Field(
        default=None,
        description="Node and pod (anti-)affinity (PodSpec.affinity), e.g. keep the workers off the SUT's nodes.",
        json_schema_extra=_k8s("Affinity"),
    )
    topologySpreadConstraints: list[dict[str, Any]] | None = Field(
        default=None,
        max_length=MAX_SPREAD_CONSTRAINTS,
        description="How the pods spread across zones or nodes (PodSpec.topologySpreadConstraints).",
        json_schema_extra=_k8s_items("TopologySpreadConstraint"),
    )
    priorityClassName: str | None = Field(
        default=None,
        max_length=253,
        description="PriorityClass of the pods; must match the operator policy's priorityClasses.",
    )
    annotations: dict[str, str] | None = Field(
        default=None,
        max_length=MAX_METADATA_ENTRIES,
        description="Extra pod annotations, e.g. a service mesh's sidecar settings (docs/pods.md).",
    )
    labels: dict[str, str] | None = Field(
        default=None,
        max_length=MAX_METADATA_ENTRIES,
        description="Extra pod labels; the hivekeeper.io/ and app.kubernetes.io/ labels are the operator's.",
    )
    serviceAccountName: str | None = Field(
        default=None,
        max_length=253,
        description="ServiceAccount the pods run as (default: the namespace's `default`); must match the operator "
        "policy's serviceAccounts. Its token is still not mounted into the worker container.",
    )
    imagePullSecrets: list[dict[str, Any]] | None = Field(
        default=None,
        max_length=MAX_PULL_SECRETS,
        description="Secrets the kubelet pulls the worker image with (PodSpec.imagePullSecrets).",
        json_schema_extra=_k8s_items("LocalObjectReference"),
    )
    securityContext: dict[str, Any] | None = Field(
        default=None,
        description="Pod security settings laid over the operator's (non-root uid 65532, RuntimeDefault seccomp): "
        "may tighten (another non-root uid/gid, fsGroup, SELinux, a Localhost seccomp or AppArmor profile), never "
        "loosen (root, sysctls, Unconfined).",
        json_schema_extra=_k8s("PodSecurityContext"),
    )
    containerSecurityContext: dict[str, Any] | None = Field(
        default=None,
        description="Worker container security settings laid over the operator's (non-root, read-only root "
        "filesystem, no privilege escalation, all capabilities dropped): may tighten, never loosen.",
        json_schema_extra=_k8s("SecurityContext"),
    )

    @model_validator(mode="after")
    def _never_loosen(self) -> PodTemplate:
        problems = [
            *_metadata_problems("labels", self.labels, label_values=True),
            *_metadata_problems("annotations", self.annotations, label_values=False),
            *_metadata_problems("nodeSelector", self.nodeSelector, label_values=True),
            *_name_problems(self),
            *_pod_security_problems(self.securityContext),
            *_container_security_problems(self.containerSecurityContext),
        ]
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def written(self) -> dict[str, Any]:
        """The fields set, as the API server holds them."""
        return self.model_dump(mode="json", exclude_none=True)


def merged(defaults: PodTemplate | None, override: PodTemplate | None) -> PodTemplate | None:
    """A role's pod block over the Swarm's defaults: fields replace, the three maps merge key by key."""
    if defaults is None or override is None:
        return override if defaults is None else defaults
    base, top = defaults.written(), override.written()
    out = {**base, **top}
    for key in ("nodeSelector", "annotations", "labels"):
        if key in base and key in top:
            out[key] = {**base[key], **top[key]}
    return PodTemplate.model_validate(out)


def _metadata_problems(field: str, entries: dict[str, str] | None, *, label_values: bool) -> list[str]:
    problems: list[str] = []
    for key, value in (entries or {}).items():
        if len(key) > 316 or not _QUALIFIED.match(key):
            problems.append(
                f"pod.{field} key {key!r} is not a valid Kubernetes key: an optional DNS-subdomain prefix and '/', "
                "then at most 63 letters, digits, '-', '_' or '.', starting and ending alphanumeric"
            )
        elif field == "labels" and key.startswith(RESERVED_LABEL_PREFIXES):
            problems.append(
                f"pod.labels key {key!r} is the operator's (it selects and describes the worker pods); use a key "
                f"outside {' and '.join(RESERVED_LABEL_PREFIXES)}"
            )
        elif field == "annotations" and key.startswith(_PROFILE_ANNOTATIONS) and not _confined(value):
            problems.append(
                f"pod.annotations[{key!r}] = {value!r} would loosen the workers' security profile; use "
                "runtime/default or a localhost/ profile, or leave the annotation out"
            )
        if label_values and not _LABEL_VALUE.match(value):
            problems.append(
                f"pod.{field}[{key!r}] = {value!r} is not a valid label value: at most 63 letters, digits, '-', '_' "
                "or '.', starting and ending alphanumeric (or empty)"
            )
    return problems


def _confined(value: str) -> bool:
    return value.startswith(("runtime/default", "docker/default", "localhost/"))


def _name_problems(template: PodTemplate) -> list[str]:
    problems: list[str] = []
    for field in ("serviceAccountName", "priorityClassName"):
        value = getattr(template, field)
        if value is not None and not _DNS_SUBDOMAIN.match(value):
            problems.append(
                f"pod.{field} {value!r} is not a valid Kubernetes name: lower case letters, digits, '-' and '.'"
            )
    for index, ref in enumerate(template.imagePullSecrets or []):
        name = ref.get("name")
        if not isinstance(name, str) or not _DNS_SUBDOMAIN.match(name):
            problems.append(
                f"pod.imagePullSecrets[{index}].name {name!r} is not a Secret name; write {{name: <secret>}}"
            )
    return problems


def _profile_problem(where: str, profile: Any) -> list[str]:
    if isinstance(profile, dict) and profile.get("type") == "Unconfined":
        return [f"{where}.type Unconfined would loosen the workers' confinement; use RuntimeDefault or Localhost"]
    return []


def _root_problems(where: str, context: dict[str, Any]) -> list[str]:
    problems: list[str] = []
    if context.get("runAsNonRoot") is False:
        problems.append(f"{where}.runAsNonRoot false is not allowed: workers never run as root; leave it out")
    for key in ("runAsUser", "runAsGroup", "fsGroup"):
        if context.get(key) == 0:
            problems.append(f"{where}.{key} 0 (root) is not allowed; use a non-zero id (the default is 65532)")
    if 0 in (context.get("supplementalGroups") or []):
        problems.append(f"{where}.supplementalGroups must not hold 0 (the root group); leave it out")
    windows = context.get("windowsOptions")
    if isinstance(windows, dict) and windows.get("hostProcess") is True:
        problems.append(f"{where}.windowsOptions.hostProcess true is not allowed: it runs on the host")
    problems += _profile_problem(f"{where}.seccompProfile", context.get("seccompProfile"))
    problems += _profile_problem(f"{where}.appArmorProfile", context.get("appArmorProfile"))
    return problems


def _pod_security_problems(context: dict[str, Any] | None) -> list[str]:
    if context is None:
        return []
    problems = _root_problems("pod.securityContext", context)
    if context.get("sysctls"):
        problems.append(
            "pod.securityContext.sysctls is not allowed: a sysctl can loosen the node's limits; leave it out"
        )
    return problems


def _container_security_problems(context: dict[str, Any] | None) -> list[str]:
    if context is None:
        return []
    where = "pod.containerSecurityContext"
    problems = _root_problems(where, context)
    if context.get("privileged") is True:
        problems.append(f"{where}.privileged true is not allowed; leave it out")
    if context.get("allowPrivilegeEscalation") is True:
        problems.append(f"{where}.allowPrivilegeEscalation true is not allowed; leave it out")
    if context.get("readOnlyRootFilesystem") is False:
        problems.append(
            f"{where}.readOnlyRootFilesystem false is not allowed: workers write only to /tmp; leave it out"
        )
    capabilities = context.get("capabilities")
    if isinstance(capabilities, dict) and capabilities.get("add"):
        problems.append(f"{where}.capabilities.add {capabilities['add']!r} is not allowed: workers run with none")
    if context.get("procMount") == "Unmasked":
        problems.append(f"{where}.procMount Unmasked is not allowed; leave it out")
    return problems
