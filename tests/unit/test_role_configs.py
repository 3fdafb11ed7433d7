"""The role registry in api/roles: one definition per built-in role, and each role's live keys as data."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from hivekeeper.api import roles as role_configs
from hivekeeper.api.roles.live import fixed_changes
from hivekeeper.api.roles.reference import PAGE, render
from hivekeeper.api.swarm import BUILTIN_ROLES, StageSpec


def _paths(model: type[BaseModel], prefix: str = "") -> set[str]:
    """Every dotted key path of ``model``, nested models included."""
    found: set[str] = set()
    for name, field in model.model_fields.items():
        path = f"{prefix}{name}"
        found.add(path)
        annotation = field.annotation
        nested = [a for a in getattr(annotation, "__args__", (annotation,)) if isinstance(a, type)]
        for candidate in nested:
            if issubclass(candidate, BaseModel):
                found |= _paths(candidate, f"{path}.")
    return found


def _covered(path: str, live: frozenset[str]) -> bool:
    return any(path == entry or path.startswith(f"{entry}.") for entry in live)


def test_the_registry_holds_exactly_the_roles_a_swarm_accepts() -> None:
    assert tuple(role_configs.ROLES) == BUILTIN_ROLES
    assert all(name == definition.name for name, definition in role_configs.ROLES.items())


@pytest.mark.parametrize("role", BUILTIN_ROLES)
def test_every_live_key_names_a_field_of_its_role(role: str) -> None:
    definition = role_configs.ROLES[role]
    assert definition.live <= _paths(definition.model), "a live key with a typo would silently stay fixed"


@pytest.mark.parametrize("role", BUILTIN_ROLES)
def test_only_the_input_and_output_types_and_the_csv_file_are_fixed_while_a_worker_runs(role: str) -> None:
    definition = role_configs.ROLES[role]
    parents = {path.rsplit(".", 1)[0] for path in _paths(definition.model) if "." in path}
    fixed = {p for p in _paths(definition.model) if not _covered(p, definition.live) and p not in parents}
    csv_file = {f"inputs.csv.{key}" for key in ("filePath", "configMap", "columns", "delimiter")}
    assert fixed == {"inputs.type", "outputs.type", *csv_file}


def test_a_change_outside_the_allowlist_is_named_with_its_values_unless_secret() -> None:
    old: dict[str, Any] = {"a": {"b": 1, "c": 2}, "token": "x", "d": {"e": 1}}
    new: dict[str, Any] = {"a": {"b": 1, "c": 3}, "token": "y", "d": {"e": 2}}
    assert fixed_changes(frozenset({"a.b", "d"}), old, new) == [
        ("a.c", "cannot change from 2 to 3 while the worker runs"),
        ("token", "cannot change while the worker runs"),
    ]


def test_a_fixed_input_type_says_what_is_live_instead() -> None:
    old, new = {"inputs": {"type": "SCHEDULER", "scheduler": 1}}, {"inputs": {"type": "RABBITMQ", "scheduler": 2}}
    assert fixed_changes(frozenset({"inputs.scheduler"}), old, new) == [
        (
            "inputs.type",
            "cannot change from SCHEDULER to RABBITMQ while the worker runs; only rates are live "
            "(edit the role's inputs to roll its pods)",
        )
    ]


def test_the_config_field_of_a_stage_names_every_role_and_where_its_keys_are_described() -> None:
    description = StageSpec.model_fields["config"].description or ""
    for role in BUILTIN_ROLES:
        assert f"`{role}`" in description
    assert "docs/roles.md" in description
    assert "hivekeeper validate" in description


def test_docs_roles_md_matches_the_models_run_hivekeeper_role_docs_to_update() -> None:
    page = Path(__file__).resolve().parents[2] / PAGE
    assert page.read_text() == render(), f"{PAGE} is stale: run `hivekeeper role-docs --out {PAGE}` (or `make crds`)"
