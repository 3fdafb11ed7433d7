"""A role's input and output against its ``work.in`` and ``work.out``: combinations whose workers stop at
start, drop every item, or let a queue pile up."""

from __future__ import annotations

from typing import TYPE_CHECKING

from hivekeeper.api.roles.postprocessor.config import PostprocessorConfig

if TYPE_CHECKING:
    from hivekeeper.validate.document import Document
    from hivekeeper.validate.roles import Role


def io_findings(doc: Document, role: Role) -> None:
    state, config = role.state, role.config
    assert state is not None
    assert config is not None
    inputs, outputs = state.input_type, state.output_type
    in_path = (*role.config_path, "inputs", "type")
    out_path = (*role.config_path, "outputs", "type")
    default = "" if config.inputs.type else f", the default for a {role.kind}"
    if inputs == "RABBITMQ" and not role.work_in:
        doc.add(
            "error",
            "io-combination",
            in_path if config.inputs.type else (*role.base, "work", "in"),
            f"{role.label} reads its items from RabbitMQ (inputs.type RABBITMQ{default}) but has no work.in "
            "queue: its workers stop at start",
            "set work.in to the work.out alias of the role that feeds it, or set config.inputs.type to "
            "SCHEDULER, REDIS_DATASET or CSV_DATASET",
        )
    if inputs != "RABBITMQ" and role.work_in:
        doc.add(
            "error",
            "io-combination",
            (*role.base, "work", "in"),
            f"{role.label} takes its items from {inputs} (inputs.type{default}), so nothing consumes its work.in "
            f"queue {role.work_in!r}: items published there pile up",
            "remove work.in, or set config.inputs.type: RABBITMQ to consume the queue",
        )
    if role.kind in ("request-builder", "postprocessor") and inputs == "SCHEDULER":
        doc.add(
            "error",
            "io-combination",
            in_path,
            f"a {role.kind} handles items from work.in; with a SCHEDULER input every tick is dropped "
            f"({role.kind}.no-item)",
            "remove config.inputs.type (RABBITMQ is the default) and set work.in",
        )
    if outputs == "REDIS" and role.work_out:
        doc.add(
            "error",
            "io-combination",
            (*role.base, "work", "out"),
            f"{role.label} pushes its results to Redis (outputs.type REDIS), so nothing is published to "
            f"work.out {role.work_out!r} and whoever consumes it never gets an item",
            "remove work.out, or keep the RabbitMQ output and push to Redis as well with "
            "config.interceptors.redisUploader",
        )
    if config.outputs.type == "RABBITMQ" and not role.work_out:
        doc.add(
            "error",
            "io-combination",
            out_path,
            f"{role.label} publishes to RabbitMQ (outputs.type RABBITMQ) but has no work.out queue: its workers "
            "stop at start",
            "set work.out to the alias the next role consumes, or set outputs.type: NONE",
        )
    if config.outputs.type == "NONE" and role.work_out:
        doc.add(
            "error",
            "io-combination",
            out_path,
            f"{role.label} has work.out {role.work_out!r} but outputs.type NONE publishes nothing to it",
            "remove outputs.type (RABBITMQ is the default with work.out), or remove work.out",
        )
    forwards = getattr(config, "forwardToOutput", True)
    if isinstance(config, PostprocessorConfig) and outputs == "RABBITMQ" and not forwards:
        doc.add(
            "warning",
            "io-combination",
            (*role.base, "work", "out"),
            f"{role.label} has work.out {role.work_out!r}, but a postprocessor publishes nothing unless "
            "forwardToOutput is true",
            "set config.forwardToOutput: true, or remove work.out",
        )
