"""What a PocketHive worker image reads from its environment, mapped onto our names (pure).

A role with ``protocol: pockethive`` runs one of PocketHive's own worker images. Such a worker does not
read ``HIVEKEEPER_*``: it reads the broker as separate ``SPRING_RABBITMQ_*`` parts and its identity and
wiring as ``POCKETHIVE_*`` variables (facts measured from one; docs/custom-images.md). This module names
those variables once and fills the ones that are plain names from :mod:`hivekeeper.protocol.naming`, so
the worker joins our control exchange and our work queues as if it were one of ours. The broker's parts
and the instance id come from the pod (Secret keys, the downward API): the operator adds them.

Such a worker binds ``signal.config-update`` and ``signal.status-request`` only for its swarm, its role
and itself (``<swarm>.ALL.ALL``, ``ALL.<role>.ALL``, ``<swarm>.<role>.ALL``, ``<swarm>.<role>.<instance>``),
never ``ALL.ALL.ALL``: :func:`status_request_scope` is where a status request reaches every instance of
such a role.
"""

from __future__ import annotations

from typing import Final

from hivekeeper.protocol import naming

HOST: Final = "SPRING_RABBITMQ_HOST"
PORT: Final = "SPRING_RABBITMQ_PORT"
USERNAME: Final = "SPRING_RABBITMQ_USERNAME"
PASSWORD: Final = "SPRING_RABBITMQ_PASSWORD"
VIRTUAL_HOST: Final = "SPRING_RABBITMQ_VIRTUAL_HOST"
BROKER_VARIABLES: Final = (HOST, PORT, USERNAME, PASSWORD, VIRTUAL_HOST)
"""The broker, in parts (such a worker reads no URL)."""

CONTROL_EXCHANGE: Final = "POCKETHIVE_CONTROL_PLANE_EXCHANGE"
SWARM_ID: Final = "POCKETHIVE_CONTROL_PLANE_SWARM_ID"
INSTANCE_ID: Final = "POCKETHIVE_CONTROL_PLANE_INSTANCE_ID"
WORKER_ROLE: Final = "POCKETHIVE_CONTROL_PLANE_WORKER_ROLE"
CONTROL_QUEUE_PREFIX: Final = "POCKETHIVE_CONTROL_PLANE_CONTROL_QUEUE_PREFIX"
OUTPUT_EXCHANGE: Final = "POCKETHIVE_OUTPUT_RABBIT_EXCHANGE"
OUTPUT_ROUTING_KEY: Final = "POCKETHIVE_OUTPUT_RABBIT_ROUTING_KEY"
INPUT_QUEUE: Final = "POCKETHIVE_INPUT_RABBIT_QUEUE"
TEMPLATE_ID: Final = "POCKETHIVE_TEMPLATE_ID"
RUN_ID: Final = "POCKETHIVE_JOURNAL_RUN_ID"

VARIABLES: Final = (
    *BROKER_VARIABLES,
    CONTROL_EXCHANGE,
    SWARM_ID,
    INSTANCE_ID,
    WORKER_ROLE,
    CONTROL_QUEUE_PREFIX,
    OUTPUT_EXCHANGE,
    OUTPUT_ROUTING_KEY,
    INPUT_QUEUE,
    TEMPLATE_ID,
    RUN_ID,
)
"""Every variable of the contract: set by the operator, so a role's own ``env`` may not set them."""


def worker_variables(
    *, swarm_id: str, role: str, work_in: str | None, work_out: str | None, template_id: str, run_id: str
) -> dict[str, str]:
    """The contract's variables that are names: control plane, identity (but the instance) and work wiring.

    ``role`` is the stage name (the routing segment), ``work_in``/``work_out`` the stage's queue aliases.
    The input queue and the output routing key are set only when the stage is wired that way; the output
    exchange always is (the swarm's work exchange, which the operator declares before the pods start).
    """
    variables = {
        CONTROL_EXCHANGE: naming.CONTROL_EXCHANGE,
        CONTROL_QUEUE_PREFIX: naming.CONTROL_QUEUE_PREFIX,
        SWARM_ID: naming.segment(swarm_id, "swarmId"),
        WORKER_ROLE: naming.segment(role, "role"),
        TEMPLATE_ID: template_id,
        RUN_ID: run_id,
        OUTPUT_EXCHANGE: naming.work_exchange(swarm_id),
    }
    if work_in:
        variables[INPUT_QUEUE] = naming.work_queue(swarm_id, work_in)
    if work_out:
        variables[OUTPUT_ROUTING_KEY] = naming.work_routing_key(swarm_id, work_out)
    return variables


def status_request_scope(swarm_id: str, role: str) -> tuple[str, str, str]:
    """(swarm, role, instance) of a status request every instance of a PocketHive role receives."""
    return (swarm_id, role, naming.ALL)
