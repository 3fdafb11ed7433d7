"""The Helm chart (helm/hivekeeper) against the bench's real API server: lint, render, server dry-run, install.

Every documented scenario (helm/hivekeeper/ci/*-values.yaml, and the default values) is linted, rendered
and applied with ``kubectl apply --dry-run=server``; contradictory values fail with the message that
shows the fix; a real ``helm install`` runs the operator pod (through the test node agent, as the chart's
ServiceAccount) and a quickstart Swarm becomes Ready; ``helm uninstall`` keeps the CRDs.
"""

from __future__ import annotations

import asyncio
import base64
import json
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from lightkube import AsyncClient, KubeConfig
from lightkube.generic_resource import create_namespaced_resource
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import Namespace, Secret

from testbench.helmtool import run_helm
from testbench.kube import run_kubectl
from testbench.node_agent import NodeAgent
from testbench.scripted_http import ScriptedServer, scripted_server
from testbench.waiting import eventually

pytestmark = pytest.mark.e2e
REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "helm" / "hivekeeper"
SERVICEMONITOR_CRD = REPO / "tests" / "support" / "helm" / "servicemonitor-crd.yaml"
SCENARIOS = {path.name.removesuffix("-values.yaml"): path for path in sorted((CHART / "ci").glob("*-values.yaml"))}
RENDER_NAMESPACE = "hk-chart-render"
SCENARIO_NAMESPACES = ("perf", "perf-2")
"""Namespaces the scenario files name (watchNamespaces, workers.secret.namespaces)."""
SwarmResource = create_namespaced_resource("hivekeeper.io", "v1alpha1", "Swarm", "swarms")
WorkerRole = create_namespaced_resource("hivekeeper.io", "v1alpha1", "WorkerRole", "workerroles")
KopfPeering = create_namespaced_resource("kopf.dev", "v1", "KopfPeering", "kopfpeerings")


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
    """A minimal monitoring.coreos.com ServiceMonitor CRD (tests/support/helm), so ServiceMonitors can be checked."""
    applied = run_kubectl(kubeconfig, "apply", "--server-side", "-f", str(SERVICEMONITOR_CRD))
    assert applied.returncode == 0, applied.stderr
    waited = run_kubectl(
        kubeconfig, "wait", "--for=condition=Established", "--timeout=60s", "crd/servicemonitors.monitoring.coreos.com"
    )
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
        "ServiceAccount",
    ]
    deployment = _one(docs, "Deployment", "-operator")
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}
    pod = deployment["spec"]["template"]
    assert pod["metadata"]["labels"]["app.kubernetes.io/name"] == "hivekeeper-operator"
    container = pod["spec"]["containers"][0]
    assert container["image"] == "hivekeeper/operator:0.1.0"
    assert container["command"] == ["hivekeeper", "operator"]
    assert container["args"] == ["--health-port", "8080", "--metrics-port", "9090"]
    env = {var["name"]: var for var in container["env"]}
    assert env["HIVEKEEPER_AMQP_URL"]["valueFrom"] == {"secretKeyRef": {"name": "hivekeeper-broker", "key": "amqpUrl"}}
    assert env["HIVEKEEPER_WORKER_IMAGE"]["value"] == "hivekeeper/worker:0.1.0"
    assert env["HIVEKEEPER_BROKER_SECRET"]["value"] == "hivekeeper-broker"
    for probe in ("livenessProbe", "readinessProbe"):
        assert container[probe]["httpGet"] == {"path": "/healthz", "port": "health"}
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
    default = _kinds(_render(helm))
    assert "Service" not in default
    assert "ServiceMonitor" not in default
    assert "Secret" not in default
    metrics = _render(helm, *_values_args("metrics"))
    service = _one(metrics, "Service", "-metrics")
    assert service["spec"]["ports"][0]["port"] == 9090
    monitor = _one(metrics, "ServiceMonitor")
    assert monitor["metadata"]["labels"]["release"] == "prometheus"
    assert monitor["spec"]["endpoints"][0]["interval"] == "15s"
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
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
    for where in ((RENDER_NAMESPACE, "hk-hivekeeper-connection"), ("perf", "hivekeeper-broker")):
        assert decoded(*where, "amqpUrl") == amqp, where
        assert decoded(*where, "redisUrl") == redis, where
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


