"""The operator policy: what a Swarm author may borrow of the operator's rights (pure rules)."""

from __future__ import annotations

import pydantic
import pytest

from hivekeeper.api.workerrole import WorkerRoleSpec
from hivekeeper.operator import manifests, policy
from hivekeeper.operator.policy import RESERVED_ENV, Policy, parse

SAFE = Policy()


def _spec(fields: dict[str, object]) -> WorkerRoleSpec:
    """A WorkerRole spec with ``fields`` (a built-in role unless it names an image)."""
    base: dict[str, object] = {"swarmRef": "s"} if "image" in fields else {"swarmRef": "s", "role": "processor"}
    return WorkerRoleSpec.model_validate({**base, **fields})


def violations(fields: dict[str, object], rules: Policy) -> list[str]:
    return policy.violations(_spec(fields), rules)


def test_the_default_policy_runs_built_in_roles_with_plain_env() -> None:
    spec = {
        "role": "processor",
        "env": [{"name": "LOG_LEVEL", "value": "debug"}],
        "secretRef": {"name": "hivekeeper-a"},
    }
    assert violations(spec, SAFE) == []


def test_a_custom_image_is_refused_by_default_and_allowed_by_a_matching_pattern() -> None:
    [problem] = violations({"image": "evil.example/miner:1"}, SAFE)
    assert "image 'evil.example/miner:1' is not allowed" in problem
    assert "policy.allowedImages: none" in problem
    team = Policy(allowedImages=("registry.example/team-a/*",))
    assert violations({"image": "registry.example/team-a/worker:2"}, team) == []
    assert violations({"image": "registry.example/team-b/worker:2"}, team) != []


def test_env_may_not_read_secrets_unless_listed() -> None:
    spec = {"env": [{"name": "DB", "valueFrom": {"secretKeyRef": {"name": "db-creds", "key": "password"}}}]}
    [problem] = violations(spec, SAFE)
    assert "env[0] (DB) reads Secret 'db-creds'" in problem
    assert "policy.envSecrets: none" in problem
    assert violations(spec, Policy(envSecrets=("db-*",))) == []


@pytest.mark.parametrize("name", sorted(RESERVED_ENV))
def test_every_variable_the_operator_sets_is_reserved(name: str) -> None:
    [problem] = violations({"env": [{"name": name, "value": "x"}]}, Policy(allowedImages=("*",), envSecrets=("*",)))
    assert f"env[0].name {name!r} is reserved" in problem


def test_a_tunable_hivekeeper_variable_stays_allowed() -> None:
    assert violations({"env": [{"name": "HIVEKEEPER_STOP_GRACE_SECONDS", "value": "40"}]}, SAFE) == []


def test_secret_ref_must_match_the_allowed_names() -> None:
    [problem] = violations({"secretRef": {"name": "db-creds"}}, SAFE)
    assert "secretRef.name 'db-creds' is not allowed" in problem
    assert "policy.secretRefs: hivekeeper-*" in problem


def test_the_policy_json_is_strict_and_empty_means_the_defaults() -> None:
    assert parse(None) == SAFE
    assert parse("  ") == SAFE
    assert parse('{"allowedImages": ["a/*"]}').allowedImages == ("a/*",)
    with pytest.raises(pydantic.ValidationError, match="allowedImage"):
        parse('{"allowedImage": ["a/*"]}')


def _deployment(spec: dict[str, object]) -> dict[str, object]:
    return manifests.deployment(
        name="s-caller",
        namespace="ns",
        swarm="s",
        swarm_id="ns_s",
        role="caller",
        spec=_spec(spec),
        bootstrap_config={},
        owner={},
        defaults=manifests.WorkerDefaults(),
    )


def _container(deployment: dict[str, object]) -> dict[str, object]:
    return deployment["spec"]["template"]["spec"]["containers"][0]  # type: ignore[index,no-any-return]


def test_secret_ref_decides_the_secret_and_keys_the_workers_read() -> None:
    env = {e["name"]: e for e in _container(_deployment({}))["env"]}  # type: ignore[attr-defined]
    assert env["HIVEKEEPER_AMQP_URL"]["valueFrom"]["secretKeyRef"] == {"name": "hivekeeper-broker", "key": "amqpUrl"}
    ref = {"name": "hivekeeper-team-a", "amqpUrlKey": "url", "redisUrlKey": "redis"}
    env = {e["name"]: e for e in _container(_deployment({"secretRef": ref}))["env"]}  # type: ignore[attr-defined]
    assert env["HIVEKEEPER_AMQP_URL"]["valueFrom"]["secretKeyRef"] == {"name": "hivekeeper-team-a", "key": "url"}
    assert env["HIVEKEEPER_REDIS_URL"]["valueFrom"]["secretKeyRef"]["key"] == "redis"
    assert manifests.rollout_fingerprint(_spec({"secretRef": ref})) != manifests.rollout_fingerprint(_spec({}))


def test_a_role_without_resources_gets_the_default_requests_and_limits() -> None:
    assert _container(_deployment({}))["resources"] == manifests.DEFAULT_RESOURCES
    own = {"limits": {"memory": "2Gi"}}
    assert _container(_deployment({"resources": own}))["resources"] == own
