"""The moderator's config: how it lets items through (at once, at a steady rate, or on a sine wave)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from hivekeeper.api.roles.base import RoleModel
from hivekeeper.api.roles.common import CommonConfig


class SineShape(RoleModel):
    """A rate that swings between two values: ``mid + amp * sin(2 pi (t + phaseOffsetSeconds) / periodSeconds)``."""

    minRatePerSec: float = Field(default=0.0, ge=0, description="The rate at the trough (items/s, >= 0).")
    maxRatePerSec: float = Field(gt=0, description="The rate at the crest (items/s, > minRatePerSec).")
    periodSeconds: float = Field(default=60.0, gt=0, le=86400, description="One full swing, in seconds.")
    phaseOffsetSeconds: float = Field(default=0.0, description="Shifts the wave in time, in seconds.")

    @model_validator(mode="after")
    def _range(self) -> SineShape:
        if self.maxRatePerSec <= self.minRatePerSec:
            raise ValueError(
                f"maxRatePerSec ({self.maxRatePerSec:g}) must be greater than minRatePerSec "
                f"({self.minRatePerSec:g}); for a steady rate use mode.type rate-per-sec"
            )
        return self


class ModeratorMode(RoleModel):
    """How the moderator lets items through."""

    type: Literal["pass-through", "rate-per-sec", "sine"] = Field(
        default="pass-through",
        description="pass-through: at once; rate-per-sec: one item per slot at ratePerSec; sine: a swinging rate.",
    )
    ratePerSec: float = Field(default=0.0, ge=0, description="Items per second in rate-per-sec mode (> 0).")
    sine: SineShape | None = Field(default=None, description="The wave in sine mode.")

    @model_validator(mode="after")
    def _complete(self) -> ModeratorMode:
        if self.type == "rate-per-sec" and self.ratePerSec <= 0:
            raise ValueError("mode.type rate-per-sec needs mode.ratePerSec > 0; set it or use pass-through")
        if self.type == "sine" and self.sine is None:
            raise ValueError("mode.type sine needs mode.sine {minRatePerSec, maxRatePerSec, periodSeconds}; add it")
        return self


class ModeratorConfig(CommonConfig):
    """Shapes the flow between two stages: items wait for their slot, then go on unchanged.

    The generator keeps one steady rate; spikes and waves belong here. Items waiting for a slot stay
    bounded by the worker's in-flight limit, so the backlog stays in the broker, where it shows.
    """

    mode: ModeratorMode = Field(default_factory=ModeratorMode)
