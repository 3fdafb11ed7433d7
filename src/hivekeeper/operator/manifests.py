"""The Deployment of a WorkerRole (pure): worker image, env contract, labels, hardened pod.

Credentials reach the pod only as ``secretKeyRef`` env or, for auth profiles, as the Secrets they name mounted
read-only at ``/var/run/hivekeeper/secrets/<name>`` (never in the spec, the CR or the status).
The bootstrap config is the desired config at the time the pod template was written; the operator
brings running pods to the current config with config-updates, so a config edit never changes the
pod template (and never restarts a pod). Only image, resources, env and wiring do, and the file of a
CSV_DATASET input: it is read when a worker starts, from the ConfigMap mounted at ``DATASET_DIR``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from hivekeeper.api.auth import SECRETS_MOUNT, role_secret_names
from hivekeeper.api.pod_template import PodTemplate
from hivekeeper.api.workerrole import WorkerRoleSpec
from hivekeeper.operator.bodies import EnvVar
from hivekeeper.operator.plan import LABEL_ROLE, LABEL_SWARM
from hivekeeper.operator.pockethive_env import pockethive_env
from hivekeeper.protocol import naming
from hivekeeper.protocol.datasets import DATASET_DIR, DATASET_VOLUME
from hivekeeper.protocol.grace import STOP_GRACE_VARIABLE, stop_grace
from hivekeeper.protocol.health import LIVENESS_PATH, READINESS_PATH

METRICS_PORT = 9464
TMP_SIZE_LIMIT = "64Mi"
"""Bound of the worker's /tmp scratch volume (debug captures and library temp files; nothing large)."""


@dataclass(frozen=True)
class WorkerDefaults:
    """What the operator adds to every worker pod (from the Helm values)."""

    image: str = "hivekeeper/worker:0.1.0"
    secret_name: str = "hivekeeper-broker"
    amqp_url_key: str = "amqpUrl"
    redis_url_key: str = "redisUrl"
    pull_policy: str = "IfNotPresent"
    resources: Mapping[str, Any] = field(default_factory=lambda: dict(DEFAULT_RESOURCES))
    """Requests and limits of a role without ``resources`` (Helm value ``workers.resources``)."""
    signal_key: str = ""
    """The public key workers verify the operator's signals with (``HIVEKEEPER_SIGNAL_KEY``); '' when unsigned."""
    exchanges: naming.Exchanges = naming.DEFAULT_EXCHANGES
    """The exchange names (Helm ``exchanges``); told to workers only when not ours, so that default pods stay
    as they were."""


DEFAULT_RESOURCES: dict[str, Any] = {
    "requests": {"cpu": "100m", "memory": "128Mi", "ephemeral-storage": "64Mi"},
    "limits": {"cpu": "2", "memory": "512Mi", "ephemeral-storage": "256Mi"},
}
"""A worker without ``resources`` gets these: scheduled on a real request, and a runaway one is OOM-killed
(and named in the status) before it starves the node. The processor's memory is bounded by its in-flight
limit and ``maxResponseBytes``, far below 512Mi at the defaults. Ephemeral storage: the root filesystem is
read-only, so only its logs (the kubelet rotates them at 5 x 10Mi) and the 64Mi /tmp volume count."""


def selector_labels(swarm: str, role: str) -> dict[str, str]:
    return {LABEL_SWARM: swarm, LABEL_ROLE: role}


def selector_string(swarm: str, role: str) -> str:
    """The label selector as the string the /scale subresource reports."""
    return ",".join(f"{key}={value}" for key, value in sorted(selector_labels(swarm, role).items()))


