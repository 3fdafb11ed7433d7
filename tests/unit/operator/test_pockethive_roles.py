"""A `protocol: pockethive` role: its pods get the environment a PocketHive worker reads (no credential inline),
its variables are reserved, the protocol rolls the pods, and its workers are asked for their status where they
bind."""

from __future__ import annotations

from typing import Any

import pytest

from hivekeeper.api.workerrole import WorkerRoleSpec
from hivekeeper.operator import manifests, plan, policy
from hivekeeper.operator.bodies import WorkerRoleBody
from hivekeeper.operator.pockethive_env import BROKER_SECRET_KEYS
from hivekeeper.operator.policy import Policy
from hivekeeper.protocol import naming, pockethive
from operator_harness import NAMESPACE, Operator, swarm_body

IMAGE = "ph/processor:1"
OPEN = Policy(allowedImages=("*",))


def _spec(**fields: Any) -> WorkerRoleSpec:
    base: dict[str, Any] = {"swarmRef": "cards", "image": IMAGE, "protocol": "pockethive", "work": {"in": "call"}}
    return WorkerRoleSpec.model_validate({**base, **fields})


def _deployment(spec: WorkerRoleSpec, **kwargs: Any) -> dict[str, Any]:
    return manifests.deployment(
        name="cards-caller",
        namespace="perf",
        swarm="cards",
        swarm_id="perf_cards",
        role="caller",
        spec=spec,
        bootstrap_config={"baseUrl": "http://sut:8080"},
        owner={},
        defaults=manifests.WorkerDefaults(),
        **kwargs,
    )


def _env(deployment: dict[str, Any]) -> dict[str, dict[str, Any]]:
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    return {var["name"]: var for var in container["env"]}


def test_a_pockethive_role_gets_every_variable_of_their_contract_mapped_onto_our_names() -> None:
    env = _env(_deployment(_spec(work={"in": "call", "out": "results"}), run_id="swarm-uid-7"))
    assert set(env) == set(pockethive.VARIABLES)
    values = {name: var["value"] for name, var in env.items() if "value" in var}
    assert values == {
        "POCKETHIVE_CONTROL_PLANE_EXCHANGE": naming.CONTROL_EXCHANGE,
        "POCKETHIVE_CONTROL_PLANE_CONTROL_QUEUE_PREFIX": "hivekeeper.control",
        "POCKETHIVE_CONTROL_PLANE_SWARM_ID": "perf_cards",
        "POCKETHIVE_CONTROL_PLANE_WORKER_ROLE": "caller",
        "POCKETHIVE_INPUT_RABBIT_QUEUE": naming.work_queue("perf_cards", "call"),
        "POCKETHIVE_OUTPUT_RABBIT_EXCHANGE": naming.work_exchange("perf_cards"),
        "POCKETHIVE_OUTPUT_RABBIT_ROUTING_KEY": naming.work_routing_key("perf_cards", "results"),
        "POCKETHIVE_TEMPLATE_ID": "perf_cards",
        "POCKETHIVE_JOURNAL_RUN_ID": "swarm-uid-7",
    }
    assert naming.control_queue("perf_cards", "caller", "pod-1").startswith(
        values["POCKETHIVE_CONTROL_PLANE_CONTROL_QUEUE_PREFIX"] + "."
    ), "the worker's control queue is named like ours"
    assert env["POCKETHIVE_CONTROL_PLANE_INSTANCE_ID"]["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.name"}}


def test_the_broker_reaches_a_pockethive_pod_only_through_secret_key_refs() -> None:
    env = _env(_deployment(_spec()))
    for name, key in BROKER_SECRET_KEYS.items():
        assert env[name] == {"name": name, "valueFrom": {"secretKeyRef": {"name": "hivekeeper-broker", "key": key}}}
    assert env["SPRING_RABBITMQ_PASSWORD"]["valueFrom"]["secretKeyRef"]["key"] == "amqpPassword"
    assert "value" not in env["SPRING_RABBITMQ_PASSWORD"], "the password is never written into the pod spec"
    assert not any(str(var.get("value", "")).startswith(("amqp://", "amqps://")) for var in env.values())
    team = _spec(secretRef={"name": "hivekeeper-team-a"})
    assert _env(_deployment(team))["SPRING_RABBITMQ_PASSWORD"]["valueFrom"]["secretKeyRef"]["name"] == (
        "hivekeeper-team-a"
    )


