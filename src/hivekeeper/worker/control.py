"""Applying a config-update: pure, atomic, all or nothing.

``data`` of a ``signal.config-update`` holds the role's config plus three reserved keys:
``enabled`` (start/stop work; absent = unchanged), ``configGeneration`` (the operator's counter,
echoed in status), and ``replace`` (true: the rest *is* the new config; false/absent: it is a patch
deep-merged onto the current config — maps merge, lists and scalars replace, ``null`` removes a key).
The result is validated as a whole, and must change only the keys its role lists as live; on any problem
nothing changes and the caller answers ``Failed`` with the reasons. An update older than the generation the
worker holds is refused the same way, so a delayed message cannot roll a worker back.
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass
from typing import Any

from hivekeeper.api import roles as role_configs
from hivekeeper.api.roles import ConfigError
from hivekeeper.api.roles.common import CommonConfig
from hivekeeper.api.roles.live import fixed_changes
from hivekeeper.errors import Refused

RESERVED = ("enabled", "configGeneration", "replace")


@dataclass(frozen=True)
class WorkerState:
    """What a worker runs with: the typed config, the raw form it came from, and switches."""

    role: str
    raw: dict[str, Any]
    config: CommonConfig
    enabled: bool
    generation: int
    default_input: str = "RABBITMQ"
    """Input type when the config names none (SCHEDULER for generators, else RABBITMQ)."""
    default_output: str = "NONE"
    """Output type when the config names none (RABBITMQ when the role has work.out)."""

    @classmethod
    def bootstrap(cls, role: str, raw: dict[str, Any], *, has_out: bool) -> WorkerState:
        """The state a worker starts in: its bootstrap config, disabled, generation 0."""
        return cls(
            role=role,
            raw=copy.deepcopy(raw),
            config=role_configs.validate(role, raw),
            enabled=False,
            generation=0,
            default_input=role_configs.ROLES[role].default_input,
            default_output="RABBITMQ" if has_out else "NONE",
        )

    @property
    def input_type(self) -> str:
        return self.config.inputs.type or self.default_input

    @property
    def output_type(self) -> str:
        return self.config.outputs.type or self.default_output

    @property
    def input_rate(self) -> float | None:
        """The configured rate of a paced input (SCHEDULER, REDIS_DATASET, CSV_DATASET), else None."""
        inputs = self.config.inputs
        if self.input_type == "SCHEDULER":
            return inputs.scheduler.ratePerSec
        block = inputs.redis if self.input_type == "REDIS_DATASET" else inputs.csv
        if self.input_type in ("REDIS_DATASET", "CSV_DATASET") and block is not None:
            return block.ratePerSec
        return None

    def effective(self) -> dict[str, Any]:
        """The config as the worker runs it: a plain dict with the input and output types resolved."""
        config = self.config.model_dump()
        config["inputs"]["type"] = self.input_type
        config["outputs"]["type"] = self.output_type
        return config


def deep_merge(base: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        elif isinstance(value, dict) and isinstance(out.get(key), dict) and value:
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _fixed_key_problems(old: WorkerState, new: WorkerState) -> list[tuple[str, str]]:
    """What ``new`` changes outside the role's live keys (:data:`RoleDefinition.live`)."""
    return fixed_changes(role_configs.ROLES[old.role].live, old.effective(), new.effective())


class StaleGeneration(ConfigError, Refused):
    """An update older than the generation the worker holds: nothing is wrong with its content, it came late.

    A ``ConfigError`` so that it is refused where every other config is; ``Refused`` because the worker declines
    it for what it is (late), not for its content."""


def stale_generation(requested: int, held: int) -> str:
    """Why an update of generation ``requested`` is refused by a worker that holds ``held``."""
    return f"{requested} is older than generation {held} this worker holds; a delayed update cannot roll it back"


def apply_update(state: WorkerState, data: dict[str, Any]) -> WorkerState:
    """The state after ``data`` is applied, or :class:`~hivekeeper.api.roles.ConfigError` with every problem.

    An update older than the generation the worker holds is refused whole (the operator only counts up, so it
    can only be a message that was delayed); the same generation again is a re-push and is applied.
    """
    problems: list[tuple[str, str]] = []
    enabled = data.get("enabled", state.enabled)
    if not isinstance(enabled, bool):
        problems.append(("enabled", f"must be true or false (got {enabled!r})"))
    generation = data.get("configGeneration", state.generation)
    if not isinstance(generation, int) or isinstance(generation, bool) or generation < 0:
        problems.append(("configGeneration", f"must be a non-negative integer (got {generation!r})"))
    elif generation < state.generation:
        # Refused before anything else: a delayed update's content does not matter, only that it is old.
        raise StaleGeneration(state.role, [("configGeneration", stale_generation(generation, state.generation))])
    replace = data.get("replace", False)
    body = {k: v for k, v in data.items() if k not in RESERVED}
    raw = copy.deepcopy(body) if replace is True else deep_merge(state.raw, body)
    new_config: CommonConfig | None = None
    try:
        new_config = role_configs.validate(state.role, raw)
    except ConfigError as exc:
        problems.extend(exc.problems)
    if new_config is None:
        raise ConfigError(state.role, problems)
    new_state = dataclasses.replace(
        state,
        raw=raw,
        config=new_config,
        enabled=bool(enabled),
        generation=generation if isinstance(generation, int) else state.generation,
    )
    problems.extend(_fixed_key_problems(state, new_state))
    if problems:
        raise ConfigError(state.role, problems)
    return new_state
