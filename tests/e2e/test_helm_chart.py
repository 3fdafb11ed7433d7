"""The Helm chart (helm/hivekeeper) against the bench's real cluster: lint, render, server dry-run, install.

Every documented scenario (helm/hivekeeper/ci/*-values.yaml, and the default values) is linted, rendered
and applied with ``kubectl apply --dry-run=server``; contradictory values fail with the message that
shows the fix. Real ``helm install``/``upgrade``/``uninstall`` runs of our images on the bench's node: the
operator runs as a pod under the token the kubelet mounts for the chart's ServiceAccount, with the security
context the runtime enforces; a Swarm in a watched namespace gets Ready with worker pods calling the SUT, one
outside stays untouched until an upgrade adds its namespace; two replicas take turns through kopf peering;
``helm uninstall`` keeps the CRDs.
"""

from __future__ import annotations

import asyncio
import base64
import json
import subprocess
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any, NamedTuple

import pytest
import yaml

from testbench.diagnose import pods_report
from testbench.helmtool import run_helm
from testbench.kube import remove_namespaces, run_kubectl
from testbench.scripted_http import ScriptedServer, scripted_server
from testbench.swarms import two_stage_swarm
from testbench.waiting import eventually

pytestmark = pytest.mark.e2e
REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "helm" / "hivekeeper"
SERVICEMONITOR_CRD = REPO / "tests" / "support" / "helm" / "servicemonitor-crd.yaml"
PODMONITOR_CRD = REPO / "tests" / "support" / "helm" / "podmonitor-crd.yaml"
SCENARIOS = {path.name.removesuffix("-values.yaml"): path for path in sorted((CHART / "ci").glob("*-values.yaml"))}
RENDER_NAMESPACE = "hk-chart-render"
SCENARIO_NAMESPACES = ("perf", "perf-2")
"""Namespaces the scenario files name (watchNamespaces, workers.secret.namespaces)."""


def _values_args(scenario: str) -> list[str]:
    return [] if scenario == "default" else ["-f", str(SCENARIOS[scenario])]


def _render(helm: Path, *args: str, namespace: str = RENDER_NAMESPACE) -> list[dict[str, Any]]:
    rendered = run_helm("template", "hk", str(CHART), "--namespace", namespace, *args)
    assert rendered.returncode == 0, rendered.stderr
    return [doc for doc in yaml.safe_load_all(rendered.stdout) if doc]


def _kinds(docs: list[dict[str, Any]]) -> list[str]:
    return sorted(doc["kind"] for doc in docs)


def _one(docs: list[dict[str, Any]], kind: str, name_suffix: str = "") -> dict[str, Any]:
    found = [d for d in docs if d["kind"] == kind and d["metadata"]["name"].endswith(name_suffix)]
    assert len(found) == 1, f"{len(found)} {kind} named *{name_suffix}: {[d['metadata']['name'] for d in found]}"
    return found[0]


def _pod_specs(docs: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    return [(d["metadata"]["name"], d["spec"]["template"]["spec"]) for d in docs if d["kind"] == "Deployment"]


@pytest.fixture(scope="module")
def render_namespaces(kubeconfig: Path) -> Iterator[None]:
    """The namespaces the rendered manifests live in (a server dry-run needs them to exist)."""
    created = []
    for name in (RENDER_NAMESPACE, *SCENARIO_NAMESPACES):
        phase = run_kubectl(kubeconfig, "get", "namespace", name, "-o", "jsonpath={.status.phase}").stdout
        if phase == "Terminating":  # left by an earlier run: wait until it is gone, then make it anew
            gone = run_kubectl(kubeconfig, "wait", "--for=delete", f"namespace/{name}", "--timeout=90s")
            assert gone.returncode == 0, gone.stderr
        if phase != "Active":
            made = run_kubectl(kubeconfig, "create", "namespace", name)
            assert made.returncode == 0, made.stderr
            created.append(name)
    yield
    for name in created:
        run_kubectl(kubeconfig, "delete", "namespace", name, "--wait=false")


@pytest.fixture(scope="module")
def servicemonitor_crd(kubeconfig: Path) -> None:
    """Minimal monitoring.coreos.com ServiceMonitor and PodMonitor CRDs (tests/support/helm), so the chart's monitors
    can be checked."""
    for crd, name in (
        (SERVICEMONITOR_CRD, "servicemonitors.monitoring.coreos.com"),
        (PODMONITOR_CRD, "podmonitors.monitoring.coreos.com"),
    ):
        applied = run_kubectl(kubeconfig, "apply", "--server-side", "-f", str(crd))
        assert applied.returncode == 0, applied.stderr
        waited = run_kubectl(kubeconfig, "wait", "--for=condition=Established", "--timeout=60s", f"crd/{name}")
        assert waited.returncode == 0, waited.stderr


def test_helm_lint_passes_for_the_default_values_and_every_documented_scenario(helm: Path) -> None:
    assert set(SCENARIOS) >= {"quickstart", "existing-secret", "namespaced", "cluster-wide", "peering", "metrics"}
    for scenario in ["default", *SCENARIOS]:
        linted = run_helm("lint", "--strict", str(CHART), *_values_args(scenario))
        assert linted.returncode == 0, f"{scenario}: {linted.stdout}{linted.stderr}"
        assert "1 chart(s) linted, 0 chart(s) failed" in linted.stdout, scenario


@pytest.mark.parametrize("scenario", ["default", *SCENARIOS])
def test_every_scenario_renders_and_the_api_server_accepts_every_manifest(
    scenario: str,
    helm: Path,
    kubeconfig: Path,
    hivekeeper_crds: None,
    render_namespaces: None,
    servicemonitor_crd: None,
) -> None:
    docs = _render(helm, *_values_args(scenario))
    assert "Deployment" in _kinds(docs)
    dry_run = run_kubectl(
        kubeconfig,
        "apply",
        "--server-side",
        "--force-conflicts",
        "--field-manager=hivekeeper-chart-test",
        "--dry-run=server",
        "-f",
        "-",
        stdin=yaml.safe_dump_all(docs),
    )
    assert dry_run.returncode == 0, f"{scenario}: {dry_run.stderr}"
    accepted = [line for line in dry_run.stdout.splitlines() if line.endswith("(server dry run)")]
    assert len(accepted) == len(docs), dry_run.stdout


def test_the_default_values_render_the_operator_with_crds_cluster_rbac_and_the_broker_secret_by_name(
    helm: Path,
) -> None:
    docs = _render(helm)
    assert _kinds(docs) == [
        "ClusterRole",
        "ClusterRoleBinding",
        "CustomResourceDefinition",
        "CustomResourceDefinition",
        "Deployment",
        "Secret",
        "Secret",
        "Service",
        "ServiceAccount",
        "ValidatingWebhookConfiguration",
    ]
    signing = _one(docs, "Secret", "-signing")
    assert len(base64.b64decode(base64.b64decode(signing["data"]["signingKey"]))) == 32, "an Ed25519 seed"
    deployment = _one(docs, "Deployment", "-operator")
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}
    pod = deployment["spec"]["template"]
    assert pod["metadata"]["labels"]["app.kubernetes.io/name"] == "hivekeeper-operator"
    container = pod["spec"]["containers"][0]
    assert container["image"] == "hivekeeper/operator:0.1.0"
    assert container["command"] == ["hivekeeper", "operator"]
    assert container["args"] == [
        *("--health-port", "8080", "--metrics-port", "9090"),
        *("--webhook-port", "9443", "--webhook-cert-dir", "/etc/hivekeeper/webhook"),
    ]
    env = {var["name"]: var for var in container["env"]}
    assert env["HIVEKEEPER_AMQP_URL"]["valueFrom"] == {"secretKeyRef": {"name": "hivekeeper-broker", "key": "amqpUrl"}}
    assert env["HIVEKEEPER_WORKER_IMAGE"]["value"] == "hivekeeper/worker:0.1.0"
    assert env["HIVEKEEPER_BROKER_SECRET"]["value"] == "hivekeeper-broker"
    assert env["HIVEKEEPER_SIGNING_KEY"]["valueFrom"] == {
        "secretKeyRef": {"name": signing["metadata"]["name"], "key": "signingKey"}
    }
    assert json.loads(env["HIVEKEEPER_POLICY"]["value"]) == {
        "allowedImages": [],
        "envSecrets": [],
        "secretRefs": ["hivekeeper-*"],
        "authSecrets": ["hivekeeper-*"],
        "serviceAccounts": [],
        "priorityClasses": [],
    }, (
        "safe by default: built-in roles only, no Secret reads through env, auth profiles only hivekeeper-* Secrets, "
        "no ServiceAccount or PriorityClass of the author's choosing"
    )
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "health"}
    assert container["readinessProbe"]["tcpSocket"] == {"port": "webhook"}, "ready once the webhook listens"
    assert {"name": "health", "containerPort": 8080, "protocol": "TCP"} in container["ports"]
    assert pod["spec"]["serviceAccountName"] == _one(docs, "ServiceAccount")["metadata"]["name"]