def deployment(
    *,
    name: str,
    namespace: str,
    swarm: str,
    swarm_id: str,
    role: str,
    spec: WorkerRoleSpec,
    bootstrap_config: dict[str, Any],
    owner: dict[str, Any],
    defaults: WorkerDefaults,
    secret_name: str | None = None,
    run_id: str = "",
) -> dict[str, Any]:
    """The Deployment running ``spec.replicas`` workers of one WorkerRole.

    Its environment is the contract the image speaks (``spec.protocol``): ours (``HIVEKEEPER_*``, docs/worker.md)
    or a PocketHive worker's (:mod:`hivekeeper.operator.pockethive_env`, whose run id is ``run_id``, the
    Swarm's uid; default: the swarm id).
    """
    labels = {
        **selector_labels(swarm, role),
        "app.kubernetes.io/name": "hivekeeper-worker",
        "app.kubernetes.io/instance": name,
        "app.kubernetes.io/component": spec.role or "custom",
        "app.kubernetes.io/part-of": "hivekeeper",
        "app.kubernetes.io/managed-by": "hivekeeper",
    }
    ref = spec.secretRef
    secret = secret_name or (ref.name if ref else "") or defaults.secret_name
    env = (
        pockethive_env(
            swarm_id=swarm_id,
            role=role,
            spec=spec,
            secret=secret,
            run_id=run_id or swarm_id,
            exchanges=defaults.exchanges,
        )
        if spec.protocol == "pockethive"
        else _hivekeeper_env(
            swarm_id=swarm_id, role=role, spec=spec, secret=secret, bootstrap=bootstrap_config, defaults=defaults
        )
    )
    env.extend(spec.env or [])
    container: dict[str, Any] = {
        "name": "worker",
        "image": spec.image or defaults.image,
        "imagePullPolicy": defaults.pull_policy,
        # No command or args: the worker image's ENTRYPOINT is already `hivekeeper worker`, and a custom image
        # (spec.image) brings its own. Adding args here once made every built-in worker pod crash-loop.
        "env": env,
        "securityContext": {
            "runAsNonRoot": True,
            "readOnlyRootFilesystem": True,
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
        },
        # The root filesystem is read-only; HOME and TMPDIR point at /tmp, which is this small scratch volume.
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
    }
    # The kubelet keeps the worker's own last words (a fatal error it names, or its health check's reason just
    # before a liveness restart: protocol/health.py), else the tail of its log: the status shows either.
    container["terminationMessagePolicy"] = "FallbackToLogsOnError"
    if spec.protocol == "hivekeeper":  # a PocketHive worker serves no metrics (nor health) on our port
        container["ports"] = [{"name": "metrics", "containerPort": METRICS_PORT, "protocol": "TCP"}]
        container["livenessProbe"] = LIVENESS_PROBE
        container["readinessProbe"] = READINESS_PROBE
    container["resources"] = spec.resources or dict(defaults.resources)
    pod_security: dict[str, Any] = {
        "runAsNonRoot": True,
        "runAsUser": 65532,
        "runAsGroup": 65532,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    volumes: list[dict[str, Any]] = [{"name": "tmp", "emptyDir": {"sizeLimit": TMP_SIZE_LIMIT}}]
    for index, mounted in enumerate(auth_secrets(spec)):
        # Files, not env: a rotated Secret reaches a running pod (the worker reads it at each token request),
        # and TLS keys are read by path.
        volume = f"auth-secret-{index}"
        pod_security["fsGroup"] = 65532  # the files are the worker's group's to read (mode 0440), nobody else's
        volumes.append({"name": volume, "secret": {"secretName": mounted, "defaultMode": 0o440}})
        container["volumeMounts"].append({"name": volume, "mountPath": f"{SECRETS_MOUNT}/{mounted}", "readOnly": True})
    dataset = csv_dataset(bootstrap_config)
    if dataset is not None and dataset.get("configMap"):
        # Read-only, and not optional: without its file the worker could not start, so the pod waits for the
        # ConfigMap (kubectl describe names it) rather than crash-looping.
        volumes.append({"name": DATASET_VOLUME, "configMap": {"name": dataset["configMap"]}})
        container["volumeMounts"].append({"name": DATASET_VOLUME, "mountPath": DATASET_DIR, "readOnly": True})
    pod_spec: dict[str, Any] = {
        "automountServiceAccountToken": False,
        "securityContext": pod_security,
        "containers": [container],
        "volumes": volumes,
        "terminationGracePeriodSeconds": termination_grace(spec.env or []),
    }
    template_metadata: dict[str, Any] = {"labels": labels}
    if spec.pod is not None:
        _place(spec.pod, pod_spec, template_metadata, container)
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace, "labels": labels, "ownerReferences": [owner]},
        "spec": {
            "replicas": spec.replicas,
            "selector": {"matchLabels": selector_labels(swarm, role)},
            "template": {"metadata": template_metadata, "spec": pod_spec},
        },
    }