# --- helm install for real -------------------------------------------------------------------------------


@pytest.fixture
async def sut() -> AsyncIterator[ScriptedServer]:
    async with scripted_server() as server:
        yield server


@pytest.fixture
async def install_namespaces(kubeconfig: Path, rabbitmq_url: str) -> AsyncIterator[tuple[str, str]]:
    """A release namespace and a swarm namespace, each with the `hivekeeper-broker` Secret; removed afterwards."""
    suffix = uuid.uuid4().hex[:8]
    release, swarms = f"hk-{suffix}", f"sw-{suffix}"
    kube = AsyncClient(config=KubeConfig.from_file(str(kubeconfig)))
    try:
        for namespace in (release, swarms):
            await kube.create(Namespace(metadata=ObjectMeta(name=namespace)))
            await kube.create(
                Secret(
                    metadata=ObjectMeta(name="hivekeeper-broker", namespace=namespace),
                    data={"amqpUrl": base64.b64encode(rabbitmq_url.encode()).decode()},
                )
            )
        yield release, swarms
    finally:
        for namespace in (swarms, release):
            await kube.delete(Namespace, namespace)
        await kube.close()


HIVEKEEPER_CRDS = ("swarms.hivekeeper.io", "workerroles.hivekeeper.io")
KOPF_CRDS = ("clusterkopfpeerings.kopf.dev", "kopfpeerings.kopf.dev")


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


def _diagnostics(agent: NodeAgent, kubeconfig: Path, *namespaces: str) -> str:
    pods = [run_kubectl(kubeconfig, "get", "pods", "-n", ns, "-o", "wide").stdout for ns in namespaces]
    return "\n".join([*pods, agent.diagnostics()])


async def _processes_gone(agent: NodeAgent, *namespaces: str, kubeconfig: Path | None = None) -> None:
    """Wait until the node agent has stopped every process of the pods of ``namespaces`` (as a kubelet would)."""

    async def gone() -> bool:
        return not [pod for pod in agent.pods.values() if pod.namespace in namespaces]

    try:
        # Garbage collection cascades Swarm -> WorkerRole -> Deployment -> ReplicaSet -> Pod: up to a GC resync each.
        await eventually(gone, timeout=150, interval=0.2, what=f"the node agent stopping the processes of {namespaces}")
    except AssertionError as exc:
        left = [f"{p.namespace}/{p.name} (exit {p.process.poll()})" for p in agent.pods.values()]
        objects = [
            run_kubectl(kubeconfig, "get", "swarm,workerrole,deploy,rs,pod", "-n", ns, "-o", "wide").stdout
            for ns in namespaces
            if kubeconfig is not None
        ]
        raise AssertionError(f"{exc}; still running: {left}; {agent.failures}; {objects}") from exc


async def _ready(kube: AsyncClient, name: str, namespace: str) -> bool:
    swarm = await kube.get(SwarmResource, name, namespace=namespace)
    conditions = {c["type"]: c for c in (swarm.get("status") or {}).get("conditions", [])}
    return conditions.get("Ready", {}).get("status") == "True"