@pytest.mark.parametrize("scenario", ["default", *SCENARIOS])
def test_every_rendered_pod_is_non_root_read_only_without_capabilities_and_credentials_come_from_secrets(
    scenario: str, helm: Path
) -> None:
    docs = _render(helm, *_values_args(scenario))
    for name, spec in _pod_specs(docs):
        assert spec["securityContext"]["runAsNonRoot"] is True, name
        assert spec["securityContext"]["runAsUser"] > 0, name
        assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}, name
        for container in spec["containers"]:
            context = container["securityContext"]
            assert context["readOnlyRootFilesystem"] is True, name
            assert context["allowPrivilegeEscalation"] is False, name
            assert context["capabilities"]["drop"] == ["ALL"], name
            for var in container.get("env", []):
                literal = str(var.get("value", ""))
                assert "://" not in literal or "@" not in literal, (
                    f"{name}: {var['name']} carries a URL with credentials"
                )
        mounts = {m["mountPath"] for c in spec["containers"] for m in c.get("volumeMounts", [])}
        if name.endswith("-operator"):
            assert "/tmp" in mounts


def test_namespaced_mode_renders_roles_in_each_watched_namespace_and_no_cluster_rbac(helm: Path) -> None:
    docs = _render(helm, *_values_args("namespaced"))
    kinds = _kinds(docs)
    assert "ClusterRole" not in kinds
    assert "ClusterRoleBinding" not in kinds
    roles = sorted(d["metadata"]["namespace"] for d in docs if d["kind"] == "Role")
    bindings = sorted(d["metadata"]["namespace"] for d in docs if d["kind"] == "RoleBinding")
    assert roles == bindings == ["perf", "perf-2"]
    args = _one(docs, "Deployment", "-operator")["spec"]["template"]["spec"]["containers"][0]["args"]
    assert args[-4:] == ["--namespace", "perf", "--namespace", "perf-2"]
    cluster_wide = _render(helm, *_values_args("cluster-wide"))
    assert "Role" not in _kinds(cluster_wide)
    assert "ClusterRole" in _kinds(cluster_wide)


@pytest.mark.parametrize("scenario", ["default", *SCENARIOS])
def test_the_operator_is_never_granted_secrets(scenario: str, helm: Path) -> None:
    """The operator only names the broker Secret in the pods it creates; it never reads one."""
    for doc in _render(helm, *_values_args(scenario)):
        if doc["kind"] in ("Role", "ClusterRole"):
            for rule in doc["rules"]:
                assert "secrets" not in rule["resources"], doc["metadata"]["name"]
                assert "*" not in rule["resources"], doc["metadata"]["name"]
                assert "*" not in rule["verbs"], doc["metadata"]["name"]


