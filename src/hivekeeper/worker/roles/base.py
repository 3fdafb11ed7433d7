"""What every role gets from the runtime, how a role describes itself to it, and the small vocabulary
roles answer with.

A role is a package under ``worker.roles`` whose ``role`` module defines the role and its
:class:`RoleKind` (``KIND``); ``worker.roles.registry`` maps the role's name to it. Roles import no
transport, no other role and no HTTP client: they get ports (:class:`RoleDeps`, :class:`Wiring`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from hivekeeper.api.roles.common import CommonConfig
from hivekeeper.errors import Refused
from hivekeeper.protocol.workitem import WorkItem
from hivekeeper.templating.engine import TemplateEngine
from hivekeeper.worker.auth_port import AuthPort
from hivekeeper.worker.http_port import HttpPort, HttpSettings
from hivekeeper.worker.ports import DataStore
from hivekeeper.worker.stats import RoleStats
from hivekeeper.worker.tcp_port import TcpPort

AlertFn = Callable[[str, str, dict[str, Any]], None]
"""Raise an alert: code, message, context (the runtime folds repeats within a window)."""


class DropItem(Refused):
    """The role refuses this item; the runtime acks it, counts it as dropped and raises an alert.

    ``code`` is the alert code (e.g. ``request-builder.missing-template``); the message names the
    item's problem and the fix.
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass
class RoleDeps:
    """Identity and shared services of one worker instance."""

    swarm: str
    role: str
    instance: str
    engine: TemplateEngine
    stats: RoleStats = field(default_factory=RoleStats)
    http: HttpPort | None = None
    """The worker's HTTP client, for roles whose :class:`RoleKind` asks for one (else None)."""
    auth: AuthPort | None = None
    """The worker's auth profiles, for the same roles (else None)."""
    tcp: TcpPort | None = None
    """The worker's TCP client, for roles whose :class:`RoleKind` asks for one (else None)."""


class Role(Protocol):
    async def handle(self, item: WorkItem | None, seq: int) -> WorkItem | None:
        """Process one item (``None`` for a scheduler tick); return the item to publish, or None."""
        ...

    def context(self) -> dict[str, Any]:
        """Role-specific keys for ``status.data.context``."""
        ...


@dataclass(frozen=True)
class Wiring:
    """What the runtime hands a role's factory each time a config is applied (at start, on every update)."""

    deps: RoleDeps
    alert: AlertFn
    store: DataStore | None
    """Redis (or its in-memory twin), or None when the worker has none."""
    forwards: bool
    """The worker has an output (``outputs.type`` is not NONE): the role's results are published."""
    previous: Role | None
    """The role this one replaces (a config update; None at start): for state that outlives a config."""


@dataclass(frozen=True)
class RoleKind:
    """How the runtime builds and runs one role: its registry entry (``worker.roles.registry``)."""

    build: Callable[[CommonConfig, Wiring], Role]
    """The role for a validated config; raises ``ConfigError`` for what the models cannot check."""
    concurrency: Callable[[CommonConfig], int] | None = None
    """The work loops the role wants (its ``threadCount``); None: the runtime's default."""
    http: Callable[[CommonConfig, bool], HttpSettings] | None = None
    """The HTTP client the role needs, given whether the worker forwards results; None: no HTTP."""
    tcp: bool = False
    """The role calls TCP endpoints: it gets the worker's TCP client (one per worker, kept across configs)."""