LIVENESS_PROBE: dict[str, Any] = {
    "httpGet": {"path": LIVENESS_PATH, "port": "metrics"},
    "periodSeconds": 10,
    "timeoutSeconds": 3,
    "failureThreshold": 3,
}
"""A worker whose event loop stopped turning (or whose control connection stayed lost past its bound) answers
503 (protocol/health.py); three answers in a row, 30 s, and the kubelet restarts it."""
READINESS_PROBE: dict[str, Any] = {
    "httpGet": {"path": READINESS_PATH, "port": "metrics"},
    "periodSeconds": 5,
    "timeoutSeconds": 3,
    "failureThreshold": 2,
}
"""Ready once it runs with its config and its control connection: a rollout waits for the new pods to be."""
_PLACEMENT = (
    "nodeSelector",
    "tolerations",
    "affinity",
    "topologySpreadConstraints",
    "priorityClassName",
    "serviceAccountName",
    "imagePullSecrets",
)


def _place(pod: PodTemplate, pod_spec: dict[str, Any], metadata: dict[str, Any], container: dict[str, Any]) -> None:
    """Lay a role's ``pod`` block over the operator's pod: placement fields as written, metadata added to (the
    operator's labels win; the model refuses the reserved keys anyway), security contexts tightened only (the
    model refuses every loosening value, and the operator's floor is written last where it matters)."""
    written = pod.written()
    for key in _PLACEMENT:
        if key in written:
            pod_spec[key] = written[key]
    if "labels" in written:
        metadata["labels"] = {**written["labels"], **metadata["labels"]}
    if "annotations" in written:
        metadata["annotations"] = dict(written["annotations"])
    if "securityContext" in written:
        pod_spec["securityContext"] = {
            **pod_spec["securityContext"],
            **written["securityContext"],
            "runAsNonRoot": True,
        }
    if "containerSecurityContext" in written:
        floor = container["securityContext"]
        tightened = {**floor, **written["containerSecurityContext"]}
        added = (written["containerSecurityContext"].get("capabilities") or {}).get("drop") or []
        tightened["capabilities"] = {"drop": ["ALL", *(c for c in added if c != "ALL")]}
        for key in ("runAsNonRoot", "readOnlyRootFilesystem"):
            tightened[key] = True
        tightened["allowPrivilegeEscalation"] = False
        container["securityContext"] = tightened


