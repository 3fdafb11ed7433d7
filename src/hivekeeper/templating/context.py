"""The names every template reads: the item's (``payload``, ``headers``, ...), the scenario's (``vars``,
``sut``) and who renders it (``swarmId``, ``runId``, ``role``, ``instanceId``, ``correlationId``). Pure.

PocketHive templates read the item's and the scenario's names, and its bundles also print who sent a
message (``{{ swarmId }}``, ``{{ correlationId }}``). The item's names come from :func:`template_context`,
the others from the engine (:class:`Origin`, the same for every render of a worker), so every render, in a
role, an output or an interceptor, locally or in a pod, has them all.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hivekeeper.protocol.workitem import WorkItem, as_template_value

ITEM_NAMES = ("payload", "payloadRaw", "headers", "workItem", "vars", "sut")
"""What the item and the scenario give a template."""
ORIGIN_NAMES = ("swarmId", "runId", "role", "instanceId", "correlationId")
"""Who renders it: the swarm, the run (``spec.run.id``, or the local run's id), the role (its name in the
swarm), the instance (the pod), and the item's correlation id (the one the item sent from this render carries)."""
CONTEXT_NAMES = (*ITEM_NAMES, *ORIGIN_NAMES)
"""Every name a template can read besides the helpers (http-sequence templates also read ``ctx``)."""


@dataclass(frozen=True)
class Origin:
    """Who renders: the worker's identity and run, as templates read them."""

    swarm: str = ""
    role: str = ""
    instance: str = ""
    run_id: str = ""

    def names(self) -> dict[str, Any]:
        """The names of :data:`ORIGIN_NAMES`; ``correlationId`` is "" unless a render's context gives one."""
        return {
            "swarmId": self.swarm,
            "runId": self.run_id,
            "role": self.role,
            "instanceId": self.instance,
            "correlationId": "",
        }


def template_context(
    item: WorkItem | None, vars_: dict[str, Any], sut: dict[str, Any], correlation_id: str | None = None
) -> dict[str, Any]:
    """The one templating context every role renders with (DESIGN.md §4), ``correlationId`` included: the
    item's, or ``correlation_id`` (a producer's render, for the item it is about to make)."""
    if item is None:
        return {
            "payload": {},
            "payloadRaw": "",
            "headers": {},
            "workItem": None,
            "vars": vars_,
            "sut": sut,
            "correlationId": correlation_id or "",
        }
    raw = item.payload
    return {
        "payload": as_template_value(raw),
        "payloadRaw": raw,
        "headers": item.headers,
        "workItem": item,
        "vars": vars_,
        "sut": sut,
        "correlationId": correlation_id or item.correlation_id,
    }
