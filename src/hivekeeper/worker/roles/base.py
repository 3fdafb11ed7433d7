"""What every role gets from the runtime, and the small vocabulary roles answer with."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from hivekeeper.protocol.workitem import WorkItem, as_template_value
from hivekeeper.templating.engine import TemplateEngine
from hivekeeper.worker.stats import RoleStats


class DropItem(Exception):
    """The role refuses this item; the runtime acks it, counts it as dropped and raises an alert.

    ``code`` is the alert code (e.g. ``request-builder.missing-template``); the message names the
    item's problem and the fix.
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class HttpPort(Protocol):
    """The part of the HTTP client roles use (a fake in unit tests, the pooled client otherwise)."""

    async def send(
        self, origin: Any, raw: bytes, timeout: float, *, head: bool = False, idempotent: bool = False, limit: int = ...
    ) -> Any: ...


@dataclass
class RoleDeps:
    """Identity and shared services of one worker instance."""

    swarm: str
    role: str
    instance: str
    engine: TemplateEngine
    stats: RoleStats = field(default_factory=RoleStats)
    http: HttpPort | None = None


class Role(Protocol):
    async def handle(self, item: WorkItem | None, seq: int) -> WorkItem | None:
        """Process one item (``None`` for a scheduler tick); return the item to publish, or None."""
        ...

    def context(self) -> dict[str, Any]:
        """Role-specific keys for ``status.data.context``."""
        ...


def template_context(item: WorkItem | None, vars_: dict[str, Any], sut: dict[str, Any]) -> dict[str, Any]:
    """The one templating context every role uses (DESIGN.md §4)."""
    if item is None:
        return {"payload": {}, "payloadRaw": "", "headers": {}, "workItem": None, "vars": vars_, "sut": sut}
    raw = item.payload
    return {
        "payload": as_template_value(raw),
        "payloadRaw": raw,
        "headers": item.headers,
        "workItem": item,
        "vars": vars_,
        "sut": sut,
    }