async def test_helm_install_runs_the_operator_as_its_service_account_a_swarm_gets_ready_and_uninstall_keeps_crds(
    helm: Path,
    kubeconfig: Path,
    install_namespaces: tuple[str, str],
    node_agent: NodeAgent,
    sut: ScriptedServer,
) -> None:
    release_ns, swarm_ns = install_namespaces
    _adopt_existing_crds(kubeconfig, "hk", release_ns, HIVEKEEPER_CRDS)
    installed = await asyncio.to_thread(
        run_helm,
        "install",
        "hk",
        str(CHART),
        "--namespace",
        release_ns,
        "--set",
        f"watchNamespaces={{{swarm_ns}}}",
        "--set",
        "rbac.namespaced=true",
        "--wait",
        "--timeout",
        "3m",
        kubeconfig=kubeconfig,
        timeout=240,
    )
    assert installed.returncode == 0, f"{installed.stderr}\n{_diagnostics(node_agent, kubeconfig, release_ns)}"
    assert f"The operator watches the namespaces {swarm_ns}" in installed.stdout  # NOTES.txt
    account = f"system:serviceaccount:{release_ns}:hk-hivekeeper"
    for verb, resource, namespace, allowed in (
        ("list", "swarms.hivekeeper.io", swarm_ns, "yes"),
        ("patch", "deployments.apps", swarm_ns, "yes"),
        ("get", "secrets", swarm_ns, "no"),
        ("list", "swarms.hivekeeper.io", release_ns, "no"),
    ):
        answer = run_kubectl(kubeconfig, "auth", "can-i", verb, resource, "-n", namespace, f"--as={account}")
        assert answer.stdout.strip() == allowed, (verb, resource, namespace, answer.stdout, answer.stderr)

    quickstart = yaml.safe_load((REPO / "examples" / "quickstart.yaml").read_text())
    quickstart["spec"]["sut"]["endpoints"]["default"]["baseUrl"] = sut.url
    applied = run_kubectl(kubeconfig, "apply", "-n", swarm_ns, "-f", "-", stdin=yaml.safe_dump(quickstart))
    assert applied.returncode == 0, applied.stderr

    kube = AsyncClient(config=KubeConfig.from_file(str(kubeconfig)))
    try:
        try:
            await eventually(
                lambda: _ready(kube, "quickstart", swarm_ns), timeout=120, interval=0.5, what="Swarm quickstart Ready"
            )
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{_diagnostics(node_agent, kubeconfig, release_ns, swarm_ns)}") from exc
        roles = sorted([r["metadata"]["name"] async for r in kube.list(WorkerRole, namespace=swarm_ns)])
        assert roles == ["quickstart-builder", "quickstart-caller", "quickstart-feeder", "quickstart-stats"]
        deployments = run_kubectl(kubeconfig, "get", "deploy", "-n", swarm_ns, "-o", "name").stdout.split()
        assert sorted(deployments) == [f"deployment.apps/{role}" for role in roles]

        async def traffic() -> bool:  # Ready means every worker runs the config; items follow right after
            return any(r.startswith(b"GET /cards/card-") for r in sut.requests)

        await eventually(traffic, timeout=30, interval=0.2, what="card calls at the SUT")

        # The Swarm goes first, while the operator still runs its queue-cleanup finalizer.
        deleted = await asyncio.to_thread(
            run_kubectl, kubeconfig, "delete", "-n", swarm_ns, "swarm/quickstart", "--timeout=60s"
        )
        assert deleted.returncode == 0, deleted.stderr
    finally:
        await kube.close()

    uninstalled = await asyncio.to_thread(
        run_helm, "uninstall", "hk", "--namespace", release_ns, "--wait", kubeconfig=kubeconfig, timeout=180
    )
    assert uninstalled.returncode == 0, uninstalled.stderr
    assert "These resources were kept due to the resource policy" in uninstalled.stdout
    await _processes_gone(node_agent, release_ns, swarm_ns, kubeconfig=kubeconfig)
    for name in HIVEKEEPER_CRDS:
        kept = run_kubectl(
            kubeconfig, "get", "crd", name, "-o", "jsonpath={.status.conditions[?(@.type=='Established')].status}"
        )
        assert kept.stdout == "True", f"{name}: {kept.stderr}"
    gone = run_kubectl(
        kubeconfig,
        "get",
        "deploy,serviceaccount,role",
        "-n",
        release_ns,
        "-l",
        "app.kubernetes.io/instance=hk",
        "-o",
        "name",
    )
    assert gone.stdout.strip() == ""


