"""The built-in roles' configs: one package per role (its model and its live keys), registered here by name.

This is the one truth about role configs: the workers build their config from :func:`validate`, and the
operator, ``hivekeeper run`` and ``hivekeeper validate`` check a Swarm's role configs with the same call, so a
config is refused everywhere with the same located message. Unknown keys are errors (a typo must not
silently fall back to a default), and every error names the key, the value and what would be accepted.

Adding a role: a package next to the others with its ``config.py`` (a :class:`CommonConfig` subclass) and a
``ROLE`` (:class:`RoleDefinition`) in its ``__init__``, listed in :data:`ROLES` below.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from hivekeeper.api.manifests import field_path
from hivekeeper.api.roles import generator, http_sequence, moderator, postprocessor, processor, request_builder
from hivekeeper.api.roles.common import CommonConfig
from hivekeeper.api.roles.definition import RoleDefinition
from hivekeeper.protocol.redaction import got

ROLES: dict[str, RoleDefinition] = {
    role.name: role
    for role in (
        generator.ROLE,
        request_builder.ROLE,
        processor.ROLE,
        postprocessor.ROLE,
        http_sequence.ROLE,
        moderator.ROLE,
    )
}
"""Every built-in role by name, in the order the docs and messages list them."""


class ConfigError(ValueError):
    """A config was rejected; ``problems`` lists ``(path, message)`` pairs."""

    def __init__(self, role: str, problems: list[tuple[str, str]]) -> None:
        self.problems = problems
        text = "; ".join(f"{path}: {message}" for path, message in problems)
        super().__init__(f"{role} config rejected: {text}")


def validate(role: str, raw: dict[str, Any]) -> CommonConfig:
    """Build the typed config of ``role`` or raise :class:`ConfigError` naming each problem."""
    definition = ROLES.get(role)
    if definition is None:
        raise ConfigError(role, [("role", f"unknown role {role!r}; built-in roles: {', '.join(ROLES)}")])
    try:
        return definition.model.model_validate(raw)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            value = err.get("input")
            shown = got(err["loc"], value)
            message = err["msg"]
            if err["type"] == "extra_forbidden":
                message = f"unknown key for role {role}; check the spelling (keys are camelCase)"
            problems.append((field_path(err["loc"]) or "(root)", f"{message}{shown}"))
        raise ConfigError(role, problems) from exc
