"""What every Redis block of a role config shares: no connection keys, and the fix when Redis is missing."""

from __future__ import annotations

from typing import Any

from pydantic import model_validator
from pydantic_core import PydanticCustomError

from hivekeeper.api.roles.base import RoleModel

NEEDS_REDIS = (
    "needs Redis: set HIVEKEEPER_REDIS_URL (the redisUrl key of the hivekeeper-broker Secret in a cluster) "
    "or pass `hivekeeper run --redis URL`"
)
"""The fix named when a config uses Redis and the worker has no store."""

_REDIS_CONNECTION_KEYS = ("host", "port", "username", "password", "ssl")


class RedisBlock(RoleModel):
    """Redis settings of an input or output. The connection is not one of them: it comes from
    HIVEKEEPER_REDIS_URL (a Secret in a cluster), so credentials never sit in a Swarm or a status."""

    @model_validator(mode="before")
    @classmethod
    def _no_connection_keys(cls, data: Any) -> Any:
        found = [key for key in _REDIS_CONNECTION_KEYS if isinstance(data, dict) and key in data]
        if found:
            # The values are not echoed: one of them may be a password.
            raise PydanticCustomError(
                "redis_connection",
                "{keys}: connection keys are not accepted here; the Redis connection comes from "
                "HIVEKEEPER_REDIS_URL (the redisUrl key of the hivekeeper-broker Secret in a cluster, "
                "`hivekeeper run --redis URL` locally): remove them",
                {"keys": ", ".join(found)},
            )
        return data
