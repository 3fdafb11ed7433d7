"""What the registry knows about a built-in role: its name, config model, live keys and default input."""

from __future__ import annotations

from dataclasses import dataclass

from hivekeeper.api.roles.common import CommonConfig


@dataclass(frozen=True)
class RoleDefinition:
    name: str
    """The role's name in a Swarm (``spec.roles[].role``) and in a worker's HIVEKEEPER_ROLE."""
    model: type[CommonConfig]
    """The model a config of this role must satisfy."""
    live: frozenset[str]
    """Dotted config paths a config-update may change while the worker runs (see :mod:`.live`)."""
    default_input: str = "RABBITMQ"
    """The input when the config names none."""
    guide: str = ""
    """Where the docs explain the role beyond its keys (``docs/worker.md#moderator``), if anywhere."""
