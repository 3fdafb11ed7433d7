"""What every role config shares: inputs, outputs, interceptors, the swarm's vars, sut and templates,
templating and dead letters; and which of those keys a live config-update may change.

Keys keep PocketHive's names (camelCase) so its scenarios translate directly. Swarm-level ``vars``, ``sut``
and ``templates`` are part of each role's config so that one config-update carries everything a worker
renders with.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from hivekeeper.api.auth import AuthProfile
from hivekeeper.api.call_template import CallTemplate
from hivekeeper.api.roles.base import RoleModel
from hivekeeper.api.roles.buffer_guard import BufferGuard
from hivekeeper.api.roles.inputs import Inputs
from hivekeeper.api.roles.outputs import Interceptors, Outputs
from hivekeeper.api.swarm import (
    DEAD_LETTER_MAX_LENGTH,
    DEAD_LETTER_MAX_TTL,
    TAG_NEWLINE_HELP,
    UNDEFINED_HELP,
    Sut,
    TagNewlineRule,
    UndefinedRule,
)


class Templating(RoleModel):
    """How this role's templates render: the swarm's ``spec.templating``, then the role's own keys."""

    reseed: bool = Field(default=False, description="Restart every pickWeightedSeeded stream when applied.")
    undefined: UndefinedRule = Field(default="strict", description=UNDEFINED_HELP)
    tagNewline: TagNewlineRule = Field(default="keep", description=TAG_NEWLINE_HELP)
    runId: str = Field(
        default="",
        max_length=63,
        description="What templates read as `runId`: spec.run.id (set with the swarm's run); empty: the worker's.",
    )


class DeadLetter(RoleModel):
    """Items this role fails to process go to the swarm's dead-letter queue (opt-in; from spec.deadLetter)."""

    enabled: bool = Field(default=False, description="Publish failed items to hivekeeper.<swarm>.dead-letters.")
    maxLength: int = Field(default=10000, ge=1, le=DEAD_LETTER_MAX_LENGTH, description="Items the queue keeps.")
    ttlSeconds: int = Field(default=3600, ge=1, le=DEAD_LETTER_MAX_TTL, description="Seconds an item is kept.")


class CommonConfig(RoleModel):
    """Keys every role understands."""

    inputs: Inputs = Field(default_factory=Inputs)
    outputs: Outputs = Field(default_factory=Outputs)
    vars: dict[str, Any] = Field(
        default_factory=dict, description="Values templates read as `vars.<name>`: the swarm's, then the role's own."
    )
    sut: Sut = Field(default_factory=Sut)
    templates: list[CallTemplate] = Field(
        default_factory=list, description="HTTP call templates: the swarm's, then the role's own."
    )
    auth: dict[str, AuthProfile] = Field(
        default_factory=dict,
        description="Auth profiles by name (the swarm's spec.auth): what templates, endpoints and steps name with "
        "`auth` (docs/auth.md).",
    )
    templating: Templating = Field(default_factory=Templating)
    deadLetter: DeadLetter = Field(default_factory=DeadLetter)
    interceptors: Interceptors = Field(default_factory=Interceptors)
    bufferGuard: BufferGuard | None = Field(
        default=None,
        description="Slow this role while a downstream queue is deeper than high; restore its pace at low. A "
        "SCHEDULER, REDIS_DATASET or CSV_DATASET input runs at minRatePerSec meanwhile; a RABBITMQ input takes no "
        "more than minRatePerSec items (0: none), so a stage guarding its own work.out passes backpressure up.",
    )


COMMON_LIVE = frozenset(
    {
        "inputs.scheduler",
        "inputs.rabbitmq",
        "inputs.redis",
        "inputs.csv.ratePerSec",
        "inputs.csv.rotate",
        "outputs.redis",
        "outputs.retry",
        "outputs.batching",
        "vars",
        "sut",
        "templates",
        "auth",
        "templating",
        "deadLetter",
        "interceptors",
        "bufferGuard",
    }
)
"""The keys of :class:`CommonConfig` a running worker takes live: everything but ``inputs.type`` and
``outputs.type``, which choose the transports a worker opened at start, and the CSV input's file and columns,
read once at start (its rate and rotate are live)."""
