"""The request-builder role: turns each item into an HTTP request envelope from a call template."""

from __future__ import annotations

from hivekeeper.api.roles.common import COMMON_LIVE
from hivekeeper.api.roles.definition import RoleDefinition
from hivekeeper.api.roles.request_builder.config import RequestBuilderConfig

LIVE = COMMON_LIVE | {"serviceId", "templateRoot", "passThroughOnMissingTemplate"}
"""Everything but the input and output types: templates are loaded again when applied."""

ROLE = RoleDefinition("request-builder", RequestBuilderConfig, LIVE)
