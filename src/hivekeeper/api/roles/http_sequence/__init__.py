"""The http-sequence role: walks each item through ordered HTTP steps (a journey) against the system under test."""

from __future__ import annotations

from hivekeeper.api.roles.common import COMMON_LIVE
from hivekeeper.api.roles.definition import RoleDefinition
from hivekeeper.api.roles.http_sequence.config import HttpSequenceConfig

LIVE = COMMON_LIVE | {
    "baseUrl",
    "serviceId",
    "threadCount",
    "timeoutMs",
    "maxResponseBytes",
    "keepAlive",
    "sslVerify",
    "templateRoot",
    "steps",
    "debugCapture",
}
"""Everything but the input and output types: journeys started after the update follow the new steps."""

ROLE = RoleDefinition("http-sequence", HttpSequenceConfig, LIVE, guide="docs/worker.md#http-sequence")