def _hivekeeper_env(
    *,
    swarm_id: str,
    role: str,
    spec: WorkerRoleSpec,
    secret: str,
    bootstrap: dict[str, Any],
    defaults: WorkerDefaults,
) -> list[dict[str, Any]]:
    """Our workers' environment (``worker/env.py`` reads it)."""
    ref = spec.secretRef
    amqp_key = (ref.amqpUrlKey if ref else "") or defaults.amqp_url_key
    redis_key = (ref.redisUrlKey if ref else "") or defaults.redis_url_key
    env: list[dict[str, Any]] = [
        {"name": "HIVEKEEPER_SWARM_ID", "value": swarm_id},
        {"name": "HIVEKEEPER_ROLE", "value": role},
        {"name": "HIVEKEEPER_ROLE_KIND", "value": spec.role or "custom"},
        {"name": "HIVEKEEPER_INSTANCE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        {"name": "HIVEKEEPER_AMQP_URL", "valueFrom": {"secretKeyRef": {"name": secret, "key": amqp_key}}},
        {
            "name": "HIVEKEEPER_REDIS_URL",
            "valueFrom": {"secretKeyRef": {"name": secret, "key": redis_key, "optional": True}},
        },
        {"name": "HIVEKEEPER_CONFIG", "value": orjson.dumps(bootstrap, option=orjson.OPT_SORT_KEYS).decode()},
        {"name": "HIVEKEEPER_METRICS_PORT", "value": str(METRICS_PORT)},
    ]
    if defaults.signal_key:
        env.append({"name": "HIVEKEEPER_SIGNAL_KEY", "value": defaults.signal_key})
    if defaults.exchanges != naming.DEFAULT_EXCHANGES:
        env.append({"name": "HIVEKEEPER_CONTROL_EXCHANGE", "value": defaults.exchanges.control})
        env.append({"name": "HIVEKEEPER_WORK_EXCHANGE", "value": defaults.exchanges.work})
    if spec.work.in_:
        env.append({"name": "HIVEKEEPER_WORK_IN", "value": spec.work.in_})
    if spec.work.out:
        env.append({"name": "HIVEKEEPER_WORK_OUT", "value": spec.work.out})
    return env


TERMINATION_GRACE = 30
"""Kubernetes' default, which covers the worker's default stop grace (20 s) and closing its connections."""


def termination_grace(env: list[dict[str, Any]]) -> int:
    """The pod's grace period: the default, or the role's ``HIVEKEEPER_STOP_GRACE_SECONDS`` plus 10 s to
    close connections when that is longer, so Kubernetes never kills a worker still finishing items."""
    for var in (EnvVar.model_validate(raw) for raw in env):
        if var.name == STOP_GRACE_VARIABLE and isinstance(var.value, str):
            seconds = stop_grace(var.value)
            if seconds is not None:
                return max(TERMINATION_GRACE, math.ceil(seconds) + 10)
    return TERMINATION_GRACE


ROLLOUT_FIELDS = ("image", "resources", "env", "work", "role", "secretRef")
"""The fields of a WorkerRole spec whose change must roll the pods (everything else is live), and ``protocol``
and ``pod``."""
TEMPLATE_REVISION = 2
"""Raised when the operator changes the pod template it writes for the same spec (revision 2: health probes and
the termination message policy): part of the rollout digest, so an upgraded operator rolls the pods once."""


def auth_secrets(spec: WorkerRoleSpec) -> list[str]:
    """The Secrets the role's auth profiles read (``config.auth.*.<field>.secretKeyRef.name``), mounted into its
    pods when it calls the SUT (a processor or an http-sequence); sorted."""
    return role_secret_names(spec.role, spec.config)


def rollout_fingerprint(spec: WorkerRoleSpec) -> dict[str, Any]:
    """The parts of a WorkerRole spec whose change must roll the pods, as the API server holds them (a field
    the object does not set is None, as it always was: the digest of an unchanged object stays the same).
    The Secrets its auth profiles read are mounted volumes: naming another one rolls the pods (present only
    when there are some, so the digests of roles without auth are what they were). Likewise a CSV_DATASET
    input's file keys: the worker reads the file when it starts, so a new file, ConfigMap or column type needs
    new pods."""
    written = spec.model_dump(mode="json", by_alias=True, exclude_unset=True)
    fingerprint = {key: written.get(key) for key in ROLLOUT_FIELDS}
    secrets = auth_secrets(spec)
    if secrets:
        fingerprint["authSecrets"] = secrets
    if written.get("pod"):  # newer than the others, like protocol below
        fingerprint["pod"] = written["pod"]
    protocol = written.get("protocol", "hivekeeper")
    if protocol != "hivekeeper":  # newer than the others: the digests of roles of our protocol stay as they were
        fingerprint["protocol"] = protocol
    dataset = csv_dataset(spec.config)
    if dataset is not None:
        fingerprint["csvDataset"] = {key: dataset.get(key) for key in CSV_FILE_KEYS}
    return fingerprint


CSV_FILE_KEYS = ("filePath", "configMap", "columns", "delimiter")
"""The keys of ``inputs.csv`` a worker reads only at start (its rate and rotate are live)."""


def csv_dataset(config: Mapping[str, Any]) -> dict[str, Any] | None:
    """The ``inputs.csv`` block of a config whose input is CSV_DATASET, else None."""
    inputs = config.get("inputs")
    if not isinstance(inputs, Mapping) or inputs.get("type") != "CSV_DATASET":
        return None
    block = inputs.get("csv")
    return dict(block) if isinstance(block, Mapping) else None
