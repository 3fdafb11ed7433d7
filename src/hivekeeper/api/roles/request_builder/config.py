"""The request-builder's config: which HTTP call template each item selects, and what happens when none does."""

from __future__ import annotations

from pydantic import Field

from hivekeeper.api.roles.base import OptionalText
from hivekeeper.api.roles.common import CommonConfig


class RequestBuilderConfig(CommonConfig):
    """Turns each item into an HTTP request envelope from the call template its `x-ph-call-id` header selects."""

    serviceId: str = Field(default="default", min_length=1, description="Default serviceId of call ids.")
    templateRoot: OptionalText = Field(default=None, description="Directory of *.yaml/*.json templates.")
    passThroughOnMissingTemplate: bool = Field(
        default=False, description="Forward items whose call id has no template (else drop, count, alert)."
    )
