"""The base of every role config model: frozen, and an unknown key is an error.

A typo must not silently fall back to a default, so ``extra="forbid"``; a config in force is never
mutated in place (a config-update builds a new one), so ``frozen=True``.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class RoleModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
