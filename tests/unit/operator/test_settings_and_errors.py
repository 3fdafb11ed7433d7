"""The operator reads its environment once into typed settings; the core's errors become kopf's only at the edge."""

from __future__ import annotations

from pathlib import Path

import kopf
import pytest

from hivekeeper.operator import handlers
from hivekeeper.operator.bodies import WorkerRoleBody, parse
from hivekeeper.operator.errors import InvalidResource, RetryLater, SettingsError
from hivekeeper.operator.manifests import DEFAULT_RESOURCES, WorkerDefaults
from hivekeeper.operator.policy import Policy
from hivekeeper.operator.settings import Settings
from hivekeeper.protocol import naming


def test_only_the_broker_url_is_required_and_everything_else_has_the_charts_defaults() -> None:
    settings = Settings.from_environ({"HIVEKEEPER_AMQP_URL": "amqp://u:p@rabbit:5672/", "KUBECONFIG": "/k/config"})
    assert (settings.amqp_url, settings.in_cluster, settings.kubeconfig) == (
        "amqp://u:p@rabbit:5672/",
        False,
        Path("/k/config"),
    )
    assert settings.policy == Policy()
    assert settings.worker_defaults(signal_key="") == WorkerDefaults(resources=DEFAULT_RESOURCES)


def test_every_variable_the_chart_sets_is_read() -> None:
    settings = Settings.from_environ(
        {
            "HIVEKEEPER_AMQP_URL": "amqp://rabbit",
            "KUBERNETES_SERVICE_HOST": "10.0.0.1",
            "HIVEKEEPER_SIGNING_KEY": " seed ",
            "HIVEKEEPER_WORKER_IMAGE": "team/worker:2",
            "HIVEKEEPER_BROKER_SECRET": "hivekeeper-team",
            "HIVEKEEPER_WORKER_RESOURCES": '{"limits": {"memory": "1Gi"}}',
            "HIVEKEEPER_POLICY": '{"allowedImages": ["team/*"]}',
            "HIVEKEEPER_CONTROL_EXCHANGE": "ph.control",
            "HIVEKEEPER_WORK_EXCHANGE": "ph.{swarm}.hive",
        }
    )
    assert (settings.in_cluster, settings.signing_seed) == (True, "seed")
    defaults = settings.worker_defaults(signal_key="pub")
    assert (defaults.image, defaults.secret_name, defaults.signal_key) == ("team/worker:2", "hivekeeper-team", "pub")
    assert defaults.resources == {"limits": {"memory": "1Gi"}}
    assert settings.policy.allowedImages == ("team/*",)
    assert defaults.exchanges == settings.exchanges == naming.Exchanges("ph.control", "ph.{swarm}.hive")


def test_every_bad_variable_is_named_at_once_with_the_fix() -> None:
    with pytest.raises(SettingsError) as raised:
        Settings.from_environ(
            {
                "HIVEKEEPER_WORKER_RESOURCES": "{limits",
                "HIVEKEEPER_POLICY": '{"allowedImage": []}',
                "HIVEKEEPER_WORK_EXCHANGE": "ph.hive",
            }
        )
    message = str(raised.value)
    assert "HIVEKEEPER_AMQP_URL is not set" in message
    assert "HIVEKEEPER_WORKER_RESOURCES is not JSON" in message
    assert "HIVEKEEPER_POLICY is not a valid operator policy" in message
    assert "allowedImage" in message
    assert "work exchange 'ph.hive' must hold '{swarm}' exactly once" in message
    assert "(Helm values `exchanges`)" in message


def test_the_core_errors_become_kopf_errors_only_in_the_handlers() -> None:
    retry = handlers.to_kopf(RetryLater("queues not deleted yet", delay=5))
    assert isinstance(retry, kopf.TemporaryError)
    assert retry.delay == 5
    assert isinstance(handlers.to_kopf(InvalidResource("bad")), kopf.PermanentError)
    assert isinstance(handlers.to_kopf(SettingsError("HIVEKEEPER_AMQP_URL is not set")), kopf.PermanentError)


def test_a_body_that_does_not_fit_its_model_names_the_object_and_the_field() -> None:
    with pytest.raises(
        InvalidResource,
        match=r"WorkerRole perf/x cannot be read: spec.swarmRef: Field required \(got \{.role.: .processor.\}\)",
    ):
        parse(WorkerRoleBody, {"metadata": {"name": "x"}, "spec": {"role": "processor"}}, "WorkerRole perf/x")


def test_a_workerrole_name_longer_than_a_swarm_name_is_read() -> None:
    name = "a-swarm-with-a-long-name-for-its-load-test-" + "r" * 40
    body = parse(WorkerRoleBody, {"metadata": {"name": name}, "spec": {"role": "processor", "swarmRef": "s"}}, "x")
    assert (body.metadata.name, body.role) == (name, name), "hand-written: its role is its own name"
