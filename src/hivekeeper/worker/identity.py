"""Who a worker is and how it is wired: read from the environment in a pod, or given by ``hivekeeper run``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hivekeeper.protocol import envelope as env


@dataclass(frozen=True)
class Identity:
    """Who this worker is and how it is wired (from the environment, or from ``hivekeeper run``)."""

    swarm: str
    role: str
    """The stage name in the Swarm (``caller``)."""
    kind: str
    """The built-in role (``processor``)."""
    instance: str
    work_in: str | None = None
    """Queue name this worker consumes (``hivekeeper.<swarm>.<alias>``)."""
    work_out: str | None = None
    """Routing key / queue name this worker publishes to."""
    run_id: str = ""
    template_id: str = ""

    @property
    def scope(self) -> env.Scope:
        return env.Scope(swarmId=self.swarm, role=self.role, instance=self.instance)

    @property
    def runtime(self) -> dict[str, Any]:
        return {"templateId": self.template_id or self.swarm, "runId": self.run_id}
