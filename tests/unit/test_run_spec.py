"""``spec.run``: durations, load stages, thresholds, and what is refused with the field and the fix."""

from __future__ import annotations

from copy import deepcopy
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from hivekeeper.api.run import RATE_BLOCKS, RunSpec, duration_seconds, rate_at, rate_input, stage_boundaries
from hivekeeper.api.swarm import SwarmSpec
from hivekeeper.local.run_plan import _rate_patch
from hivekeeper.operator import run_play

REPO = Path(__file__).resolve().parents[2]
STAGED = yaml.safe_load((REPO / "examples" / "staged-run.yaml").read_text())["spec"]


def _spec(**run_changes: Any) -> dict[str, Any]:
    spec = deepcopy(STAGED)
    spec["run"].update(run_changes)
    return spec


def _refusal(spec: dict[str, Any]) -> str:
    with pytest.raises(ValidationError) as refused:
        SwarmSpec.model_validate(spec)
    return str(refused.value)


@pytest.mark.parametrize(("text", "seconds"), [("90s", 90), ("10m", 600), ("1h30m", 5400), ("250ms", 0.25)])
def test_durations_read_like_go_and_kubernetes(text: str, seconds: float) -> None:
    assert duration_seconds(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["10", "5 m", "1d", "-3s", ""])
def test_a_duration_in_another_form_is_refused_with_the_form_to_use(text: str) -> None:
    with pytest.raises(ValueError, match="write it like 90s, 10m, 1h30m or 500ms"):
        duration_seconds(text)


def test_a_run_longer_than_a_week_is_refused() -> None:
    assert "longer than 7 days" in _refusal(_spec(duration="200h"))


def test_the_staged_example_ramps_holds_spikes_and_comes_back() -> None:
    run = SwarmSpec.model_validate(STAGED).run
    assert run is not None
    [feeder] = run.stages
    assert [rate_at(feeder, t) for t in (0, 2.5, 5, 10, 14, 15, 17.5, 20, 30)] == pytest.approx(
        [0, 100, 200, 200, 400, 600, 400, 200, 200]
    )
    assert run.seconds == 20
    assert [round(end) for _, end, _ in stage_boundaries(feeder)] == [5, 13, 15, 20]


def test_a_run_needs_an_end() -> None:
    message = _refusal(_spec(duration=None, stages=[]))
    assert "a run needs an end: set duration, maxItems or stages" in message


def test_stages_longer_than_the_duration_are_refused_naming_the_role() -> None:
    message = _refusal(_spec(duration="10s"))
    assert "the stages of role 'feeder' last 20 s, longer than the run's duration 10s" in message


def test_two_load_shapes_for_one_role_overlap_and_are_refused() -> None:
    stages = STAGED["run"]["stages"] * 2
    assert "role 'feeder' has two load shapes that would overlap" in _refusal(_spec(stages=stages))


def test_a_ramp_to_a_negative_rate_is_refused_at_the_step() -> None:
    stages = deepcopy(STAGED["run"]["stages"])
    stages[0]["steps"][1]["target"] = -5
    message = _refusal(_spec(stages=stages))
    assert "stages.0.steps.1.target" in message
    assert "greater than or equal to 0" in message


def test_a_threshold_on_an_unknown_role_names_the_threshold_and_the_roles() -> None:
    thresholds = [*STAGED["run"]["thresholds"], {"role": "callr", "metric": "p95", "max": 300}]
    message = _refusal(_spec(thresholds=thresholds))
    assert "run.thresholds[4].role: no role named 'callr' in spec.roles (roles: feeder, builder, caller, stats)" in (
        message
    )


def test_a_step_threshold_needs_an_http_sequence_role_with_that_step() -> None:
    thresholds = [{"role": "caller", "step": "login", "metric": "p95", "max": 300}]
    message = _refusal(_spec(thresholds=thresholds))
    assert "run.thresholds[0].step: role 'caller' is a processor; only http-sequence has steps" in message


def test_stages_on_a_role_without_an_input_rate_are_refused() -> None:
    stages = [{"role": "builder", "steps": [{"duration": "5s", "target": 10}]}]
    message = _refusal(_spec(stages=stages))
    assert "run.stages[0].role: role 'builder' has no input rate to shape" in message


@pytest.mark.parametrize(
    ("inputs", "paced"),
    [
        ({}, "SCHEDULER"),
        ({"type": "REDIS_DATASET"}, "REDIS_DATASET"),
        ({"type": "CSV_DATASET"}, "CSV_DATASET"),
        ({"type": "RABBITMQ"}, None),
    ],
)
def test_stages_drive_the_rate_of_a_clock_a_redis_dataset_or_a_csv_dataset(
    inputs: dict[str, str], paced: str | None
) -> None:
    assert rate_input("generator", {"inputs": inputs}) == paced
    if paced is not None:
        block = RATE_BLOCKS[paced]
        assert _rate_patch(paced, 12.5) == {"inputs": {block: {"ratePerSec": 12.5}}}
        assert run_play.rate_block(paced) == block


@pytest.mark.parametrize(
    ("threshold", "said"),
    [
        ({"role": "caller", "metric": "p95"}, "needs `max` or `min`"),
        ({"role": "caller", "metric": "errorRate", "max": 5}, "max 5 is above 1; rates are fractions"),
        ({"role": "caller", "metric": "p95", "min": 10, "max": 5}, "min 10 is above max 5"),
    ],
)
def test_a_threshold_without_a_sensible_limit_is_refused(threshold: dict[str, Any], said: str) -> None:
    assert said in _refusal(_spec(thresholds=[threshold]))


def test_a_swarm_without_a_run_runs_on() -> None:
    spec = deepcopy(STAGED)
    del spec["run"]
    assert SwarmSpec.model_validate(spec).run is None


def test_thresholds_are_labelled_as_written() -> None:
    run = RunSpec.model_validate(
        {"duration": "1m", "thresholds": [{"role": "journey", "step": "login", "metric": "p99", "min": 1, "max": 9}]}
    )
    assert run.thresholds[0].label() == "journey/login p99 >= 1 and <= 9"
