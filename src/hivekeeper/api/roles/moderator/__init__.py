"""The moderator role: shapes the flow between two stages; items wait for their slot, then go on unchanged."""

from __future__ import annotations

from hivekeeper.api.roles.common import COMMON_LIVE
from hivekeeper.api.roles.definition import RoleDefinition
from hivekeeper.api.roles.moderator.config import ModeratorConfig

LIVE = COMMON_LIVE | {"mode"}
"""Everything but the input and output types: a new mode shapes the next items."""

ROLE = RoleDefinition("moderator", ModeratorConfig, LIVE, guide="docs/worker.md#moderator")
