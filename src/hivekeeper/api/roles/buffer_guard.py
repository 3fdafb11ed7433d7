"""``bufferGuard``: a role slows down while a queue downstream holds too many items.

The guard has two states. Open, the producer runs at its configured rate. When the watched queue's depth
reaches ``high`` it closes: the rate drops to ``minRatePerSec`` (for a RABBITMQ input: the work loops take at
most that many items a second). It opens again only once the depth is at or
below ``low``, so a depth hovering around one bound does not flap the rate (hysteresis).
"""

from __future__ import annotations

from pydantic import Field, model_validator

from hivekeeper.api.roles.base import RoleModel
from hivekeeper.api.swarm import _ALIAS_PATTERN


class BufferGuard(RoleModel):
    """Slow this role while a downstream queue is deep; restore its pace once the queue drains."""

    enabled: bool = Field(default=True, description="false keeps the settings but never slows the producer.")
    queue: str = Field(
        pattern=_ALIAS_PATTERN,
        description="The work alias of the watched queue (hivekeeper.<swarm>.<alias>): usually the role's own "
        "work.out (its depth is then read in items), or the work.in of the slowest stage downstream; never the "
        "role's own work.in.",
    )
    high: int = Field(ge=1, description="Depth at which the role is slowed to minRatePerSec.")
    low: int = Field(ge=0, description="Depth at or below which the configured rate is restored (below high).")
    minRatePerSec: float = Field(
        default=0.0, ge=0, description="The rate while slowed (0 pauses the role); never above a configured input rate."
    )
    intervalMs: int = Field(
        default=1000, ge=100, le=60_000, description="How often the queue's depth is read from the broker, in ms."
    )

    @model_validator(mode="after")
    def _bounds(self) -> BufferGuard:
        if self.low >= self.high:
            raise ValueError(
                f"low ({self.low}) must be below high ({self.high}): the rate is restored at low and slowed at "
                "high; lower low or raise high"
            )
        return self