async def test_two_operator_replicas_take_turns_through_kopf_peering(
    helm: Path,
    kubeconfig: Path,
    install_namespaces: tuple[str, str],
    node_agent: NodeAgent,
    sut: ScriptedServer,
) -> None:
    """The oldest replica works, the other stands by; when the working one's pod goes, the other takes over."""
    release_ns, swarm_ns = install_namespaces
    _adopt_existing_crds(kubeconfig, "hkp", release_ns, KOPF_CRDS)
    installed = await asyncio.to_thread(
        run_helm,
        "install",
        "hkp",
        str(CHART),
        "--namespace",
        release_ns,
        "-f",
        str(SCENARIOS["peering"]),
        "--set",
        f"watchNamespaces={{{swarm_ns}}}",
        "--set",
        "rbac.namespaced=true",
        "--set",
        "crds.install=false",
        "--wait",
        "--timeout",
        "3m",
        kubeconfig=kubeconfig,
        timeout=240,
    )
    assert installed.returncode == 0, f"{installed.stderr}\n{_diagnostics(node_agent, kubeconfig, release_ns)}"
    kube = AsyncClient(config=KubeConfig.from_file(str(kubeconfig)))
    try:

        async def peers() -> dict[str, Any]:
            peering = await kube.get(KopfPeering, "hkp-hivekeeper", namespace=swarm_ns)
            status = {k: v for k, v in (peering.get("status") or {}).items() if v}
            return status if len(status) == 2 else {}

        try:
            both = await eventually(peers, timeout=60, interval=0.5, what="two operators in the KopfPeering")
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{_diagnostics(node_agent, kubeconfig, release_ns)}") from exc
        active = max(both, key=lambda peer: both[peer]["priority"])
        standby = next(peer for peer in both if peer != active)

        swarm = yaml.safe_load((REPO / "examples" / "quickstart.yaml").read_text())
        swarm["spec"]["sut"]["endpoints"]["default"]["baseUrl"] = sut.url
        applied = run_kubectl(kubeconfig, "apply", "-n", swarm_ns, "-f", "-", stdin=yaml.safe_dump(swarm))
        assert applied.returncode == 0, applied.stderr
        await eventually(lambda: _ready(kube, "quickstart", swarm_ns), timeout=120, interval=0.5, what="Ready")
        logs = {path.name: path.read_text(errors="replace") for path in node_agent.workdir.glob(f"{release_ns}_*.log")}
        handled = [name for name, text in logs.items() if "reconcile_swarm" in text]
        assert handled == [f"{release_ns}_{active}.log"], f"only the active operator reconciles: {handled}"

        deleted = run_kubectl(kubeconfig, "delete", "pod", "-n", release_ns, active, "--wait=false")
        assert deleted.returncode == 0, deleted.stderr
        standby_log = node_agent.workdir / f"{release_ns}_{standby}.log"
        await eventually(
            lambda: _contains(standby_log, "Resuming operations"), timeout=30, interval=0.5, what="the standby resuming"
        )
        patched = run_kubectl(
            kubeconfig,
            "patch",
            "-n",
            swarm_ns,
            "swarm/quickstart",
            "--type=merge",
            "-p",
            '{"spec":{"vars":{"currency":"USD"}}}',
        )
        assert patched.returncode == 0, patched.stderr

        async def edited() -> bool:
            role = await kube.get(WorkerRole, "quickstart-caller", namespace=swarm_ns)
            status = role.get("status") or {}
            conditions = {c["type"]: c["status"] for c in status.get("conditions", [])}
            return status.get("configGeneration") == 2 and conditions.get("ConfigApplied") == "True"

        await eventually(edited, timeout=60, interval=0.5, what="the edit applied by the operator that took over")
        await asyncio.to_thread(run_kubectl, kubeconfig, "delete", "-n", swarm_ns, "swarm/quickstart", "--timeout=60s")
    finally:
        await kube.close()
        await asyncio.to_thread(
            run_helm, "uninstall", "hkp", "--namespace", release_ns, "--wait", kubeconfig=kubeconfig, timeout=180
        )
        await _processes_gone(node_agent, release_ns, swarm_ns)


async def _contains(path: Path, text: str) -> bool:
    return await asyncio.to_thread(lambda: path.is_file() and text in path.read_text(errors="replace"))


def test_helm_is_the_pinned_version(helm: Path) -> None:
    version = subprocess.run([str(helm), "version", "--short"], capture_output=True, text=True, check=True)
    assert version.stdout.startswith("v3.22.0")