def test_a_pockethive_pod_gets_none_of_our_variables_and_no_metrics_port_but_keeps_its_own_env() -> None:
    spec = _spec(env=[{"name": "JAVA_TOOL_OPTIONS", "value": "-Xmx256m"}])
    deployment = _deployment(spec)
    env = _env(deployment)
    assert not [name for name in env if name.startswith("HIVEKEEPER_")]
    assert env["JAVA_TOOL_OPTIONS"]["value"] == "-Xmx256m"
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    assert "ports" not in container
    assert container["image"] == IMAGE
    assert container["securityContext"]["readOnlyRootFilesystem"] is True


def test_an_unwired_side_sets_no_queue_or_routing_key_but_always_the_exchange() -> None:
    env = _env(_deployment(_spec(work={"out": "call"})))
    assert "POCKETHIVE_INPUT_RABBIT_QUEUE" not in env
    assert env["POCKETHIVE_OUTPUT_RABBIT_ROUTING_KEY"]["value"] == "hivekeeper.perf_cards.call"
    env = _env(_deployment(_spec(work={"in": "call"})))
    assert "POCKETHIVE_OUTPUT_RABBIT_ROUTING_KEY" not in env
    assert env["POCKETHIVE_OUTPUT_RABBIT_EXCHANGE"]["value"] == "hivekeeper.perf_cards.work"


def test_the_run_id_defaults_to_the_swarm_id() -> None:
    assert _env(_deployment(_spec()))["POCKETHIVE_JOURNAL_RUN_ID"]["value"] == "perf_cards"


def test_a_custom_image_of_our_protocol_keeps_our_environment() -> None:
    env = _env(_deployment(_spec(protocol="hivekeeper")))
    assert env["HIVEKEEPER_ROLE_KIND"]["value"] == "custom"
    assert not [name for name in env if name.startswith(("POCKETHIVE_", "SPRING_"))]


@pytest.mark.parametrize("name", pockethive.VARIABLES)
def test_a_pockethive_roles_env_may_not_set_a_variable_of_the_contract(name: str) -> None:
    [problem] = policy.violations(_spec(env=[{"name": name, "value": "x"}]), OPEN)
    assert f"env[0].name {name!r} is reserved" in problem


def test_the_contracts_variables_stay_free_for_a_role_of_our_protocol() -> None:
    spec = _spec(protocol="hivekeeper", env=[{"name": "SPRING_RABBITMQ_HOST", "value": "x"}])
    assert policy.violations(spec, OPEN) == []


def test_changing_the_protocol_rolls_the_pods_and_the_default_leaves_older_digests_alone() -> None:
    ours = WorkerRoleSpec.model_validate({"swarmRef": "cards", "image": IMAGE})
    assert manifests.rollout_fingerprint(_spec()) != manifests.rollout_fingerprint(ours)
    assert "protocol" not in manifests.rollout_fingerprint(ours)
    assert "protocol" not in manifests.rollout_fingerprint(_spec(protocol="hivekeeper"))


def test_the_swarm_hands_the_protocol_to_the_workerrole_of_that_stage() -> None:
    swarm = swarm_body()
    roles = [r.model_dump(by_alias=True, exclude_none=True) for r in swarm.spec.roles]
    roles[-1] = {**roles[-1], "image": IMAGE, "protocol": "pockethive"}
    roles[-1].pop("role")
    swarm = swarm_body(roles=roles)
    children = {c.name: c.manifest["spec"] for c in plan.plan_children(swarm, swarm.metadata.uid)}
    last = f"quickstart-{roles[-1]['name']}"
    assert children[last]["protocol"] == "pockethive"
    assert all("protocol" not in spec for name, spec in children.items() if name != last)


async def test_a_pockethive_role_is_asked_for_its_status_where_its_workers_bind_once_when_first_managed() -> None:
    operator = Operator()
    body = WorkerRoleBody.model_validate(
        {
            "metadata": {"name": "cards-caller", "namespace": NAMESPACE, "uid": "u1"},
            "spec": _spec().model_dump(by_alias=True, exclude_none=True),
        }
    )
    ours = body.model_copy(update={"spec": body.spec.model_copy(update={"protocol": "hivekeeper"})})
    ours = ours.model_copy(update={"metadata": ours.metadata.model_copy(update={"name": "cards-other"})})
    for _ in range(2):
        await operator.runtime.manage("perf_cards", body)
        await operator.runtime.manage("perf_cards", ours)
    assert operator.broker.status_requests == [("perf_cards", "cards-caller", naming.ALL)]
