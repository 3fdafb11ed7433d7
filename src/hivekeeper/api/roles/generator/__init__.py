"""The generator role: renders one item per tick of its clock (a SCHEDULER input by default)."""

from __future__ import annotations

from hivekeeper.api.roles.common import COMMON_LIVE
from hivekeeper.api.roles.definition import RoleDefinition
from hivekeeper.api.roles.generator.config import GeneratorConfig

LIVE = COMMON_LIVE | {"message"}
"""Everything but the input and output types: the message is re-rendered from the next item on."""

ROLE = RoleDefinition("generator", GeneratorConfig, LIVE, default_input="SCHEDULER")
