"""Every wire name comes from one place and refuses values that would break routing."""

from __future__ import annotations

import pytest

from hivekeeper.protocol import naming


def test_a_cluster_swarm_id_joins_namespace_and_name_with_an_underscore() -> None:
    assert naming.swarm_id("cards-usage", "perf") == "perf_cards-usage"
    assert naming.swarm_id("cards-usage") == "cards-usage"


def test_work_names_follow_the_design() -> None:
    assert naming.work_exchange("perf_cards") == "hivekeeper.perf_cards.work"
    assert naming.work_queue("perf_cards", "call") == "hivekeeper.perf_cards.call"
    assert naming.work_routing_key("perf_cards", "call") == naming.work_queue("perf_cards", "call")


def test_control_keys_follow_the_design() -> None:
    assert naming.signal_key("config-update", "s", "caller", "pod-1") == "signal.config-update.s.caller.pod-1"
    assert naming.outcome_key("config-update", "s", "r", "i") == "event.outcome.config-update.s.r.i"
    assert naming.metric_key("status-delta", "s", "r", "i") == "event.metric.status-delta.s.r.i"
    assert naming.alert_key("s", "r", "i") == "event.alert.alert.s.r.i"


def test_an_instance_hears_signals_to_itself_its_role_its_swarm_and_everyone() -> None:
    assert naming.control_bindings("s", "caller", "pod-1") == [
        "signal.*.s.caller.pod-1",
        "signal.*.s.caller.ALL",
        "signal.*.s.ALL.ALL",
        "signal.*.ALL.ALL.ALL",
    ]


@pytest.mark.parametrize("bad", ["has.dot", "star*", "hash#", "", "sp ace"])
def test_a_segment_that_would_break_routing_is_refused_naming_value_and_fix(bad: str) -> None:
    with pytest.raises(naming.InvalidName) as caught:
        naming.work_queue("s", bad)
    assert repr(bad) in str(caught.value)
    assert "use only letters, digits, '-' and '_'" in str(caught.value)


def test_routing_keys_parse_back_into_their_parts() -> None:
    assert naming.parse_routing_key("signal.config-update.s.r.i") == (
        "signal",
        "signal",
        "config-update",
        "s",
        "r",
        "i",
    )
    assert naming.parse_routing_key("event.metric.status-full.s.r.i") == (
        "event",
        "metric",
        "status-full",
        "s",
        "r",
        "i",
    )
    with pytest.raises(naming.InvalidName, match="neither"):
        naming.parse_routing_key("event.metric")


def test_exchange_names_are_ours_by_default_or_pockethives_and_a_bad_one_is_refused_with_the_fix() -> None:
    assert (naming.DEFAULT_EXCHANGES.control, naming.DEFAULT_EXCHANGES.work_exchange("ns_s")) == (
        "hivekeeper.control",
        "hivekeeper.ns_s.work",
    )
    pockethive = naming.Exchanges(naming.POCKETHIVE_CONTROL_EXCHANGE, naming.POCKETHIVE_WORK_EXCHANGE)
    assert (pockethive.control, pockethive.work_exchange("ns_s")) == ("ph.control", "ph.ns_s.hive")
    with pytest.raises(naming.InvalidName, match=r"must hold '\{swarm\}' exactly once, .*'ph\.\{swarm\}\.hive'"):
        naming.Exchanges(work="ph.{swarm}.{swarm}")
    with pytest.raises(naming.InvalidName, match="control exchange 'a b': use 1-200 letters, digits"):
        naming.Exchanges(control="a b")
    with pytest.raises(naming.InvalidName, match=r"swarmId 'a\.b'"):
        pockethive.work_exchange("a.b")
