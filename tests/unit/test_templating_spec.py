"""spec.templating reaches every role's config (the one merge the operator, hivekeeper run and validate use),
with spec.run.id as templating.runId; a role's own config.templating wins key by key."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from hivekeeper.api.role_config import merged_role_config
from hivekeeper.api.roles.common import Templating
from hivekeeper.api.swarm import SwarmSpec

ROLE = {"name": "gen", "role": "generator", "config": {"message": {"body": "x"}}}


def spec(**fields: Any) -> SwarmSpec:
    return SwarmSpec.model_validate({"roles": [ROLE], **fields})


def test_a_swarm_without_templating_or_run_keeps_the_config_it_had() -> None:
    assert "templating" not in merged_role_config(spec(), {"message": {"body": "x"}})


def test_the_swarms_rules_and_run_id_reach_the_role() -> None:
    merged = merged_role_config(spec(templating={"undefined": "empty"}, run={"id": "r7", "duration": "1m"}), {})
    assert merged["templating"] == {"undefined": "empty", "runId": "r7"}
    assert Templating.model_validate(merged["templating"]).tagNewline == "keep"


def test_a_roles_own_templating_overrides_the_swarms_key_by_key() -> None:
    swarm = spec(templating={"undefined": "empty", "tagNewline": "trim"})
    merged = merged_role_config(swarm, {"templating": {"undefined": "strict", "reseed": True}})
    assert merged["templating"] == {"undefined": "strict", "tagNewline": "trim", "reseed": True}


@pytest.mark.parametrize("fields", [{"undefined": "lenient"}, {"tagNewline": "strip"}, {"trim": True}])
def test_an_unknown_rule_is_refused(fields: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        spec(templating=fields)
