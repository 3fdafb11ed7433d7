"""The generator's config: what it renders for each item, at the rate of its SCHEDULER input."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from hivekeeper.api.roles.base import RoleModel
from hivekeeper.api.roles.common import CommonConfig


class Message(RoleModel):
    """What the generator renders for each item."""

    bodyType: Literal["SIMPLE", "HTTP"] = Field(
        default="SIMPLE", description="SIMPLE: the body is the payload; HTTP: an http.request envelope."
    )
    body: str = Field(default="", description="Body template.")
    headers: dict[str, str] = Field(
        default_factory=dict, description="Header templates; merged into the item headers (SIMPLE)."
    )
    path: str = Field(default="/", description="Path template (HTTP only).")
    method: str = Field(default="GET", description="Method (HTTP only).")


class GeneratorConfig(CommonConfig):
    """Renders one item per tick of its input (a SCHEDULER clock by default) from `message`."""

    message: Message = Field(default_factory=Message)
