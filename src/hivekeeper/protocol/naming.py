"""Every exchange, queue and routing-key name of the wire protocol, as pure functions.

Names are the contract between the operator, the workers and any tool that reads our traffic, so
they are built in exactly one place. Segments of a routing key are separated by dots, so a segment
may not contain a dot or an AMQP wildcard; :func:`segment` enforces that with an error that names the
value and the fix.
"""

from __future__ import annotations

import re
from typing import Final, Literal

from hivekeeper.errors import InvalidInput

CONTROL_EXCHANGE: Final = "hivekeeper.control"
CONTROL_QUEUE_PREFIX: Final = "hivekeeper.control"
"""Every instance's control queue is ``<prefix>.<swarmId>.<role>.<instance>`` (:func:`control_queue`)."""
ALL: Final = "ALL"
"""The fan-out segment: a signal to role ``ALL`` or instance ``ALL`` reaches every one of them."""

SignalType = Literal["config-update", "status-request", "swarm-start", "swarm-stop"]
MetricType = Literal["status-full", "status-delta"]

_SEGMENT = re.compile(r"^[A-Za-z0-9_-]+$")


class InvalidName(InvalidInput, ValueError):
    """A name cannot be used as a routing-key segment or queue name."""


def segment(value: str, what: str) -> str:
    """Return ``value`` if it can be one routing-key segment, else raise naming it and the fix."""
    if not _SEGMENT.match(value):
        raise InvalidName(
            f"{what} {value!r} cannot be used in queue names and routing keys: use only letters, digits,"
            " '-' and '_' (no dots, spaces, '*' or '#')"
        )
    return value


def swarm_id(name: str, namespace: str | None = None) -> str:
    """``<namespace>_<name>`` in a cluster (unique per broker), the bare name locally."""
    segment(name, "swarm name")
    if namespace is None:
        return name
    return f"{segment(namespace, 'namespace')}_{name}"


def work_exchange(swarm: str) -> str:
    """The topic exchange that carries a swarm's work items."""
    return f"hivekeeper.{segment(swarm, 'swarmId')}.work"


def work_queue(swarm: str, alias: str) -> str:
    """The durable queue behind a ``work`` alias; it is bound with its own name as routing key."""
    return f"hivekeeper.{segment(swarm, 'swarmId')}.{segment(alias, 'queue alias')}"


def work_routing_key(swarm: str, alias: str) -> str:
    """Producers publish with the queue name as routing key (one binding per queue)."""
    return work_queue(swarm, alias)


DEAD_LETTER_ALIAS: Final = "dead-letters"
"""Reserved: no work alias may use it, since ``work_queue(swarm, alias)`` would be the dead-letter queue."""


def dead_letter_queue(swarm: str) -> str:
    """The swarm's durable dead-letter queue (opt-in ``deadLetter``): items its roles failed to process.

    Producers publish to it through the default exchange, with the queue name as routing key.
    """
    return f"hivekeeper.{segment(swarm, 'swarmId')}.{DEAD_LETTER_ALIAS}"


def dead_letter_arguments(max_length: int, ttl_seconds: int) -> dict[str, int | str]:
    """The declaration arguments of :func:`dead_letter_queue`: bounded, oldest dropped first, expiring.

    RabbitMQ refuses a declaration whose arguments differ from the existing queue's, so every
    declarer (workers, operator, tools) must build them here.
    """
    return {"x-max-length": max_length, "x-overflow": "drop-head", "x-message-ttl": ttl_seconds * 1000}


def control_queue(swarm: str, role: str, instance: str) -> str:
    """The exclusive per-instance queue that receives this instance's signals."""
    return f"{CONTROL_QUEUE_PREFIX}.{segment(swarm, 'swarmId')}.{segment(role, 'role')}.{segment(instance, 'instance')}"


def signal_key(signal: str, swarm: str, role: str, instance: str) -> str:
    return f"signal.{signal}.{swarm}.{role}.{instance}"


def control_bindings(swarm: str, role: str, instance: str) -> list[str]:
    """Routing keys an instance's control queue is bound with: itself, its role, its swarm, everyone."""
    for value, what in ((swarm, "swarmId"), (role, "role"), (instance, "instance")):
        segment(value, what)
    return [
        f"signal.*.{swarm}.{role}.{instance}",
        f"signal.*.{swarm}.{role}.{ALL}",
        f"signal.*.{swarm}.{ALL}.{ALL}",
        f"signal.*.{ALL}.{ALL}.{ALL}",
    ]


def outcome_key(signal: str, swarm: str, role: str, instance: str) -> str:
    return f"event.outcome.{signal}.{swarm}.{role}.{instance}"


def metric_key(metric: str, swarm: str, role: str, instance: str) -> str:
    return f"event.metric.{metric}.{swarm}.{role}.{instance}"


def alert_key(swarm: str, role: str, instance: str) -> str:
    return f"event.alert.alert.{swarm}.{role}.{instance}"


def events_binding(swarm: str) -> str:
    """What a status consumer binds to see every outcome, metric and alert of one swarm."""
    return f"event.*.*.{segment(swarm, 'swarmId')}.#"


def parse_routing_key(key: str) -> tuple[str, str, str, str, str, str]:
    """Split ``kind.type.swarm.role.instance`` (signals) or ``event.kind.type.swarm.role.instance``.

    Returns ``(plane, kind, type, swarm, role, instance)``; ``plane`` is ``signal`` or ``event``.
    """
    parts = key.split(".")
    if parts[0] == "signal" and len(parts) == 5:
        return ("signal", "signal", parts[1], parts[2], parts[3], parts[4])
    if parts[0] == "event" and len(parts) == 6:
        return ("event", parts[1], parts[2], parts[3], parts[4], parts[5])
    raise InvalidName(
        f"routing key {key!r} is neither signal.<type>.<swarm>.<role>.<instance> nor "
        "event.<kind>.<type>.<swarm>.<role>.<instance>"
    )
