"""``inputs``: where a role's work comes from (a clock, its RabbitMQ queue or Redis lists)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from hivekeeper.api.roles.base import OptionalText, RoleModel
from hivekeeper.api.roles.redis import RedisBlock


class SchedulerInput(RoleModel):
    """Items at a fixed rate (the generator's clock)."""

    ratePerSec: float = Field(default=1.0, ge=0, description="Items per second (fractions carry over).")
    maxMessages: int = Field(default=0, ge=0, description="Stop after this many items; 0 = no limit.")
    reset: bool = Field(default=False, description="Restart the maxMessages count when applied.")


MAX_REDELIVERIES = 5
"""Default of ``inputs.rabbitmq.maxRedeliveries``: a few innocent redeliveries (a pod restart, a dropped
connection, a retried publish given back) pass; a loop does not (the issue measured 51 in 40 s)."""


class RabbitInput(RoleModel):
    """Reading the role's work.in queue."""

    prefetch: int | None = Field(
        default=None, ge=1, le=10000, description="Broker prefetch; defaults to the role's concurrency."
    )
    maxRedeliveries: int = Field(
        default=MAX_REDELIVERIES,
        ge=0,
        le=1000,
        description="An item delivered again more than this many times is poison: dead-lettered "
        "(deadLetter.enabled) or dropped, counted and alerted.",
    )


class RedisSource(RoleModel):
    """One list of a multi-list dataset."""

    listName: str = Field(min_length=1, description="Redis list to LPOP from.")
    weight: float = Field(default=1.0, gt=0, description="Relative share under WEIGHTED_RANDOM (> 0).")


class RedisDatasetInput(RedisBlock):
    """REDIS_DATASET: each item is one LPOP'd list element, at a live-adjustable rate."""

    listName: OptionalText = Field(default=None, min_length=1, description="The one list to read (or use sources).")
    sources: list[RedisSource] | None = Field(default=None, description="Several lists, each with a weight.")
    pickStrategy: Literal["ROUND_ROBIN", "WEIGHTED_RANDOM"] = Field(
        default="ROUND_ROBIN", description="Which list the next item is taken from; an empty one falls through."
    )
    ratePerSec: float = Field(default=1.0, ge=0, description="Items per second (live; fractions carry over).")
    pollIntervalMs: int = Field(
        default=500, ge=50, le=60_000, description="How often empty lists are polled again, in ms."
    )

    @field_validator("sources")
    @classmethod
    def _unique(cls, sources: list[RedisSource] | None) -> list[RedisSource] | None:
        names = [s.listName for s in sources or []]
        if repeated := sorted({n for n in names if names.count(n) > 1}):
            raise ValueError(f"list {', '.join(repeated)} appears more than once; give each list one entry")
        return sources

    @model_validator(mode="after")
    def _one_of(self) -> RedisDatasetInput:
        if self.listName and self.sources:
            raise ValueError("set listName or sources, not both (listName is one list; sources are weighted lists)")
        if not self.listName and not self.sources:
            raise ValueError("set listName (one list) or sources [{listName, weight}] (several lists)")
        return self

    @property
    def lists(self) -> list[str]:
        return [self.listName] if self.listName else [s.listName for s in self.sources or []]

    @property
    def weights(self) -> list[float]:
        return [1.0] if self.listName else [s.weight for s in self.sources or []]


class Inputs(RoleModel):
    """Where work comes from. `type` is fixed once the worker runs; rates are live."""

    type: Literal["SCHEDULER", "RABBITMQ", "REDIS_DATASET"] | None = Field(
        default=None,
        description="SCHEDULER (a clock), RABBITMQ (the role's work.in queue) or REDIS_DATASET (LPOP from lists).",
    )
    scheduler: SchedulerInput = Field(default_factory=SchedulerInput)
    rabbitmq: RabbitInput = Field(default_factory=RabbitInput)
    redis: RedisDatasetInput | None = Field(default=None, description="The lists of a REDIS_DATASET input.")

    @model_validator(mode="after")
    def _redis_block(self) -> Inputs:
        if self.type == "REDIS_DATASET" and self.redis is None:
            raise ValueError("type REDIS_DATASET needs inputs.redis with listName (or sources)")
        return self
