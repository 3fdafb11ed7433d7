"""A worker whose RabbitMQ input or output has no queue stops with a config error that says what to set, not an
assertion's traceback (hivekeeper validate says the same before anything runs)."""

from __future__ import annotations

import pytest

from hivekeeper.api.roles import ConfigError
from hivekeeper.local.transports import MemoryTransports
from hivekeeper.worker.identity import Identity
from hivekeeper.worker.transports.memory import MemoryBroker


def test_no_work_in_or_out_is_a_config_error_naming_the_field_and_the_fix() -> None:
    transports = MemoryTransports(MemoryBroker(), "perf_noin")
    identity = Identity(swarm="perf_noin", role="caller", kind="processor", instance="caller-0")
    with pytest.raises(ConfigError) as caught:
        transports.source(identity, 10)
    assert caught.value.problems[0][0] == "work.in"
    assert "set work.in to the work.out alias of the role that feeds it" in str(caught.value)
    with pytest.raises(ConfigError) as caught:
        transports.sink(identity)
    assert caught.value.problems[0][0] == "work.out"
    assert "or set outputs.type: NONE" in str(caught.value)
