"""The Secrets of auth profiles on the cluster: mounted read-only into the pods of the roles that use them,
allowed by the policy's authSecrets, and a new one rolls the pods (a rotated one does not need to)."""

from __future__ import annotations

from typing import Any

from hivekeeper.api.auth import SECRETS_MOUNT
from hivekeeper.api.workerrole import WorkerRoleSpec
from hivekeeper.operator import manifests, policy
from hivekeeper.operator.policy import Policy


def _auth(*secrets: str) -> dict[str, Any]:
    return {
        f"p{i}": {"type": "bearer", "token": {"secretKeyRef": {"name": name, "key": "token"}}}
        for i, name in enumerate(secrets)
    }


def _spec(auth: dict[str, Any] | None = None) -> WorkerRoleSpec:
    config: dict[str, Any] = {"baseUrl": "http://sut"}
    if auth is not None:
        config["auth"] = auth
    return WorkerRoleSpec.model_validate({"swarmRef": "s", "role": "processor", "config": config})


def _pod(spec: WorkerRoleSpec) -> dict[str, Any]:
    deployment = manifests.deployment(
        name="s-caller",
        namespace="ns",
        swarm="s",
        swarm_id="ns_s",
        role="caller",
        spec=spec,
        bootstrap_config={},
        owner={},
        defaults=manifests.WorkerDefaults(),
    )
    pod: dict[str, Any] = deployment["spec"]["template"]["spec"]
    return pod


def test_each_secret_an_auth_profile_reads_is_mounted_once_read_only_where_the_worker_looks() -> None:
    pod = _pod(_spec(_auth("hivekeeper-idp", "hivekeeper-api", "hivekeeper-idp")))
    volumes = {v["name"]: v for v in pod["volumes"]}
    mounts = {m["name"]: m for m in pod["containers"][0]["volumeMounts"]}
    mounted = {volumes[name]["secret"]["secretName"]: mount for name, mount in mounts.items() if name != "tmp"}
    assert set(mounted) == {"hivekeeper-api", "hivekeeper-idp"}
    for name, mount in mounted.items():
        assert mount == {**mount, "mountPath": f"{SECRETS_MOUNT}/{name}", "readOnly": True}
    assert {v["secret"]["defaultMode"] for v in volumes.values() if "secret" in v} == {0o440}
    assert pod["securityContext"]["fsGroup"] == pod["securityContext"]["runAsUser"], "readable by the worker only"
    env = pod["containers"][0]["env"]
    assert not any("token" in str(e.get("valueFrom", "")) for e in env), "no credential as env"


def test_a_role_without_auth_or_that_calls_no_sut_gets_no_secret_volume_and_keeps_its_rollout_digest() -> None:
    pod = _pod(_spec())
    assert [v["name"] for v in pod["volumes"]] == ["tmp"]
    assert "fsGroup" not in pod["securityContext"]
    assert "authSecrets" not in manifests.rollout_fingerprint(_spec())
    builder = WorkerRoleSpec.model_validate(
        {"swarmRef": "s", "role": "request-builder", "config": {"auth": _auth("hivekeeper-idp")}}
    )
    assert [v["name"] for v in _pod(builder)["volumes"]] == ["tmp"], "it passes a profile's name, reads nothing"
    assert policy.violations(builder, Policy(authSecrets=())) == []


def test_naming_another_secret_rolls_the_pods_but_editing_a_profile_otherwise_does_not() -> None:
    before = manifests.rollout_fingerprint(_spec(_auth("hivekeeper-a")))
    assert manifests.rollout_fingerprint(_spec(_auth("hivekeeper-b"))) != before
    other_key = _auth("hivekeeper-a")
    other_key["p0"]["token"]["secretKeyRef"]["key"] = "rotated"
    assert manifests.rollout_fingerprint(_spec(other_key)) == before


def test_the_policy_allows_auth_secrets_named_hivekeeper_star_by_default_and_names_the_others() -> None:
    assert policy.violations(_spec(_auth("hivekeeper-idp")), Policy()) == []
    [problem] = policy.violations(_spec(_auth("db-admin")), Policy())
    assert "auth profiles read Secret 'db-admin'" in problem
    assert "policy.authSecrets: hivekeeper-*" in problem
    assert policy.violations(_spec(_auth("db-admin")), Policy(authSecrets=("db-*",))) == []
