"""``outputs`` and ``interceptors``: where a role's results go (its RabbitMQ queue, Redis lists or nowhere)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from hivekeeper.api.roles.base import OptionalText, RoleModel
from hivekeeper.api.roles.redis import RedisBlock
from hivekeeper.protocol.batch import MAX_ITEMS
from hivekeeper.templating import regex

MAX_BATCH_BYTES = 16 * 1024 * 1024
"""The largest ``outputs.batching.maxBytes``: RabbitMQ 4.x's default ``max_message_size`` (16 MiB). A broker URL
with a lower ``max_message_size`` lowers the bound further at run time (a batch never passes the URL's limit)."""


def _regex(value: str | None) -> str | None:
    # Routes run on RE2 (linear time, like the template helpers): a pattern it cannot run is refused here.
    if value is not None:
        try:
            regex.compile_pattern("", value)
        except regex.RegexError as exc:
            raise ValueError(str(exc)) from exc
    return value


class RedisRoute(RoleModel):
    """Items whose payload and/or header match go to ``list``; the first matching route wins."""

    match: OptionalText = Field(default=None, description="Regex searched in the payload being pushed.")
    header: OptionalText = Field(default=None, min_length=1, description="Header name (needs headerMatch).")
    headerMatch: OptionalText = Field(default=None, description="Regex searched in that header's value.")
    list: str = Field(default="", description="Target Redis list (required).")

    _check_match = field_validator("match", "headerMatch")(_regex)

    @model_validator(mode="after")
    def _conditions(self) -> RedisRoute:
        if not self.list.strip():
            raise ValueError("a route needs list: the Redis list that matching items are pushed to")
        if self.match is None and self.header is None:
            raise ValueError("a route needs match (payload regex) and/or header with headerMatch")
        if (self.header is None) != (self.headerMatch is None):
            raise ValueError("header and headerMatch go together: name the header and the regex its value must match")
        return self


class RedisPush(RedisBlock):
    """Push items to Redis lists (``outputs.type: REDIS``): first matching route, else the rendered
    ``targetListTemplate`` when not blank, else ``defaultList``."""

    routes: list[RedisRoute] = Field(default_factory=list, description="Tried in order; the first match wins.")
    targetListTemplate: str = Field(default="", description="Template naming the list when no route matches.")
    defaultList: str = Field(default="", description="The list when no route matches and the template is blank.")
    maxLen: int = Field(default=0, description="Trim each list to this many elements after a push; <= 0 = no limit.")
    pushDirection: Literal["LPUSH", "RPUSH"] = Field(default="RPUSH", description="Push at the head or the tail.")
    sourceStep: Literal["FIRST", "LAST"] = Field(
        default="LAST", description="Push the first step's payload (the original record) or the current one."
    )

    @model_validator(mode="after")
    def _some_target(self) -> RedisPush:
        if not self.routes and not self.targetListTemplate.strip() and not self.defaultList:
            raise ValueError("no target list: set defaultList, routes or targetListTemplate")
        return self


class RedisUploader(RedisPush):
    """A side output: push each item to Redis as well, before or after the role handles it."""

    enabled: bool = Field(default=True, description="False keeps the block but pushes nothing.")
    phase: Literal["BEFORE", "AFTER"] = Field(
        default="AFTER", description="BEFORE pushes the inbound item; AFTER the result (or the inbound item if none)."
    )


class Interceptors(RoleModel):
    redisUploader: RedisUploader | None = Field(default=None, description="Push items to Redis lists on the side.")


class PublishRetry(RoleModel):
    """How a result is published again after a transient failure (connection lost, broker blocked, no
    confirm in time); a permanent one (too large, unroutable) is never retried. Then the input goes back."""

    maxAttempts: int = Field(default=5, ge=1, le=100, description="Attempts in all; 1 = no retry.")
    initialBackoffMs: int = Field(default=100, ge=0, le=60000, description="Sleep before the 2nd attempt.")
    backoffMultiplier: float = Field(default=2.0, ge=1.0, le=100.0, description="Growth of the sleep per attempt.")
    maxBackoffMs: int = Field(default=5000, ge=0, le=60000, description="Cap of one sleep.")


class OutputBatching(RoleModel):
    """Several items per RabbitMQ message (decision 0013): the items a worker publishes in one turn of its event
    loop go out as one batch message, split back into items by the next role. A lone item goes as a plain message,
    so low rates look as without batches. Live: a change applies to the next message."""

    enabled: bool = Field(
        default=True,
        description="False sends one message per item (as a reader that does not understand batches needs).",
    )
    maxItems: int = Field(default=128, ge=1, le=MAX_ITEMS, description="Items per message at most.")
    maxBytes: int = Field(
        default=256 * 1024,
        ge=1024,
        le=MAX_BATCH_BYTES,
        description="Bytes of body per message at most (also capped by the broker URL's max_message_size); "
        "an item larger than this alone goes as a plain message.",
    )


class Outputs(RoleModel):
    """Where results go: the role's work.out queue (RABBITMQ), Redis lists (REDIS) or nowhere (NONE)."""

    type: Literal["RABBITMQ", "NONE", "REDIS"] | None = Field(
        default=None, description="Defaults to RABBITMQ when the role has work.out, else NONE."
    )
    redis: RedisPush | None = Field(default=None, description="Routes and lists of a REDIS output.")
    retry: PublishRetry = Field(default_factory=PublishRetry, description="Retries of a transient publish failure.")
    batching: OutputBatching = Field(
        default_factory=OutputBatching, description="Several items per message on a RABBITMQ output."
    )

    @model_validator(mode="after")
    def _redis_block(self) -> Outputs:
        if self.type == "REDIS" and self.redis is None:
            raise ValueError("type REDIS needs outputs.redis with defaultList, routes or targetListTemplate")
        return self
