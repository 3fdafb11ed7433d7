"""The base of every role config model: frozen, and an unknown key is an error; and :data:`OptionalText`, the
optional strings for which blank means unset.

A typo must not silently fall back to a default, so ``extra="forbid"``; a config in force is never
mutated in place (a config-update builds a new one), so ``frozen=True``.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict


class RoleModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def blank_is_unset(value: Any) -> Any:
    """A blank string (``""``, spaces) as None: PocketHive reads a blank optional value as not set, and its
    bundles write one next to the key that is set (``listName: ""`` next to ``sources``)."""
    return None if isinstance(value, str) and not value.strip() else value


OptionalText = Annotated[str | None, BeforeValidator(blank_is_unset)]
"""An optional string for which blank means unset (see :func:`blank_is_unset`)."""
