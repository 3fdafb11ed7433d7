"""Roles built as the runtime builds them (by name, from the registry), on the HTTP and TCP ports' in-memory twins."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hivekeeper.api import roles as role_configs
from hivekeeper.templating.engine import TemplateEngine
from hivekeeper.worker.auth_port import AuthPort
from hivekeeper.worker.http.memory import MemoryHttp
from hivekeeper.worker.ports import DataStore
from hivekeeper.worker.roles.base import Role, RoleDeps, Wiring
from hivekeeper.worker.roles.registry import ROLES
from hivekeeper.worker.stats import RoleStats
from hivekeeper.worker.tcp.memory import MemoryTcp


@dataclass
class RoleBench:
    """One role on a :class:`MemoryHttp` (and a :class:`MemoryTcp`), its stats and the alerts it raised."""

    http: MemoryHttp = field(default_factory=MemoryHttp)
    tcp: MemoryTcp = field(default_factory=MemoryTcp)
    stats: RoleStats = field(default_factory=RoleStats)
    alerts: list[tuple[str, str]] = field(default_factory=list)

    def build(
        self,
        name: str,
        raw: dict[str, Any],
        *,
        forwards: bool = True,
        store: DataStore | None = None,
        auth: AuthPort | None = None,
    ) -> Role:
        deps = RoleDeps(swarm="unit", role="caller", instance="caller-0", engine=TemplateEngine(), stats=self.stats)
        deps.http = self.http
        deps.tcp = self.tcp
        deps.auth = auth
        wiring = Wiring(deps, lambda code, message, _: self.alerts.append((code, message)), store, forwards, None)
        return ROLES[name].build(role_configs.validate(name, raw), wiring)

    def codes(self) -> list[str]:
        return [code for code, _ in self.alerts]
