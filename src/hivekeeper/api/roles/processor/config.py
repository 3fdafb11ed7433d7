"""The processor's config: where and how it sends each request (one deadline, a body limit, a rate or a pool)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from hivekeeper.api.http_limits import DEFAULT_MAX_RESPONSE_BYTES, MAX_RESPONSE_BYTES_HELP, MAX_RESPONSE_BYTES_LIMIT
from hivekeeper.api.result_rules import ResultRules
from hivekeeper.api.roles.base import RoleModel
from hivekeeper.api.roles.common import CommonConfig


class DirectRequest(RoleModel):
    """The request a processor renders itself when its input is SCHEDULER (no broker hop)."""

    method: str = "GET"
    path: str = "/"
    headers: dict[str, str] = Field(default_factory=dict)
    body: str | None = None
    auth: str | None = Field(default=None, min_length=1, description="Auth profile (spec.auth) of this request.")


class ProcessorConfig(CommonConfig):
    """Sends each item's HTTP request to the system under test and publishes the result (status, latency, body).

    With a SCHEDULER input it renders `request` itself (direct mode, no broker hop).
    """

    baseUrl: str = Field(default="", description="http(s) base URL; a template may use `sut.endpoints.*`.")
    mode: Literal["THREAD_COUNT", "RATE_PER_SEC"] = Field(default="THREAD_COUNT")
    threadCount: int = Field(default=32, ge=1, le=10000, description="Maximum requests in flight.")
    ratePerSec: float = Field(default=0.0, ge=0, description="Request rate in RATE_PER_SEC mode (> 0).")
    timeoutMs: int = Field(
        default=30000, ge=1, le=600000, description="One deadline for connect, a reconnect and the whole body."
    )
    maxResponseBytes: int = Field(
        default=DEFAULT_MAX_RESPONSE_BYTES, ge=0, le=MAX_RESPONSE_BYTES_LIMIT, description=MAX_RESPONSE_BYTES_HELP
    )
    keepAlive: bool = True
    sslVerify: bool = Field(default=True, description="Verify TLS certificates (set false only for tests).")
    correlationHeader: str = Field(default="X-Correlation-Id", description="Header carrying correlationId.")
    request: DirectRequest = Field(default_factory=DirectRequest)
    resultRules: ResultRules | None = Field(
        default=None,
        description="Result rules for every call whose request carries none of its own (its template's): a "
        "business code, the codes that are a success, dimensions (docs/worker.md#result-rules).",
    )

    @model_validator(mode="after")
    def _rate_mode(self) -> ProcessorConfig:
        if self.mode == "RATE_PER_SEC" and self.ratePerSec <= 0:
            raise ValueError("mode RATE_PER_SEC needs ratePerSec > 0; set ratePerSec or use mode THREAD_COUNT")
        return self
