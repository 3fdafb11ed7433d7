"""Operator planning is pure: children, desired config, digests, Deployments and topology from a Swarm."""

from __future__ import annotations

from pathlib import Path

import orjson

from hivekeeper.api.manifests import load_swarm
from hivekeeper.api.swarm import Swarm
from hivekeeper.api.workerrole import WorkerRoleSpec
from hivekeeper.operator import manifests, plan, topology
from hivekeeper.protocol import naming

QUICKSTART = Path(__file__).resolve().parents[3] / "examples" / "quickstart.yaml"


def _swarm(**spec_changes: object) -> Swarm:
    data = load_swarm(QUICKSTART).model_dump(mode="json", by_alias=True, exclude_none=True)
    data["metadata"]["namespace"] = "perf"
    data["spec"].update(spec_changes)
    return Swarm.model_validate(data)


def test_one_owned_workerrole_per_role_in_pipeline_order() -> None:
    children = plan.plan_children(_swarm(), uid="uid-1")
    assert [c.name for c in children] == [
        "quickstart-feeder",
        "quickstart-builder",
        "quickstart-caller",
        "quickstart-stats",
    ]
    caller = children[2].manifest
    assert caller["metadata"]["ownerReferences"][0] == {
        "apiVersion": "hivekeeper.io/v1alpha1",
        "kind": "Swarm",
        "name": "quickstart",
        "uid": "uid-1",
        "controller": True,
        "blockOwnerDeletion": True,
    }
    assert caller["metadata"]["labels"]["hivekeeper.io/role"] == "caller"
    assert caller["spec"]["replicas"] == 2
    assert caller["spec"]["work"] == {"in": "call", "out": "results"}


def test_desired_config_carries_the_swarms_vars_sut_and_templates() -> None:
    swarm = _swarm()
    config = plan.desired_config(swarm, swarm.spec.roles[1])
    assert config["serviceId"] == "cards"
    assert config["vars"] == {"currency": "EUR"}
    assert config["sut"]["endpoints"]["default"]["baseUrl"] == "http://cards-api.perf.svc:8080"
    assert [t["callId"] for t in config["templates"]] == ["balance", "topup"]


def test_a_role_feeding_a_pockethive_reader_sends_no_batches_and_the_others_keep_theirs() -> None:
    swarm = _swarm()
    data = swarm.model_dump(mode="json", by_alias=True, exclude_none=True)
    builder = data["spec"]["roles"][1]
    builder["config"]["outputs"] = {"batching": {"enabled": True, "maxItems": 64}}
    caller = data["spec"]["roles"][2]
    caller.update(protocol="pockethive", image="example.test/pockethive-processor:1")
    caller.pop("role", None)
    swarm = Swarm.model_validate(data)
    by_name = {r.name: plan.desired_config(swarm, r) for r in swarm.spec.roles}

    assert by_name[builder["name"]]["outputs"]["batching"] == {"enabled": False, "maxItems": 64}
    assert by_name["feeder"].get("outputs", {}).get("batching", {}).get("enabled", True) is True


def test_the_digest_changes_with_config_and_pause_but_not_with_replicas() -> None:
    base = {c.name: c.digest for c in plan.plan_children(_swarm(), "u")}
    paused = {c.name: c.digest for c in plan.plan_children(_swarm(paused=True), "u")}
    assert all(base[name] != paused[name] for name in base)
    swarm = _swarm()
    data = swarm.model_dump(mode="json", by_alias=True, exclude_none=True)
    data["spec"]["roles"][2]["replicas"] = 7
    scaled = {c.name: c.digest for c in plan.plan_children(Swarm.model_validate(data), "u")}
    assert scaled == base
    data["spec"]["vars"]["currency"] = "USD"
    repriced = {c.name: c.digest for c in plan.plan_children(Swarm.model_validate(data), "u")}
    assert all(repriced[name] != base[name] for name in base), "vars reach every role"


def test_consumers_are_enabled_before_producers() -> None:
    assert plan.enable_order(_swarm()) == ["builder", "caller", "stats", "feeder"]


def test_removed_roles_become_orphans() -> None:
    children = plan.plan_children(_swarm(), "u")
    assert plan.orphans(["quickstart-old", "quickstart-caller"], children) == ["quickstart-old"]


def test_the_swarm_id_joins_namespace_and_name() -> None:
    assert plan.swarm_id(_swarm()) == "perf_quickstart"


