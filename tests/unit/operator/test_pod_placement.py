"""spec.pod: Swarm defaults and role overrides reach each role's Deployment; only tightening of the hardening is
accepted; the operator policy governs ServiceAccounts and priority classes; an edit rolls only that role."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pydantic
import pytest

from hivekeeper.api.crd import all_crds
from hivekeeper.api.manifests import load_swarm
from hivekeeper.api.pod_template import PodTemplate, merged
from hivekeeper.api.swarm import Swarm
from hivekeeper.api.workerrole import WorkerRoleSpec
from hivekeeper.operator import manifests, plan, policy
from hivekeeper.operator.bodies import WorkerRoleBody
from hivekeeper.operator.role_reconcile import rollout_digest
from hivekeeper.validate.run import validate_text

QUICKSTART = Path(__file__).resolve().parents[3] / "examples" / "quickstart.yaml"
POOL = {"nodeSelector": {"pool": "loadgen"}, "tolerations": [{"key": "loadgen", "operator": "Exists"}]}


def _swarm(pod: dict[str, Any] | None = None, role_pods: dict[str, dict[str, Any]] | None = None) -> Swarm:
    data = load_swarm(QUICKSTART).model_dump(mode="json", by_alias=True, exclude_none=True)
    data["metadata"]["namespace"] = "perf"
    if pod is not None:
        data["spec"]["pod"] = pod
    for role in data["spec"]["roles"]:
        if role["name"] in (role_pods or {}):
            role["pod"] = (role_pods or {})[role["name"]]
    return Swarm.model_validate(data)


def _children(swarm: Swarm) -> dict[str, dict[str, Any]]:
    return {c.manifest["metadata"]["labels"]["hivekeeper.io/role"]: c.manifest for c in plan.plan_children(swarm, "u")}


def _deployment(spec: dict[str, Any]) -> dict[str, Any]:
    role_spec = WorkerRoleSpec.model_validate(spec)
    return manifests.deployment(
        name="quickstart-caller",
        namespace="perf",
        swarm="quickstart",
        swarm_id="perf_quickstart",
        role="caller",
        spec=role_spec,
        bootstrap_config=dict(role_spec.config),
        owner={"apiVersion": "hivekeeper.io/v1alpha1", "kind": "WorkerRole", "name": "quickstart-caller", "uid": "u"},
        defaults=manifests.WorkerDefaults(),
    )


def test_swarm_defaults_reach_every_role_and_a_role_overrides_field_by_field() -> None:
    swarm = _swarm(
        {**POOL, "annotations": {"sidecar.istio.io/inject": "false"}, "labels": {"team": "perf"}},
        {"caller": {"nodeSelector": {"zone": "b"}, "tolerations": [], "labels": {"tier": "call"}}},
    )
    children = _children(swarm)
    assert children["feeder"]["spec"]["pod"] == {
        **POOL,
        "annotations": {"sidecar.istio.io/inject": "false"},
        "labels": {"team": "perf"},
    }
    caller = children["caller"]["spec"]["pod"]
    assert caller["nodeSelector"] == {"pool": "loadgen", "zone": "b"}, "maps merge key by key"
    assert caller["tolerations"] == [], "a list the role sets replaces the Swarm's"
    assert caller["labels"] == {"team": "perf", "tier": "call"}
    assert caller["annotations"] == {"sidecar.istio.io/inject": "false"}


def test_a_swarm_without_pod_blocks_writes_none_into_its_workerroles() -> None:
    assert all("pod" not in child["spec"] for child in _children(_swarm()).values())
    assert merged(None, None) is None


def test_the_deployment_carries_placement_metadata_identity_and_pull_secrets() -> None:
    pod_block = {
        **POOL,
        "affinity": {
            "podAntiAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": [
                    {"labelSelector": {"matchLabels": {"app": "cards-api"}}, "topologyKey": "kubernetes.io/hostname"}
                ]
            }
        },
        "topologySpreadConstraints": [
            {"maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone", "whenUnsatisfiable": "ScheduleAnyway"}
        ],
        "priorityClassName": "loadgen",
        "serviceAccountName": "loadgen",
        "imagePullSecrets": [{"name": "mirror-pull"}],
        "annotations": {"sidecar.istio.io/inject": "false"},
        "labels": {"team": "perf"},
    }
    spec = _children(_swarm(pod_block))["caller"]["spec"]
    template = _deployment(spec)["spec"]["template"]
    pod = template["spec"]
    for key in ("nodeSelector", "tolerations", "affinity", "topologySpreadConstraints", "imagePullSecrets"):
        assert pod[key] == pod_block[key], key
    assert pod["priorityClassName"] == "loadgen"
    assert pod["serviceAccountName"] == "loadgen"
    assert pod["automountServiceAccountToken"] is False, "the account's token still stays out of the worker"
    assert template["metadata"]["annotations"] == {"sidecar.istio.io/inject": "false"}
    assert template["metadata"]["labels"]["team"] == "perf"
    assert template["metadata"]["labels"]["hivekeeper.io/role"] == "caller", "the selector labels stay"


def test_security_contexts_may_tighten_and_the_floor_stays() -> None:
    block = {
        "securityContext": {"runAsUser": 10001, "runAsGroup": 10001, "fsGroup": 10001},
        "containerSecurityContext": {
            "seccompProfile": {"type": "Localhost", "localhostProfile": "profiles/worker.json"},
            "capabilities": {"drop": ["NET_RAW"]},
        },
    }
    spec = _children(_swarm(block))["caller"]["spec"]
    pod = _deployment(spec)["spec"]["template"]["spec"]
    assert pod["securityContext"] == {
        "runAsNonRoot": True,
        "runAsUser": 10001,
        "runAsGroup": 10001,
        "fsGroup": 10001,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    container = pod["containers"][0]["securityContext"]
    assert container["capabilities"] == {"drop": ["ALL", "NET_RAW"]}
    assert container["readOnlyRootFilesystem"] is True
    assert container["allowPrivilegeEscalation"] is False
    assert container["seccompProfile"] == {"type": "Localhost", "localhostProfile": "profiles/worker.json"}


@pytest.mark.parametrize(
    ("block", "named"),
    [
        ({"securityContext": {"runAsUser": 0}}, "pod.securityContext.runAsUser 0 (root) is not allowed"),
        ({"securityContext": {"runAsNonRoot": False}}, "pod.securityContext.runAsNonRoot false is not allowed"),
        ({"securityContext": {"sysctls": [{"name": "net.core.somaxconn", "value": "4096"}]}}, "sysctls"),
        ({"securityContext": {"seccompProfile": {"type": "Unconfined"}}}, "seccompProfile.type Unconfined"),
        ({"containerSecurityContext": {"privileged": True}}, "privileged true is not allowed"),
        ({"containerSecurityContext": {"allowPrivilegeEscalation": True}}, "allowPrivilegeEscalation true"),
        ({"containerSecurityContext": {"readOnlyRootFilesystem": False}}, "readOnlyRootFilesystem false"),
        ({"containerSecurityContext": {"capabilities": {"add": ["NET_ADMIN"]}}}, "capabilities.add ['NET_ADMIN']"),
        ({"containerSecurityContext": {"appArmorProfile": {"type": "Unconfined"}}}, "appArmorProfile.type"),
        ({"labels": {"hivekeeper.io/role": "other"}}, "pod.labels key 'hivekeeper.io/role' is the operator's"),
        ({"labels": {"team": "perf team"}}, "is not a valid label value"),
        (
            {"annotations": {"container.apparmor.security.beta.kubernetes.io/worker": "unconfined"}},
            "would loosen the workers' security profile",
        ),
        ({"serviceAccountName": "Load_Gen"}, "pod.serviceAccountName 'Load_Gen' is not a valid Kubernetes name"),
        ({"imagePullSecrets": [{"secret": "x"}]}, "pod.imagePullSecrets[0].name None is not a Secret name"),
    ],
)
def test_loosening_or_malformed_values_are_refused_naming_the_field_and_the_fix(
    block: dict[str, Any], named: str
) -> None:
    with pytest.raises(pydantic.ValidationError) as caught:
        PodTemplate.model_validate(block)
    assert named in str(caught.value)


def test_a_pod_edit_rolls_only_the_role_it_changes() -> None:
    def digests(swarm: Swarm) -> dict[str, str]:
        out = {}
        for role, manifest in _children(swarm).items():
            body = WorkerRoleBody.model_validate({**manifest, "status": {}})
            out[role] = rollout_digest(body, manifests.WorkerDefaults())
        return out

    before = digests(_swarm())
    after = digests(_swarm(role_pods={"caller": POOL}))
    assert {role for role in before if before[role] != after[role]} == {"caller"}


def test_service_accounts_and_priority_classes_need_the_operator_policy() -> None:
    spec = WorkerRoleSpec.model_validate(
        {
            "swarmRef": "quickstart",
            "role": "processor",
            "pod": {"serviceAccountName": "loadgen", "priorityClassName": "loadgen-high"},
        }
    )
    found = policy.violations(spec, policy.Policy())
    assert found == [
        "pod.serviceAccountName 'loadgen' is not allowed by the operator policy (policy.serviceAccounts: none); "
        "leave it out to run as the namespace's default account, or ask the operator's admin to allow it",
        "pod.priorityClassName 'loadgen-high' is not allowed by the operator policy (policy.priorityClasses: none); "
        "leave it out, or ask the operator's admin to allow it",
    ]
    allowing = policy.Policy(serviceAccounts=("loadgen*",), priorityClasses=("loadgen-*",))
    assert policy.violations(spec, allowing) == []


def _spec_schema(kind_file: str) -> dict[str, Any]:
    crd = all_crds()[kind_file]
    schema: dict[str, Any] = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    return schema


def test_the_crd_takes_the_kubernetes_types_with_their_help() -> None:
    swarm_pod = _spec_schema("swarms.hivekeeper.io.yaml")["properties"]["pod"]
    role_pod = _spec_schema("swarms.hivekeeper.io.yaml")["properties"]["roles"]["items"]["properties"]["pod"]
    workerrole_pod = _spec_schema("workerroles.hivekeeper.io.yaml")["properties"]["pod"]
    assert swarm_pod["properties"] == role_pod["properties"] == workerrole_pod["properties"]
    toleration = swarm_pod["properties"]["tolerations"]["items"]
    assert toleration["properties"]["tolerationSeconds"] == {
        "description": toleration["properties"]["tolerationSeconds"]["description"],
        "format": "int64",
        "type": "integer",
    }
    assert "taint" in toleration["properties"]["effect"]["description"]
    assert swarm_pod["properties"]["tolerations"]["maxItems"] == 64
    affinity = swarm_pod["properties"]["affinity"]["properties"]
    assert set(affinity) == {"nodeAffinity", "podAffinity", "podAntiAffinity"}
    assert not _keys_named("default", swarm_pod), "no defaults: the API server must not write {} into every object"


def _keys_named(key: str, node: Any) -> list[Any]:
    if isinstance(node, dict):
        own = [node[key]] if key in node else []
        return own + [v for child in node.values() for v in _keys_named(key, child)]
    if isinstance(node, list):
        return [v for child in node for v in _keys_named(key, child)]
    return []


def test_validate_names_a_mistyped_kubernetes_field_in_the_pod_block() -> None:
    text = QUICKSTART.read_text().replace(
        "spec:\n", "spec:\n  pod:\n    tolerations:\n      - key: loadgen\n        tolerationSeconds: soon\n", 1
    )
    summary = validate_text(text, "pool.yaml")
    messages = [f"{f.path}: {f.message}" for f in summary.findings if f.severity == "error"]
    assert any("spec.pod.tolerations[0].tolerationSeconds" in m and "soon" in m for m in messages), messages
