"""The operator believes an event only for the scope its routing key names (the key is what the broker's
topic permissions check)."""

from __future__ import annotations

import pytest

from hivekeeper.operator.effects import _check_routing
from hivekeeper.operator.observations import MalformedEvent
from hivekeeper.protocol import envelope as env
from hivekeeper.protocol import naming

SCOPE = env.Scope(swarmId="team-a_s", role="caller", instance="c-0")
STATUS = env.metric("status-full", SCOPE, {"enabled": True}, origin="c-0")


def test_an_event_under_its_own_key_is_believed() -> None:
    _check_routing(STATUS, naming.metric_key("status-full", "team-a_s", "caller", "c-0"))


@pytest.mark.parametrize(
    "key",
    [
        naming.metric_key("status-full", "team-b_s", "caller", "c-0"),
        naming.metric_key("status-full", "team-a_s", "other", "c-0"),
        naming.metric_key("status-full", "team-a_s", "caller", "c-9"),
    ],
)
def test_a_body_claiming_another_scope_than_its_key_is_malformed(key: str) -> None:
    with pytest.raises(MalformedEvent, match="is not the one its routing key"):
        _check_routing(STATUS, key)


def test_a_key_that_is_no_event_key_is_malformed() -> None:
    with pytest.raises(MalformedEvent, match="neither signal"):
        _check_routing(STATUS, "event.metric")
