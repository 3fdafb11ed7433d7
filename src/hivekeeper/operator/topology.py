"""The RabbitMQ topology of a swarm (pure): one topic exchange, one durable queue per alias, bindings.

The exchange's name is the broker's to make (``naming.Exchanges``, an operator setting), from ``swarm_id``.

The operator declares this idempotently on every reconcile (so a queue someone deleted comes back),
and deletes the queues with the swarm unless ``deletionPolicy: Retain``.
"""

from __future__ import annotations

from dataclasses import dataclass

from hivekeeper.protocol import naming


@dataclass(frozen=True)
class Queue:
    name: str
    routing_key: str


@dataclass(frozen=True)
class Topology:
    swarm_id: str
    """Names the swarm's work exchange (``naming.Exchanges.work_exchange``)."""
    queues: tuple[Queue, ...]


def topology(swarm_id: str, aliases: set[str]) -> Topology:
    """Everything the work plane of ``swarm_id`` needs for the given queue aliases."""
    queues = tuple(
        Queue(naming.work_queue(swarm_id, alias), naming.work_routing_key(swarm_id, alias)) for alias in sorted(aliases)
    )
    return Topology(swarm_id=naming.segment(swarm_id, "swarmId"), queues=queues)


def role_aliases(work_in: str | None, work_out: str | None) -> set[str]:
    return {alias for alias in (work_in, work_out) if alias}