def test_the_deployment_carries_the_env_contract_with_credentials_from_a_secret() -> None:
    swarm = _swarm()
    child = plan.plan_children(swarm, "u")[2]
    owner = {"apiVersion": "hivekeeper.io/v1alpha1", "kind": "WorkerRole", "name": child.name, "uid": "wr-1"}
    deployment = manifests.deployment(
        name=child.name,
        namespace="perf",
        swarm="quickstart",
        swarm_id="perf_quickstart",
        role="caller",
        spec=WorkerRoleSpec.model_validate(child.manifest["spec"]),
        bootstrap_config=child.config,
        owner=owner,
        defaults=manifests.WorkerDefaults(),
    )
    pod = deployment["spec"]["template"]["spec"]
    [container] = pod["containers"]
    env = {e["name"]: e for e in container["env"]}
    assert env["HIVEKEEPER_AMQP_URL"]["valueFrom"]["secretKeyRef"] == {"name": "hivekeeper-broker", "key": "amqpUrl"}
    assert env["HIVEKEEPER_INSTANCE"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    assert (env["HIVEKEEPER_WORK_IN"]["value"], env["HIVEKEEPER_WORK_OUT"]["value"]) == ("call", "results")
    assert orjson.loads(env["HIVEKEEPER_CONFIG"]["value"])["threadCount"] == 16
    assert "amqp://" not in orjson.dumps(deployment).decode(), "no credentials in the Deployment"
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 65532
    assert pod["terminationGracePeriodSeconds"] == 30
    assert "command" not in container, "the image's ENTRYPOINT (`hivekeeper worker`) starts the worker"
    assert "args" not in container, "an extra `worker` argument once made every worker pod crash-loop"
    assert container["volumeMounts"] == [{"name": "tmp", "mountPath": "/tmp"}], "the one writable path"
    assert pod["volumes"] == [{"name": "tmp", "emptyDir": {"sizeLimit": manifests.TMP_SIZE_LIMIT}}]
    assert deployment["spec"]["selector"]["matchLabels"] == {
        "hivekeeper.io/swarm": "quickstart",
        "hivekeeper.io/role": "caller",
    }
    expected = "hivekeeper.io/role=caller,hivekeeper.io/swarm=quickstart"
    assert manifests.selector_string("quickstart", "caller") == expected


def test_workers_are_told_the_exchange_names_only_when_they_are_not_ours() -> None:
    swarm = _swarm()
    child = plan.plan_children(swarm, "u")[2]

    def env_of(defaults: manifests.WorkerDefaults) -> dict[str, str]:
        deployment = manifests.deployment(
            name=child.name,
            namespace="perf",
            swarm="quickstart",
            swarm_id="perf_quickstart",
            role="caller",
            spec=WorkerRoleSpec.model_validate(child.manifest["spec"]),
            bootstrap_config=child.config,
            owner={"apiVersion": "hivekeeper.io/v1alpha1", "kind": "WorkerRole", "name": child.name, "uid": "1"},
            defaults=defaults,
        )
        [container] = deployment["spec"]["template"]["spec"]["containers"]
        return {e["name"]: e.get("value", "") for e in container["env"]}

    assert "HIVEKEEPER_CONTROL_EXCHANGE" not in env_of(manifests.WorkerDefaults()), "default pods stay as they were"
    pockethive = naming.Exchanges(naming.POCKETHIVE_CONTROL_EXCHANGE, naming.POCKETHIVE_WORK_EXCHANGE)
    told = env_of(manifests.WorkerDefaults(exchanges=pockethive))
    assert (told["HIVEKEEPER_CONTROL_EXCHANGE"], told["HIVEKEEPER_WORK_EXCHANGE"]) == ("ph.control", "ph.{swarm}.hive")


def test_the_pod_grace_period_covers_a_longer_worker_stop_grace() -> None:
    assert manifests.termination_grace([]) == 30, "Kubernetes' default covers the worker's 20 s"
    assert manifests.termination_grace([{"name": "HIVEKEEPER_STOP_GRACE_SECONDS", "value": "5"}]) == 30
    assert manifests.termination_grace([{"name": "HIVEKEEPER_STOP_GRACE_SECONDS", "value": "90.5"}]) == 101
    assert manifests.termination_grace([{"name": "HIVEKEEPER_STOP_GRACE_SECONDS", "value": "soon"}]) == 30, (
        "a bad value is the worker's to refuse, with its message"
    )


def test_only_image_resources_env_work_and_role_roll_the_pods() -> None:
    spec = {"swarmRef": "s", "role": "processor", "replicas": 2, "config": {"threadCount": 4}, "work": {"in": "call"}}
    changed_live = {**spec, "replicas": 5, "config": {"threadCount": 64}}
    custom = {**{k: v for k, v in spec.items() if k != "role"}, "image": "custom:2"}

    def fingerprint(raw: dict[str, object]) -> dict[str, object]:
        return manifests.rollout_fingerprint(WorkerRoleSpec.model_validate(raw))

    assert fingerprint(spec) == fingerprint(changed_live)
    assert fingerprint(spec) != fingerprint(custom)
    assert fingerprint(spec) == {
        "image": None,
        "resources": None,
        "env": None,
        "work": {"in": "call"},
        "role": "processor",
        "secretRef": None,
    }, "as the API server holds the spec: the rollout digest of an unchanged WorkerRole never moves"


CSV_INPUT = {"type": "CSV_DATASET", "csv": {"filePath": "users.csv", "configMap": "users", "ratePerSec": 5}}


def _csv_deployment(config: dict[str, object]) -> dict[str, object]:
    spec = WorkerRoleSpec.model_validate({"swarmRef": "s", "role": "generator", "config": config, "work": {"out": "a"}})
    return manifests.deployment(
        name="s-feeder",
        namespace="perf",
        swarm="s",
        swarm_id="perf_s",
        role="feeder",
        spec=spec,
        bootstrap_config=config,
        owner={},
        defaults=manifests.WorkerDefaults(),
    )


def test_a_csv_inputs_configmap_is_mounted_read_only_where_the_worker_reads_its_file() -> None:
    pod = _csv_deployment({"inputs": CSV_INPUT})["spec"]["template"]["spec"]
    [container] = pod["containers"]
    assert {"name": "datasets", "mountPath": "/etc/hivekeeper/datasets", "readOnly": True} in container["volumeMounts"]
    assert {"name": "datasets", "configMap": {"name": "users"}} in pod["volumes"]
    no_map = {"inputs": {**CSV_INPUT, "csv": {"filePath": "/data/users.csv"}}}
    pod = _csv_deployment(no_map)["spec"]["template"]["spec"]
    assert [v["name"] for v in pod["volumes"]] == ["tmp"], "no ConfigMap named: nothing to mount"


def test_the_csv_file_keys_roll_the_pods_but_its_rate_does_not() -> None:
    def fingerprint(csv: dict[str, object]) -> dict[str, object]:
        config = {"inputs": {"type": "CSV_DATASET", "csv": csv}}
        spec = {"swarmRef": "s", "role": "generator", "config": config, "work": {"out": "a"}}
        return manifests.rollout_fingerprint(WorkerRoleSpec.model_validate(spec))

    base = fingerprint(CSV_INPUT["csv"])
    assert base["csvDataset"] == {"filePath": "users.csv", "configMap": "users", "columns": None, "delimiter": None}
    assert fingerprint({**CSV_INPUT["csv"], "ratePerSec": 50, "rotate": True}) == base
    assert fingerprint({**CSV_INPUT["csv"], "configMap": "users-v2"}) != base
    assert fingerprint({**CSV_INPUT["csv"], "columns": {"id": "int"}}) != base


def test_topology_has_one_exchange_and_a_queue_per_alias() -> None:
    planned = topology.topology("perf_quickstart", {"build", "call", "results"})
    assert naming.DEFAULT_EXCHANGES.work_exchange(planned.swarm_id) == "hivekeeper.perf_quickstart.work"
    pockethive = naming.Exchanges(naming.POCKETHIVE_CONTROL_EXCHANGE, naming.POCKETHIVE_WORK_EXCHANGE)
    assert pockethive.work_exchange(planned.swarm_id) == "ph.perf_quickstart.hive", "queue names stay ours"
    assert [q.name for q in planned.queues] == [
        "hivekeeper.perf_quickstart.build",
        "hivekeeper.perf_quickstart.call",
        "hivekeeper.perf_quickstart.results",
    ]
    assert all(q.routing_key == q.name for q in planned.queues)
    assert topology.role_aliases("call", None) == {"call"}


def test_an_autoscaled_role_keeps_the_count_its_autoscaler_set() -> None:
    swarm = _swarm()
    data = swarm.model_dump(mode="json", by_alias=True, exclude_none=True)
    data["spec"]["roles"][2]["autoscaled"] = True
    autoscaled = Swarm.model_validate(data)
    current = {"quickstart-caller": 7, "quickstart-feeder": 5}
    children = {c.name: c.manifest["spec"]["replicas"] for c in plan.plan_children(autoscaled, "u", current)}
    assert children["quickstart-caller"] == 7, "the autoscaler's count is applied unchanged"
    assert children["quickstart-feeder"] == 1, "a role that is not autoscaled gets roles[].replicas back"
    first = {c.name: c.manifest["spec"]["replicas"] for c in plan.plan_children(autoscaled, "u", {})}
    assert first["quickstart-caller"] == 2, "roles[].replicas is the initial count"
