"""Config-updates are applied whole or not at all, and every rejection names the key, the value and the fix."""

from __future__ import annotations

import pytest

from hivekeeper.api import roles as role_configs
from hivekeeper.api.roles import ConfigError
from hivekeeper.api.roles.generator.config import GeneratorConfig
from hivekeeper.api.roles.moderator.config import ModeratorConfig
from hivekeeper.worker.control import WorkerState, apply_update, deep_merge


def _generator() -> WorkerState:
    return WorkerState.bootstrap(
        "generator", {"inputs": {"scheduler": {"ratePerSec": 10}}, "message": {"body": "x"}}, has_out=True
    )


def test_a_worker_starts_disabled_at_generation_zero_with_resolved_io() -> None:
    state = _generator()
    assert state.enabled is False
    assert state.generation == 0
    assert (state.input_type, state.output_type) == ("SCHEDULER", "RABBITMQ")


def test_a_patch_deep_merges_and_keeps_untouched_keys() -> None:
    state = apply_update(
        _generator(), {"inputs": {"scheduler": {"maxMessages": 5}}, "enabled": True, "configGeneration": 3}
    )
    assert isinstance(state.config, GeneratorConfig)
    assert state.config.inputs.scheduler.ratePerSec == 10
    assert state.config.inputs.scheduler.maxMessages == 5
    assert state.config.message.body == "x"
    assert (state.enabled, state.generation) == (True, 3)


def test_replace_makes_the_data_the_whole_config() -> None:
    state = apply_update(_generator(), {"replace": True, "message": {"body": "y"}})
    assert isinstance(state.config, GeneratorConfig)
    assert state.config.inputs.scheduler.ratePerSec == 1.0, "back to the default"
    assert state.config.message.body == "y"


def test_null_removes_a_key() -> None:
    assert deep_merge({"a": {"b": 1, "c": 2}}, {"a": {"c": None}}) == {"a": {"b": 1}}


@pytest.mark.parametrize(
    ("data", "path", "words"),
    [
        ({"inputs": {"scheduler": {"ratePerSec": -5}}}, "inputs.scheduler.ratePerSec", "greater than or equal to 0"),
        ({"messsage": {"body": "typo"}}, "messsage", "unknown key for role generator"),
        ({"inputs": {"scheduler": {"maxMessages": "lots"}}}, "inputs.scheduler.maxMessages", "(got 'lots')"),
        ({"enabled": "yes"}, "enabled", "must be true or false"),
        ({"configGeneration": -1}, "configGeneration", "non-negative integer"),
        ({"inputs": {"type": "RABBITMQ"}}, "inputs.type", "cannot change from SCHEDULER to RABBITMQ"),
    ],
)
def test_a_bad_update_is_rejected_naming_the_field_and_the_old_state_is_untouched(
    data: dict[str, object], path: str, words: str
) -> None:
    before = _generator()
    with pytest.raises(ConfigError) as caught:
        apply_update(before, data)
    paths = [p for p, _ in caught.value.problems]
    assert path in paths
    assert words in str(caught.value)
    assert before == _generator(), "a rejected update must not change the current state"


def test_processor_rate_mode_needs_a_rate() -> None:
    with pytest.raises(ConfigError, match="mode RATE_PER_SEC needs ratePerSec > 0"):
        role_configs.validate("processor", {"baseUrl": "http://x", "mode": "RATE_PER_SEC"})


def test_an_unknown_role_lists_the_built_in_ones() -> None:
    with pytest.raises(ConfigError, match="built-in roles: generator, request-builder"):
        role_configs.validate("teleporter", {})


@pytest.mark.parametrize(
    ("mode", "path", "message"),
    [
        ({"type": "rate-per-sec"}, "mode", "mode.type rate-per-sec needs mode.ratePerSec > 0"),
        ({"type": "sine"}, "mode", "mode.type sine needs mode.sine {minRatePerSec, maxRatePerSec, periodSeconds}"),
        (
            {"type": "sine", "sine": {"minRatePerSec": 8, "maxRatePerSec": 8}},
            "mode.sine",
            "maxRatePerSec (8) must be greater than minRatePerSec (8); for a steady rate use mode.type rate-per-sec",
        ),
        (
            {"type": "sine", "sine": {"maxRatePerSec": 8, "periodSeconds": 0}},
            "mode.sine.periodSeconds",
            "greater than 0",
        ),
        ({"type": "burst"}, "mode.type", "'pass-through', 'rate-per-sec' or 'sine' (got 'burst')"),
    ],
)
def test_a_moderator_mode_that_cannot_run_is_refused_naming_the_field_and_the_fix(
    mode: dict[str, object], path: str, message: str
) -> None:
    with pytest.raises(ConfigError) as refused:
        role_configs.validate("moderator", {"mode": mode})
    [(where, what)] = refused.value.problems
    assert where == path
    assert message in what


def test_a_moderator_passes_items_through_by_default() -> None:
    config = role_configs.validate("moderator", {})
    assert isinstance(config, ModeratorConfig)
    assert config.mode.type == "pass-through"


def _at(generation: int) -> WorkerState:
    return apply_update(_generator(), {"configGeneration": generation, "message": {"body": "five"}})


def test_an_update_older_than_the_held_generation_is_refused_and_the_config_stays() -> None:
    held = _at(5)
    with pytest.raises(ConfigError) as refused:
        apply_update(held, {"configGeneration": 3, "message": {"body": "three"}, "enabled": True})
    assert refused.value.problems == [
        (
            "configGeneration",
            "3 is older than generation 5 this worker holds; a delayed update cannot roll it back",
        )
    ]
    assert str(refused.value).startswith("generator config rejected: configGeneration: 3 is older than generation 5")
    assert held == _at(5), "the worker keeps its config, generation and switches"


def test_a_stale_update_is_refused_for_being_old_even_when_its_content_is_also_wrong() -> None:
    with pytest.raises(ConfigError) as refused:
        apply_update(_at(5), {"configGeneration": 4, "inputs": {"scheduler": {"ratePerSec": -1}}})
    assert [path for path, _ in refused.value.problems] == ["configGeneration"]


@pytest.mark.parametrize("generation", [5, 6])
def test_the_same_generation_again_and_a_newer_one_are_applied(generation: int) -> None:
    state = apply_update(_at(5), {"configGeneration": generation, "message": {"body": "again"}})
    assert isinstance(state.config, GeneratorConfig)
    assert (state.generation, state.config.message.body) == (generation, "again")


def test_an_update_without_a_generation_keeps_the_held_one() -> None:
    state = apply_update(_at(5), {"enabled": True})
    assert (state.generation, state.enabled) == (5, True)


def test_spelling_out_the_default_input_type_is_no_change() -> None:
    state = apply_update(_generator(), {"inputs": {"type": "SCHEDULER"}, "outputs": {"type": "RABBITMQ"}})
    assert state.input_type == "SCHEDULER"


def test_the_output_type_is_fixed_while_the_worker_runs() -> None:
    with pytest.raises(ConfigError) as refused:
        apply_update(_generator(), {"outputs": {"type": "NONE"}})
    assert refused.value.problems == [("outputs.type", "cannot change from RABBITMQ to NONE while the worker runs")]
