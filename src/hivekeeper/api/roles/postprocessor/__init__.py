"""The postprocessor role: aggregates processor results (latency, status codes) at the end of a pipeline."""

from __future__ import annotations

from hivekeeper.api.roles.common import COMMON_LIVE
from hivekeeper.api.roles.definition import RoleDefinition
from hivekeeper.api.roles.postprocessor.config import PostprocessorConfig

LIVE = COMMON_LIVE | {"forwardToOutput"}
"""Everything but the input and output types."""

ROLE = RoleDefinition("postprocessor", PostprocessorConfig, LIVE)
