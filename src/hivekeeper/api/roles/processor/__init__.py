"""The processor role: sends each item's HTTP or TCP request to the system under test and publishes the result."""

from __future__ import annotations

from hivekeeper.api.roles.common import COMMON_LIVE
from hivekeeper.api.roles.definition import RoleDefinition
from hivekeeper.api.roles.processor.config import ProcessorConfig

LIVE = COMMON_LIVE | {
    "baseUrl",
    "mode",
    "threadCount",
    "ratePerSec",
    "timeoutMs",
    "maxResponseBytes",
    "keepAlive",
    "sslVerify",
    "correlationHeader",
    "request",
    "resultRules",
    "tcpTransport",
}
"""Everything but the input and output types: the pool, the rate and the client follow the new values."""

ROLE = RoleDefinition(
    "processor", ProcessorConfig, LIVE, guide="docs/worker.md#http-requests-deadline-body-limit-retries"
)