def test_the_chart_crds_are_the_repository_crds_with_the_keep_policy(helm: Path) -> None:
    docs = _render(helm)
    crds = {d["metadata"]["name"]: d for d in docs if d["kind"] == "CustomResourceDefinition"}
    assert sorted(crds) == ["swarms.hivekeeper.io", "workerroles.hivekeeper.io"]
    for name, crd in crds.items():
        source = yaml.safe_load((REPO / "crds" / f"{name}.yaml").read_text())
        assert crd["metadata"]["annotations"] == {"helm.sh/resource-policy": "keep"}
        assert crd["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "Helm"
        for key in ("labels", "annotations"):
            crd["metadata"].pop(key, None)
            source["metadata"].pop(key, None)
        assert crd == source, f"{name}: the chart's CRD differs from crds/{name}.yaml (run `make chart-docs`)"
    unkept = _render(helm, "--set", "crds.keep=false")
    assert all("annotations" not in d["metadata"] for d in unkept if d["kind"] == "CustomResourceDefinition")
    assert "CustomResourceDefinition" not in _kinds(_render(helm, "--set", "crds.install=false"))


def test_each_optional_part_is_rendered_only_when_enabled(helm: Path) -> None:
    default = _kinds(_render(helm, "--set", "webhook.enabled=false"))
    assert "Service" not in default
    assert "ServiceMonitor" not in default
    assert "ValidatingWebhookConfiguration" not in default
    assert default.count("Secret") == 1, "only the signing key: no connection Secret without URLs"
    assert "Secret" not in _kinds(
        _render(helm, "--set", "signing.existingSecret=my-key", "--set", "webhook.enabled=false")
    )
    metrics = _render(helm, *_values_args("metrics"))
    service = _one(metrics, "Service", "-metrics")
    assert service["spec"]["ports"][0]["port"] == 9090
    monitor = _one(metrics, "ServiceMonitor")
    assert monitor["metadata"]["labels"]["release"] == "prometheus"
    assert monitor["spec"]["endpoints"][0]["interval"] == "15s"
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    assert "PodMonitor" not in default
    assert "ConfigMap" not in default, "the Grafana dashboard is off by default"
    pods = _one(metrics, "PodMonitor")
    assert pods["spec"]["selector"]["matchExpressions"] == [{"key": "hivekeeper.io/swarm", "operator": "Exists"}]
    assert pods["spec"]["podMetricsEndpoints"][0]["port"] == "metrics"
    assert pods["spec"]["namespaceSelector"] == {"any": True}
    dashboard = _one(metrics, "ConfigMap", "-dashboards")
    assert dashboard["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert json.loads(dashboard["data"]["hivekeeper-swarms.json"])["uid"] == "hivekeeper-swarms"
    peering = _render(helm, *_values_args("peering"))
    assert sorted(d["metadata"]["name"] for d in peering if d["kind"] == "CustomResourceDefinition") == [
        "clusterkopfpeerings.kopf.dev",
        "kopfpeerings.kopf.dev",
        "swarms.hivekeeper.io",
        "workerroles.hivekeeper.io",
    ]
    deployment = _one(peering, "Deployment", "-operator")
    assert deployment["spec"]["replicas"] == 2
    assert "strategy" not in deployment["spec"]  # rolling: the new pod stands by until the old one leaves
    args = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
    assert args[args.index("--peering") + 1] == "hk-hivekeeper"
    rules = _one(peering, "ClusterRole")["rules"]
    assert {"apiGroups": ["kopf.dev"], "resources": ["clusterkopfpeerings"]}.items() <= rules[-1].items()


def test_the_webhook_gets_a_certificate_for_its_service_signed_by_the_ca_bundle_it_is_called_with(helm: Path) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import padding

    docs = _render(helm, "--set", "watchNamespaces={perf}")
    secret = _one(docs, "Secret", "-webhook-tls")
    service = _one(docs, "Service", "-webhook")
    [webhook] = _one(docs, "ValidatingWebhookConfiguration")["webhooks"]
    assert secret["type"] == "kubernetes.io/tls"
    assert webhook["clientConfig"]["caBundle"] == secret["data"]["ca.crt"]
    ca = x509.load_pem_x509_certificate(base64.b64decode(secret["data"]["ca.crt"]))
    serving = x509.load_pem_x509_certificate(base64.b64decode(secret["data"]["tls.crt"]))
    assert serving.issuer == ca.subject
    hash_algorithm = serving.signature_hash_algorithm
    assert hash_algorithm is not None
    ca.public_key().verify(  # Helm's genCA makes an RSA key: PKCS#1 v1.5 and the certificate's hash
        serving.signature, serving.tbs_certificate_bytes, padding.PKCS1v15(), hash_algorithm
    )
    names = serving.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(
        x509.DNSName
    )
    assert f"{service['metadata']['name']}.{RENDER_NAMESPACE}.svc" in names, "the name the API server calls"

    assert webhook["clientConfig"]["service"] == {
        "name": service["metadata"]["name"], "namespace": RENDER_NAMESPACE, "path": "/role-configs", "port": 443,
    }  # fmt: skip
    assert service["spec"]["ports"] == [{"name": "webhook", "port": 443, "targetPort": "webhook", "protocol": "TCP"}]
    deployment = _one(docs, "Deployment", "-operator")
    assert service["spec"]["selector"].items() <= deployment["spec"]["template"]["metadata"]["labels"].items()
    assert (webhook["failurePolicy"], webhook["sideEffects"], webhook["timeoutSeconds"]) == ("Fail", "None", 10)
    assert webhook["rules"] == [
        {
            "apiGroups": ["hivekeeper.io"],
            "apiVersions": ["v1alpha1"],
            "resources": ["swarms", "workerroles"],
            "operations": ["CREATE", "UPDATE"],
            "scope": "Namespaced",
        }
    ]
    assert webhook["namespaceSelector"]["matchExpressions"][0]["values"] == ["perf"], "only the watched namespaces"
    conditions = {c["name"]: c["expression"] for c in webhook["matchConditions"]}
    assert "object.spec != oldObject.spec" in conditions["creations-and-spec-changes"]
    assert f"system:serviceaccount:{RENDER_NAMESPACE}:hk-hivekeeper" in conditions["not-the-operator"]

    pod = deployment["spec"]["template"]["spec"]
    [volume] = [v for v in pod["volumes"] if v["name"] == "webhook-tls"]
    assert volume["secret"]["secretName"] == secret["metadata"]["name"]
    container = pod["containers"][0]
    assert {"name": "webhook-tls", "mountPath": "/etc/hivekeeper/webhook", "readOnly": True} in container[
        "volumeMounts"
    ]
    assert {"name": "webhook", "containerPort": 9443, "protocol": "TCP"} in container["ports"]

    switched = _render(helm, "--set", "webhook.failurePolicy=Ignore", "--set", "webhook.timeoutSeconds=3")
    [webhook] = _one(switched, "ValidatingWebhookConfiguration")["webhooks"]
    assert (webhook["failurePolicy"], webhook["timeoutSeconds"]) == ("Ignore", 3)
    assert "namespaceSelector" not in webhook, "cluster-wide: every namespace"
    off = _render(helm, "--set", "webhook.enabled=false")
    container = _one(off, "Deployment", "-operator")["spec"]["template"]["spec"]["containers"][0]
    assert "--webhook-port" not in container["args"]
    assert container["readinessProbe"]["httpGet"] == {"path": "/healthz", "port": "health"}
    own = _render(helm, "--set", "webhook.existingSecret=my-tls", "--set", "webhook.caBundle=QUJD")
    assert not [d for d in own if d["kind"] == "Secret" and d["metadata"]["name"].endswith("-webhook-tls")]
    [webhook] = _one(own, "ValidatingWebhookConfiguration")["webhooks"]
    assert webhook["clientConfig"]["caBundle"] == "QUJD"
    volumes = _one(own, "Deployment", "-operator")["spec"]["template"]["spec"]["volumes"]
    assert {"name": "webhook-tls", "secret": {"secretName": "my-tls", "defaultMode": 0o440, "items": [
        {"key": "tls.crt", "path": "tls.crt"}, {"key": "tls.key", "path": "tls.key"}]}} in volumes  # fmt: skip
    failed = run_helm("template", "hk", str(CHART), "--set", "webhook.failurePolicy=Sometimes")
    assert failed.returncode != 0
    assert "failurePolicy" in failed.stderr


def test_the_quickstart_bundles_rabbitmq_and_redis_and_writes_matching_urls_into_every_secret(helm: Path) -> None:
    docs = _render(helm, *_values_args("quickstart"))
    deployments = sorted(d["metadata"]["name"] for d in docs if d["kind"] == "Deployment")
    assert deployments == ["hk-hivekeeper-operator", "hk-hivekeeper-rabbitmq", "hk-hivekeeper-redis"]
    secrets = {(d["metadata"]["namespace"], d["metadata"]["name"]): d["data"] for d in docs if d["kind"] == "Secret"}

    def decoded(namespace: str, name: str, key: str) -> str:
        return base64.b64decode(secrets[(namespace, name)][key]).decode()

    password = decoded(RENDER_NAMESPACE, "hk-hivekeeper-rabbitmq", "password")
    redis_password = decoded(RENDER_NAMESPACE, "hk-hivekeeper-redis", "password")
    assert len(password) == len(redis_password) == 32
    amqp = f"amqp://hivekeeper:{password}@hk-hivekeeper-rabbitmq.{RENDER_NAMESPACE}.svc:5672/"
    redis = f"redis://:{redis_password}@hk-hivekeeper-redis.{RENDER_NAMESPACE}.svc:6379/0"
    assert decoded(RENDER_NAMESPACE, "hk-hivekeeper-connection", "amqpUrl") == amqp, "the operator's user"
    worker_password = decoded(RENDER_NAMESPACE, "hk-hivekeeper-rabbitmq", "workerPassword")
    assert len(worker_password) == 32
    assert worker_password != password
    worker_amqp = f"amqp://hivekeeper-worker:{worker_password}@hk-hivekeeper-rabbitmq.{RENDER_NAMESPACE}.svc:5672/"
    assert decoded("perf", "hivekeeper-broker", "amqpUrl") == worker_amqp, "workers get their least-privilege user"
    parts = {key: decoded("perf", "hivekeeper-broker", key) for key in ("amqpHost", "amqpPort", "amqpUsername")}
    assert parts == {
        "amqpHost": f"hk-hivekeeper-rabbitmq.{RENDER_NAMESPACE}.svc",
        "amqpPort": "5672",
        "amqpUsername": "hivekeeper-worker",
    }, "the URL's parts, for PocketHive worker images"
    assert decoded("perf", "hivekeeper-broker", "amqpPassword") == worker_password
    assert decoded("perf", "hivekeeper-broker", "amqpVhost") == "/"
    for where in ((RENDER_NAMESPACE, "hk-hivekeeper-connection"), ("perf", "hivekeeper-broker")):
        assert decoded(*where, "redisUrl") == redis, where
    rabbit = _one(docs, "Deployment", "-rabbitmq")["spec"]["template"]["spec"]["containers"][0]
    assert rabbit["lifecycle"]["postStart"]["exec"]["command"] == ["/bin/sh", "/opt/hivekeeper/rabbitmq-users.sh"]
    users = next(d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"].endswith("-rabbitmq-users"))
    assert users["data"]["rabbitmq-users.sh"] == (REPO / "helm/hivekeeper/files/rabbitmq-users.sh").read_text()
    operator = _one(docs, "Deployment", "-operator")["spec"]["template"]["spec"]["containers"][0]
    amqp_env = next(var for var in operator["env"] if var["name"] == "HIVEKEEPER_AMQP_URL")
    assert amqp_env["valueFrom"]["secretKeyRef"]["name"] == "hk-hivekeeper-connection"
    assert password not in json.dumps([d for d in docs if d["kind"] != "Secret"])


CONTRADICTIONS = {
    "namespaced RBAC without watchNamespaces": (
        ["--set", "rbac.namespaced=true"],
        "hivekeeper: rbac.namespaced=true needs watchNamespaces (a namespaced operator cannot watch the whole "
        "cluster). Set watchNamespaces: [perf] or rbac.namespaced=false.",
    ),
    "bundled and external broker": (
        ["--set", "rabbitmq.bundled.enabled=true"],
        "hivekeeper: rabbitmq.bundled.enabled=true and an external broker (broker.existingSecret=hivekeeper-broker) "
        'are both set: the operator would not know which to use. Set broker.existingSecret="" and broker.url="" '
        "for the bundled RabbitMQ, or rabbitmq.bundled.enabled=false.",
    ),
    "no broker credentials": (
        ["--set", "broker.existingSecret="],
        "hivekeeper: no broker credentials: the operator needs an AMQP URL. Set broker.existingSecret to a Secret "
        "with the key amqpUrl (recommended), or broker.url, or rabbitmq.bundled.enabled=true for a quick start.",
    ),
    "replicas without peering": (
        ["--set", "operator.replicas=2"],
        "hivekeeper: operator.replicas=2 without operator.peering.enabled: standalone operators would all "
        "reconcile the same swarms. Set operator.peering.enabled=true (the replicas then take turns) or "
        "operator.replicas=1.",
    ),
    "existing secret and url": (
        ["--set", "broker.url=amqp://user:pw@rabbit:5672/"],
        "hivekeeper: broker.existingSecret=hivekeeper-broker and broker.url are both set. Keep one: "
        "broker.existingSecret (recommended: the URL stays out of the values), or broker.url with "
        'broker.existingSecret="".',
    ),
    "redis url and bundled redis": (
        [
            *("--set", "broker.existingSecret="),
            *("--set", "broker.url=amqp://u:p@r:5672/"),
            *("--set", "redis.url=redis://r:6379"),
            *("--set", "redis.bundled.enabled=true"),
        ],
        'hivekeeper: redis.url and redis.bundled.enabled=true are both set. Set redis.url="" for the bundled Redis, '
        "or redis.bundled.enabled=false.",
    ),
    "redis url with an existing secret": (
        ["--set", "redis.url=redis://r:6379"],
        "hivekeeper: redis.url is set with broker.existingSecret=hivekeeper-broker: the chart does not write into "
        "your Secret. Add the key redisUrl to that Secret and unset redis.url, or use broker.url/rabbitmq.bundled "
        "instead of broker.existingSecret.",
    ),
    "worker secret copies of an existing secret": (
        ["--set", "workers.secret.create=true", "--set", "watchNamespaces={perf}"],
        "hivekeeper: workers.secret.create=true with broker.existingSecret=hivekeeper-broker: the chart cannot copy "
        "a Secret it does not know. Create hivekeeper-broker in each swarm namespace yourself "
        "(workers.secret.create=false), or use broker.url/rabbitmq.bundled.",
    ),
    "worker secret without namespaces": (
        ["-f", str(SCENARIOS["quickstart"]), "--set", "watchNamespaces=null"],
        "hivekeeper: workers.secret.create=true needs namespaces: set workers.secret.namespaces: [perf] (or "
        "watchNamespaces, which it defaults to).",
    ),
    "service monitor without the service": (
        ["--set", "metrics.serviceMonitor.enabled=true"],
        "hivekeeper: metrics.serviceMonitor.enabled=true needs the metrics Service it selects. "
        "Set metrics.service.enabled=true.",
    ),
    "metrics service with metrics off": (
        ["--set", "metrics.service.enabled=true", "--set", "metrics.port=0"],
        "hivekeeper: metrics.port=0 turns the operator's /metrics off, yet metrics.service or "
        "metrics.serviceMonitor is enabled. Set metrics.port: 9090 or disable them.",
    ),
    "one port for metrics and health": (
        ["--set", "metrics.port=8080"],
        "hivekeeper: metrics.port and operator.healthPort are both 8080: the operator serves /metrics and "
        "/healthz on separate ports. Choose two ports.",
    ),
}


@pytest.mark.parametrize("case", sorted(CONTRADICTIONS))
def test_contradictory_values_fail_rendering_with_the_fix_in_the_message(case: str, helm: Path) -> None:
    args, message = CONTRADICTIONS[case]
    rendered = run_helm("template", "hk", str(CHART), *args)
    assert rendered.returncode != 0, f"{case}: rendered although contradictory"
    assert message in rendered.stderr, rendered.stderr
    assert rendered.stderr.count("hivekeeper: ") == 1, f"{case}: only this problem is reported: {rendered.stderr}"


def test_helm_install_refuses_contradictory_values_before_creating_anything(
    helm: Path, kubeconfig: Path, render_namespaces: None
) -> None:
    args, message = CONTRADICTIONS["no broker credentials"]
    installed = run_helm(
        "install", "hk-refused", str(CHART), "--namespace", RENDER_NAMESPACE, *args, kubeconfig=kubeconfig
    )
    assert installed.returncode != 0
    assert message in installed.stderr
    releases = run_helm("list", "--namespace", RENDER_NAMESPACE, "--all", "--short", kubeconfig=kubeconfig)
    assert "hk-refused" not in releases.stdout
    assert run_kubectl(kubeconfig, "get", "serviceaccount", "-n", RENDER_NAMESPACE, "hk-refused-hivekeeper").returncode


# --- helm install for real: the operator as a pod of our image on the bench's node -------------------------

HIVEKEEPER_CRDS = ("swarms.hivekeeper.io", "workerroles.hivekeeper.io")
KOPF_CRDS = ("clusterkopfpeerings.kopf.dev", "kopfpeerings.kopf.dev")
TOKEN_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"

RUNTIME_PROBE = """
import json, os
facts = {"uid": os.getuid(), "gid": os.getgid()}
status = dict(line.split(":", 1) for line in open("/proc/self/status").read().splitlines() if ":" in line)
facts.update({key: status[key].strip() for key in ("CapEff", "NoNewPrivs", "Seccomp")})
for path in ("/hivekeeper-probe", "/tmp/hivekeeper-probe"):
    try:
        with open(path, "w") as file:
            file.write("probe")
        facts[path] = "written"
    except OSError as exc:
        facts[path] = exc.strerror
print(json.dumps(facts))
"""
"""Run in a container with ``kubectl exec``: who it runs as, what the kernel lets it do, where it can write."""

API_PROBE = """
import json, sys
from lightkube import ApiError, Client
from lightkube.generic_resource import create_namespaced_resource
from lightkube.resources.authentication_v1 import SelfSubjectReview
client = Client()  # in a pod: the ServiceAccount token the kubelet mounted
answers = {"user": client.create(SelfSubjectReview()).status.userInfo.username}
Swarm = create_namespaced_resource("hivekeeper.io", "v1alpha1", "Swarm", "swarms")
for namespace in sys.argv[1:]:
    try:
        answers[namespace] = sorted(swarm.metadata.name for swarm in client.list(Swarm, namespace=namespace))
    except ApiError as exc:
        answers[namespace] = f"{exc.status.code} {exc.status.message}"
print(json.dumps(answers))
"""
"""Run in the operator's container: whom the API server takes its credentials for, and the Swarms it may list
in each namespace named on the command line (or the API server's refusal)."""


class Namespaces(NamedTuple):
    release: str
    swarms: str
    """Watched by the release."""
    other: str
    """Not watched (until an upgrade adds it)."""


@pytest.fixture
async def sut() -> AsyncIterator[ScriptedServer]:
    async with scripted_server() as server:
        yield server


@pytest.fixture
def sut_url(sut: ScriptedServer, expose: Callable[[int], str]) -> str:
    """The SUT as the worker pods reach it (the node's address, relayed to the server's loopback port)."""
    return f"http://{expose(sut.port)}"


@pytest.fixture
def install_namespaces(kubeconfig: Path, pod_rabbitmq_url: str, pod_redis_url: str) -> Iterator[Namespaces]:
    """A release namespace and two swarm namespaces, each with the `hivekeeper-broker` Secret (the bench's
    RabbitMQ and Redis as pods reach them); removed afterwards."""
    suffix = uuid.uuid4().hex[:8]
    names = Namespaces(release=f"hk-{suffix}", swarms=f"sw-{suffix}", other=f"ot-{suffix}")
    for namespace in names:
        made = run_kubectl(kubeconfig, "create", "namespace", namespace)
        assert made.returncode == 0, made.stderr
        secret = run_kubectl(
            kubeconfig, "create", "secret", "generic", "hivekeeper-broker", "-n", namespace,
            f"--from-literal=amqpUrl={pod_rabbitmq_url}", f"--from-literal=redisUrl={pod_redis_url}",
        )  # fmt: skip
        assert secret.returncode == 0, secret.stderr
    yield names
    # A test that failed half-way may leave a Swarm whose finalizer no operator runs any more: dropped here.
    left = remove_namespaces(kubeconfig, names.swarms, names.other, names.release)
    assert not left, f"namespaces still there 180 s after deletion: {left}"


def _image_values(images: dict[str, str]) -> list[str]:
    """Helm values that run our images as loaded into the node (never pulled: no registry is reachable)."""
    operator_repository, operator_tag = images["operator"].rsplit(":", 1)
    worker_repository, worker_tag = images["worker"].rsplit(":", 1)
    return [
        *("--set", f"operator.image.repository={operator_repository}"),
        *("--set", f"operator.image.tag={operator_tag}"),
        *("--set", "operator.image.pullPolicy=Never"),
        *("--set", f"workers.image.repository={worker_repository}"),
        *("--set", f"workers.image.tag={worker_tag}"),
    ]


async def _helm(kubeconfig: Path, *args: str, timeout: float = 420) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(run_helm, *args, kubeconfig=kubeconfig, timeout=timeout)


async def _kubectl(kubeconfig: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """kubectl off the event loop (the SUT the workers call is served on it)."""
    return await asyncio.to_thread(run_kubectl, kubeconfig, *args, stdin=stdin)


async def _json(kubeconfig: Path, *args: str) -> Any:
    result = await _kubectl(kubeconfig, *args, "-o", "json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


async def _report(kubeconfig: Path, *namespaces: str) -> str:
    return "\n".join([await asyncio.to_thread(pods_report, kubeconfig, namespace) for namespace in namespaces])


async def _operator_pods(kubeconfig: Path, namespace: str, release: str) -> list[dict[str, Any]]:
    """The release's operator pods that are not on their way out."""
    selector = f"app.kubernetes.io/name=hivekeeper-operator,app.kubernetes.io/instance={release}"
    pods = (await _json(kubeconfig, "get", "pods", "-n", namespace, "-l", selector))["items"]
    return [pod for pod in pods if not pod["metadata"].get("deletionTimestamp")]


async def _logs(kubeconfig: Path, namespace: str, pod: str) -> str:
    """The operator container's log, as ``kubectl logs`` shows it."""
    result = await _kubectl(kubeconfig, "logs", "-n", namespace, pod, "-c", "operator")
    assert result.returncode == 0, f"kubectl logs {pod}: {result.stderr}"
    return result.stdout


async def _exec_python(kubeconfig: Path, namespace: str, pod: str, container: str, code: str, *args: str) -> Any:
    """Run ``python -c code args`` in a running container (``kubectl exec``); its last output line, as JSON."""
    result = await _kubectl(
        kubeconfig, "exec", "-n", namespace, pod, "-c", container, "--", "python", "-c", code, *args
    )
    assert result.returncode == 0, f"kubectl exec {pod}: {result.stdout}{result.stderr}"
    return json.loads(result.stdout.strip().splitlines()[-1])


async def _assert_hardened_by_the_runtime(kubeconfig: Path, namespace: str, pod: str, container: str) -> None:
    """The pod's security context is what the runtime enforces on a process in the running container."""
    facts = await _exec_python(kubeconfig, namespace, pod, container, RUNTIME_PROBE)
    where = f"{namespace}/{pod}/{container}: {facts}"
    assert (facts["uid"], facts["gid"]) == (65532, 65532), where
    # EROFS, not EACCES: the root filesystem is mounted read-only (a non-root write to / would otherwise
    # fail with "Permission denied"); /tmp is the pod's writable emptyDir.
    assert facts["/hivekeeper-probe"] == "Read-only file system", where
    assert facts["/tmp/hivekeeper-probe"] == "written", where
    assert facts["CapEff"] == "0000000000000000", f"every capability dropped: {where}"
    assert facts["NoNewPrivs"] == "1", f"allowPrivilegeEscalation: false: {where}"
    assert facts["Seccomp"] == "2", f"seccomp RuntimeDefault (a filter): {where}"


def _adopt_existing_crds(kubeconfig: Path, release: str, namespace: str, names: tuple[str, ...]) -> None:
    """Let the release take over CRDs someone applied with kubectl, the way Helm documents it.

    Helm refuses to install over objects it does not own; marking them lets it adopt them. On an empty
    cluster there is nothing to adopt and helm creates the CRDs.
    """
    for name in names:
        if run_kubectl(kubeconfig, "get", "crd", name).returncode != 0:
            continue
        for verb, value in (
            ("label", "app.kubernetes.io/managed-by=Helm"),
            ("annotate", f"meta.helm.sh/release-name={release}"),
            ("annotate", f"meta.helm.sh/release-namespace={namespace}"),
        ):
            done = run_kubectl(kubeconfig, verb, "--overwrite", "crd", name, value)
            assert done.returncode == 0, done.stderr


def _small_swarm(sut_url: str, rate: float) -> dict[str, Any]:
    """A generator feeding one processor that calls the SUT: two worker pods."""
    return two_stage_swarm("edge", sut_url, rate, path="/edge")


async def _apply(kubeconfig: Path, namespace: str, manifest: dict[str, Any]) -> None:
    applied = await _kubectl(kubeconfig, "apply", "-n", namespace, "-f", "-", stdin=yaml.safe_dump(manifest))
    assert applied.returncode == 0, applied.stderr


async def _condition(kubeconfig: Path, namespace: str, swarm: str, type_: str = "Ready") -> str | None:
    found = await _kubectl(
        kubeconfig, "get", "swarm", swarm, "-n", namespace,
        "-o", f"jsonpath={{.status.conditions[?(@.type=='{type_}')].status}}",
    )  # fmt: skip
    return found.stdout.strip() or None


async def _wait_ready(kubeconfig: Path, namespace: str, swarm: str, *also: str, timeout: float = 240) -> None:
    """Wait for the Swarm's Ready=True; on a timeout, the pods of ``namespace`` and ``also`` say why not."""

    async def ready() -> bool:
        return await _condition(kubeconfig, namespace, swarm) == "True"

    try:
        await eventually(ready, timeout=timeout, interval=1.0, what=f"Swarm {namespace}/{swarm} Ready")
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{await _report(kubeconfig, namespace, *also)}") from exc


async def _delete_swarm(kubeconfig: Path, namespace: str, swarm: str) -> None:
    """Delete a Swarm while its operator runs (its finalizer removes the swarm's queues), and wait until it
    and its pods are gone."""
    deleted = await _kubectl(kubeconfig, "delete", "-n", namespace, f"swarm/{swarm}", "--timeout=120s")
    assert deleted.returncode == 0, deleted.stderr

    async def pods_gone() -> bool:
        left = await _kubectl(
            kubeconfig, "get", "pods", "-n", namespace, "-l", f"hivekeeper.io/swarm={swarm}", "-o", "name"
        )
        return left.returncode == 0 and not left.stdout.strip()

    # Garbage collection cascades Swarm -> WorkerRole -> Deployment -> ReplicaSet -> Pod; then the kubelet stops them.
    await eventually(pods_gone, timeout=180, interval=1.0, what=f"the worker pods of {namespace}/{swarm} gone")


async def _uninstall(kubeconfig: Path, release: str, namespace: str) -> subprocess.CompletedProcess[str]:
    uninstalled = await _helm(kubeconfig, "uninstall", release, "--namespace", namespace, "--wait", "--timeout", "3m")
    assert uninstalled.returncode == 0, uninstalled.stderr

    async def operator_gone() -> bool:
        return not (await _json(kubeconfig, "get", "pods", "-n", namespace))["items"]

    await eventually(operator_gone, timeout=120, interval=1.0, what=f"the operator pods of {release} gone")
    return uninstalled


def _no_refusals(log: str) -> list[str]:
    """Lines of an operator log that show the API server refusing it something (none: its RBAC suffices)."""
    return [line for line in log.splitlines() if "forbidden" in line.lower() or " 403" in line]


@pytest.mark.timeout(900)
async def test_helm_install_runs_a_hardened_operator_pod_as_its_account_that_readies_a_swarm_and_uninstall_keeps_crds(
    helm: Path,
    kubeconfig: Path,
    hivekeeper_images: dict[str, str],
    install_namespaces: Namespaces,
    sut: ScriptedServer,
    sut_url: str,
) -> None:
    namespaces = install_namespaces
    _adopt_existing_crds(kubeconfig, "hk", namespaces.release, HIVEKEEPER_CRDS)
    installed = await _helm(
        kubeconfig, "install", "hk", str(CHART), "--namespace", namespaces.release, *_image_values(hivekeeper_images),
        "--set", f"watchNamespaces={{{namespaces.swarms}}}", "--set", "rbac.namespaced=true",
        "--wait", "--timeout", "5m",
    )  # fmt: skip
    assert installed.returncode == 0, f"{installed.stderr}\n{await _report(kubeconfig, namespaces.release)}"
    assert f"The operator watches the namespaces {namespaces.swarms}" in installed.stdout  # NOTES.txt

    [pod] = await _operator_pods(kubeconfig, namespaces.release, "hk")
    operator = pod["metadata"]["name"]
    assert pod["spec"]["serviceAccountName"] == "hk-hivekeeper"
    container = pod["spec"]["containers"][0]
    assert container["image"] == hivekeeper_images["operator"]
    assert TOKEN_DIR in {mount["mountPath"] for mount in container["volumeMounts"]}, "the kubelet mounts the token"
    # The operator's own credentials, from inside its container: the API server takes them for the chart's
    # ServiceAccount, which may list Swarms where it is bound and nowhere else.
    account = f"system:serviceaccount:{namespaces.release}:hk-hivekeeper"
    api = await _exec_python(
        kubeconfig, namespaces.release, operator, "operator", API_PROBE, namespaces.swarms, namespaces.other
    )
    assert api["user"] == account, api
    assert api[namespaces.swarms] == [], api
    assert api[namespaces.other].startswith("403 "), api
    assert f'User "{account}" cannot list' in api[namespaces.other], api
    for verb, resource, namespace, allowed in (
        ("list", "swarms.hivekeeper.io", namespaces.swarms, "yes"),
        ("patch", "deployments.apps", namespaces.swarms, "yes"),
        ("get", "secrets", namespaces.swarms, "no"),
        ("patch", "configmaps", namespaces.swarms, "yes"),  # each run's record
        ("delete", "configmaps", namespaces.swarms, "yes"),
        ("list", "swarms.hivekeeper.io", namespaces.release, "no"),
    ):
        answer = await _kubectl(kubeconfig, "auth", "can-i", verb, resource, "-n", namespace, f"--as={account}")
        assert answer.stdout.strip() == allowed, (verb, resource, namespace, answer.stdout, answer.stderr)
    await _assert_hardened_by_the_runtime(kubeconfig, namespaces.release, operator, "operator")

    quickstart = yaml.safe_load((REPO / "examples" / "quickstart.yaml").read_text())
    quickstart["spec"]["sut"]["endpoints"]["default"]["baseUrl"] = sut_url
    quickstart["spec"]["run"] = {"id": "helm", "duration": "5m"}  # a bounded run: its record needs ConfigMap rights
    await _apply(kubeconfig, namespaces.swarms, quickstart)
    await _wait_ready(kubeconfig, namespaces.swarms, "quickstart", namespaces.release)
    roles = (await _kubectl(kubeconfig, "get", "workerroles", "-n", namespaces.swarms, "-o", "name")).stdout.split()
    assert sorted(roles) == [
        f"workerrole.hivekeeper.io/quickstart-{role}" for role in ("builder", "caller", "feeder", "stats")
    ]
    deployments = (await _kubectl(kubeconfig, "get", "deploy", "-n", namespaces.swarms, "-o", "name")).stdout.split()
    assert sorted(deployments) == [
        f"deployment.apps/quickstart-{role}" for role in ("builder", "caller", "feeder", "stats")
    ]

    async def traffic() -> bool:  # Ready means every worker runs the config; items follow right after
        return len([r for r in sut.requests if r.startswith((b"GET /cards/card-", b"POST /cards/card-"))]) >= 20

    await eventually(traffic, timeout=60, interval=0.5, what="card calls from the worker pods at the SUT")
    workers = await _json(
        kubeconfig, "get", "pods", "-n", namespaces.swarms, "-l", "hivekeeper.io/swarm=quickstart",
        "--field-selector=status.phase=Running",
    )  # fmt: skip
    assert len(workers["items"]) == 5, [p["metadata"]["name"] for p in workers["items"]]
    for worker in workers["items"]:
        assert worker["spec"]["containers"][0]["image"] == hivekeeper_images["worker"]
        assert "args" not in worker["spec"]["containers"][0], "the image's entry point runs the worker"
    caller = next(p for p in workers["items"] if p["metadata"]["labels"]["hivekeeper.io/role"] == "caller")
    await _assert_hardened_by_the_runtime(kubeconfig, namespaces.swarms, caller["metadata"]["name"], "worker")

    async def run_record() -> dict[str, Any] | None:  # written by the operator pod as its run starts
        got = await _kubectl(
            kubeconfig, "get", "configmap", "quickstart-run-helm", "-n", namespaces.swarms, "-o", "json"
        )
        return json.loads(got.stdout) if got.returncode == 0 else None

    record = await eventually(run_record, timeout=30, what="the run's record (ConfigMap quickstart-run-helm)")
    assert json.loads(record["data"]["run.json"])["runId"] == "helm"

    # The Swarm goes first, while the operator still runs its queue-cleanup finalizer.
    await _delete_swarm(kubeconfig, namespaces.swarms, "quickstart")
    log = await _logs(kubeconfig, namespaces.release, operator)
    assert "reconcile_swarm" in log, log[-3000:]
    assert not _no_refusals(log), "the chart's Role grants all the operator uses:\n" + "\n".join(_no_refusals(log))

    uninstalled = await _uninstall(kubeconfig, "hk", namespaces.release)
    assert "These resources were kept due to the resource policy" in uninstalled.stdout
    for name in HIVEKEEPER_CRDS:
        kept = await _kubectl(
            kubeconfig, "get", "crd", name, "-o", "jsonpath={.status.conditions[?(@.type=='Established')].status}"
        )
        assert kept.stdout == "True", f"{name}: {kept.stderr}"
    for namespace in (namespaces.release, namespaces.swarms):
        gone = await _kubectl(
            kubeconfig, "get", "deploy,serviceaccount,role,rolebinding", "-n", namespace,
            "-l", "app.kubernetes.io/instance=hk", "-o", "name",
        )  # fmt: skip
        assert gone.returncode == 0, gone.stderr
        assert gone.stdout.strip() == "", namespace


@pytest.mark.timeout(900)
async def test_a_namespaced_release_leaves_swarms_outside_its_namespaces_alone_until_helm_upgrade_adds_theirs(
    helm: Path,
    kubeconfig: Path,
    hivekeeper_crds: None,
    hivekeeper_images: dict[str, str],
    install_namespaces: Namespaces,
    sut: ScriptedServer,
    sut_url: str,
) -> None:
    namespaces = install_namespaces
    release = ("hkn", str(CHART), "--namespace", namespaces.release, "--wait", "--timeout", "5m")
    installed = await _helm(
        kubeconfig, "install", *release, *_image_values(hivekeeper_images), "--set", "crds.install=false",
        "--set", f"watchNamespaces={{{namespaces.swarms}}}", "--set", "rbac.namespaced=true",
    )  # fmt: skip
    assert installed.returncode == 0, f"{installed.stderr}\n{await _report(kubeconfig, namespaces.release)}"
    for namespace in (namespaces.other, namespaces.swarms):  # the unwatched one first: it gets no head start
        await _apply(kubeconfig, namespace, _small_swarm(sut_url, 20))
    await _wait_ready(kubeconfig, namespaces.swarms, "edge", namespaces.release)

    # The operator served its own namespace; the Swarm next door it never touched, nor tried to.
    untouched = await _json(kubeconfig, "get", "swarm", "edge", "-n", namespaces.other)
    assert "status" not in untouched, untouched["status"]
    assert not untouched["metadata"].get("finalizers"), untouched["metadata"]
    children = await _kubectl(kubeconfig, "get", "workerroles,deploy,pods", "-n", namespaces.other, "-o", "name")
    assert children.returncode == 0, children.stderr
    assert children.stdout.strip() == "", children.stdout
    [pod] = await _operator_pods(kubeconfig, namespaces.release, "hkn")
    log = await _logs(kubeconfig, namespaces.release, pod["metadata"]["name"])
    assert namespaces.other not in log, log[-3000:]
    assert not _no_refusals(log), "\n".join(_no_refusals(log))
    account = f"system:serviceaccount:{namespaces.release}:hkn-hivekeeper"
    can = await _kubectl(
        kubeconfig, "auth", "can-i", "list", "swarms.hivekeeper.io", "-n", namespaces.other, f"--as={account}"
    )
    assert can.stdout.strip() == "no", can.stdout + can.stderr
    workers_before = {
        p["metadata"]["uid"] for p in (await _json(kubeconfig, "get", "pods", "-n", namespaces.swarms))["items"]
    }

    upgraded = await _helm(
        kubeconfig, "upgrade", *release, "--reuse-values",
        "--set", f"watchNamespaces={{{namespaces.swarms},{namespaces.other}}}",
    )  # fmt: skip
    assert upgraded.returncode == 0, f"{upgraded.stderr}\n{await _report(kubeconfig, namespaces.release)}"
    assert f"The operator watches the namespaces {namespaces.swarms}, {namespaces.other}" in upgraded.stdout
    can = await _kubectl(
        kubeconfig, "auth", "can-i", "list", "swarms.hivekeeper.io", "-n", namespaces.other, f"--as={account}"
    )
    assert can.stdout.strip() == "yes", can.stdout + can.stderr
    [pod] = await _operator_pods(kubeconfig, namespaces.release, "hkn")
    args = pod["spec"]["containers"][0]["args"]
    assert args[-4:] == ["--namespace", namespaces.swarms, "--namespace", namespaces.other], args
    await _wait_ready(kubeconfig, namespaces.other, "edge", namespaces.release)
    assert await _condition(kubeconfig, namespaces.swarms, "edge") == "True"
    workers_after = {
        p["metadata"]["uid"] for p in (await _json(kubeconfig, "get", "pods", "-n", namespaces.swarms))["items"]
    }
    assert workers_after == workers_before, "upgrading the operator restarts no worker"

    for namespace in (namespaces.swarms, namespaces.other):
        await _delete_swarm(kubeconfig, namespace, "edge")
    await _uninstall(kubeconfig, "hkn", namespaces.release)


@pytest.mark.timeout(900)
async def test_two_operator_pods_take_turns_through_kopf_peering(
    helm: Path,
    kubeconfig: Path,
    hivekeeper_crds: None,
    hivekeeper_images: dict[str, str],
    install_namespaces: Namespaces,
    sut: ScriptedServer,
    sut_url: str,
) -> None:
    """The oldest replica works, the other stands by; when the working one's pod goes, the other takes over."""
    namespaces = install_namespaces
    _adopt_existing_crds(kubeconfig, "hkp", namespaces.release, KOPF_CRDS)
    installed = await _helm(
        kubeconfig, "install", "hkp", str(CHART), "--namespace", namespaces.release,
        "-f", str(SCENARIOS["peering"]), *_image_values(hivekeeper_images),
        "--set", f"watchNamespaces={{{namespaces.swarms}}}", "--set", "rbac.namespaced=true",
        "--set", "crds.install=false", "--wait", "--timeout", "5m",
    )  # fmt: skip
    assert installed.returncode == 0, f"{installed.stderr}\n{await _report(kubeconfig, namespaces.release)}"
    try:
        pods = {pod["metadata"]["name"] for pod in await _operator_pods(kubeconfig, namespaces.release, "hkp")}
        assert len(pods) == 2, pods

        async def peers() -> dict[str, Any]:
            peering = await _json(kubeconfig, "get", "kopfpeering", "hkp-hivekeeper", "-n", namespaces.swarms)
            status = {k: v for k, v in (peering.get("status") or {}).items() if v}
            return status if set(status) == pods else {}

        try:
            both = await eventually(peers, timeout=120, interval=1.0, what="both operator pods in the KopfPeering")
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{await _report(kubeconfig, namespaces.release)}") from exc
        active = max(both, key=lambda peer: both[peer]["priority"])
        standby = next(peer for peer in both if peer != active)

        await _apply(kubeconfig, namespaces.swarms, _small_swarm(sut_url, 20))
        await _wait_ready(kubeconfig, namespaces.swarms, "edge", namespaces.release)
        logs = {pod: await _logs(kubeconfig, namespaces.release, pod) for pod in pods}
        handled = [pod for pod, text in logs.items() if "reconcile_swarm" in text]
        assert handled == [active], f"only the active operator ({active}) reconciles: {handled}"

        deleted = await _kubectl(kubeconfig, "delete", "pod", "-n", namespaces.release, active, "--wait=false")
        assert deleted.returncode == 0, deleted.stderr

        async def resumed() -> bool:
            return "Resuming operations" in await _logs(kubeconfig, namespaces.release, standby)

        await eventually(resumed, timeout=90, interval=1.0, what=f"the standby {standby} resuming")
        await _apply(kubeconfig, namespaces.swarms, _small_swarm(sut_url, 40))

        async def edited() -> bool:
            role = await _json(kubeconfig, "get", "workerrole", "edge-feeder", "-n", namespaces.swarms)
            status = role.get("status") or {}
            conditions = {c["type"]: c["status"] for c in status.get("conditions", [])}
            return status.get("configGeneration") == 2 and conditions.get("ConfigApplied") == "True"

        await eventually(edited, timeout=120, interval=1.0, what="the edit applied by the operator that took over")
        assert "reconcile_swarm" in await _logs(kubeconfig, namespaces.release, standby)
        await _delete_swarm(kubeconfig, namespaces.swarms, "edge")
    finally:
        await _helm(kubeconfig, "uninstall", "hkp", "--namespace", namespaces.release, "--wait", "--timeout", "3m")


def test_helm_is_the_pinned_version(helm: Path) -> None:
    version = subprocess.run([str(helm), "version", "--short"], capture_output=True, text=True, check=True)
    assert version.stdout.startswith("v3.22.0")
