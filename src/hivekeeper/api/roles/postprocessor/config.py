"""The postprocessor's config: whether items also go on to its output."""

from __future__ import annotations

from pydantic import Field

from hivekeeper.api.roles.common import CommonConfig


class PostprocessorConfig(CommonConfig):
    """Aggregates processor results (latency, status codes, and what result rules read: business codes, dimensions)
    at the end of a pipeline."""

    forwardToOutput: bool = Field(default=False, description="Also publish items to work.out.")
