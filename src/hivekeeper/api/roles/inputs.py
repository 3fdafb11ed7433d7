"""``inputs``: where a role's work comes from (a clock, its RabbitMQ queue, Redis lists or a CSV file)."""

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


CsvType = Literal["string", "int", "float", "bool"]
"""The types a CSV column may declare (``inputs.csv.columns``); undeclared columns are strings."""


class CsvDatasetInput(RoleModel):
    """CSV_DATASET: each item is one row of a CSV file (its header row names the columns), at a live rate."""

    filePath: str = Field(
        min_length=1,
        description="The CSV file. A relative path is read next to the manifest (`hivekeeper run`, "
        "`hivekeeper validate`) or, on a cluster, from the ConfigMap named by configMap (a key of it).",
    )
    configMap: str | None = Field(
        default=None,
        min_length=1,
        max_length=253,
        pattern=r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$",
        description="On a cluster: the ConfigMap (same namespace) holding the file; the operator mounts it "
        "read-only into the role's pods. Not used by `hivekeeper run`, which reads filePath next to the manifest.",
    )
    columns: dict[str, CsvType] = Field(
        default_factory=dict,
        description="Declared column types (string, int, float, bool); a cell that does not parse stops the "
        "worker with the row, column and value. Undeclared columns are strings; an empty typed cell is null.",
    )
    delimiter: str = Field(default=",", min_length=1, max_length=1, description="The field separator.")
    rotate: bool = Field(
        default=False,
        description="At the end of the file: true starts over from the first row (another pass), "
        "false stops (out-of-data, one io.out-of-data alert).",
    )
    ratePerSec: float = Field(default=1.0, ge=0, description="Rows per second (live; fractions carry over).")


class Inputs(RoleModel):
    """Where work comes from. `type` is fixed once the worker runs; rates are live."""

    type: Literal["SCHEDULER", "RABBITMQ", "REDIS_DATASET", "CSV_DATASET"] | None = Field(
        default=None,
        description="SCHEDULER (a clock), RABBITMQ (the role's work.in queue), REDIS_DATASET (LPOP from lists) "
        "or CSV_DATASET (the rows of a CSV file).",
    )
    scheduler: SchedulerInput = Field(default_factory=SchedulerInput)
    rabbitmq: RabbitInput = Field(default_factory=RabbitInput)
    redis: RedisDatasetInput | None = Field(default=None, description="The lists of a REDIS_DATASET input.")
    csv: CsvDatasetInput | None = Field(default=None, description="The file of a CSV_DATASET input.")

    @model_validator(mode="after")
    def _redis_block(self) -> Inputs:
        if self.type == "REDIS_DATASET" and self.redis is None:
            raise ValueError("type REDIS_DATASET needs inputs.redis with listName (or sources)")
        if self.type == "CSV_DATASET" and self.csv is None:
            raise ValueError("type CSV_DATASET needs inputs.csv with filePath (the CSV file, its first row the header)")
        return self
