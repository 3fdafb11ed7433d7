"""The config error of a worker whose RabbitMQ input or output has no queue to use.

``hivekeeper validate`` (and so the admission webhook) says the same before anything runs
(``validate/io_combinations.py``); a worker started anyway, by ``hivekeeper run`` or from a hand-made
Deployment, stops with this error instead of an assertion's traceback.
"""

from __future__ import annotations

from hivekeeper.api.roles import ConfigError


def no_work_in(role: str) -> ConfigError:
    return ConfigError(
        role,
        [
            (
                "work.in",
                "the role reads its items from RabbitMQ (inputs.type RABBITMQ) but has no work.in queue; set work.in "
                "to the work.out alias of the role that feeds it, or set config.inputs.type to SCHEDULER, "
                "REDIS_DATASET or CSV_DATASET",
            )
        ],
    )


def no_work_out(role: str) -> ConfigError:
    return ConfigError(
        role,
        [
            (
                "work.out",
                "the role publishes to RabbitMQ (outputs.type RABBITMQ) but has no work.out queue; set work.out to "
                "the alias the next role consumes, or set outputs.type: NONE",
            )
        ],
    )
