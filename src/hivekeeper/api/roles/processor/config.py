"""The processor's config: where and how it sends each request (one deadline, a body limit, a rate or a pool)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from hivekeeper.api.http_limits import DEFAULT_MAX_RESPONSE_BYTES, MAX_RESPONSE_BYTES_HELP, MAX_RESPONSE_BYTES_LIMIT
from hivekeeper.api.result_rules import ResultRules
from hivekeeper.api.roles.base import RoleModel
from hivekeeper.api.roles.common import CommonConfig
from hivekeeper.api.tcp import DEFAULT_MAX_BYTES, MAX_BYTES_HELP, MAX_BYTES_LIMIT


class DirectRequest(RoleModel):
    """The request a processor renders itself when its input is SCHEDULER (no broker hop)."""

    method: str = "GET"
    path: str = "/"
    headers: dict[str, str] = Field(default_factory=dict)
    body: str | None = None
    auth: str | None = Field(default=None, min_length=1, description="Auth profile (spec.auth) of this request.")


class TcpTransport(RoleModel):
    """How the processor's TCP client connects and reads (`tcp://` and `tcps://` base URLs)."""

    connectTimeoutMs: int = Field(
        default=5000, ge=1, le=600000, description="Bound of one connect attempt (within timeoutMs)."
    )
    readTimeoutMs: int = Field(
        default=30000,
        ge=1,
        le=600000,
        description="Bound of the read after the request is written (within timeoutMs); ends a STREAMING read.",
    )
    maxBytes: int = Field(default=DEFAULT_MAX_BYTES, ge=1, le=MAX_BYTES_LIMIT, description=MAX_BYTES_HELP)
    maxRetries: int = Field(
        default=2,
        ge=0,
        le=10,
        description="Further connect attempts after a refused or failed connect (100 ms times the attempt number "
        "apart, within timeoutMs); a request once written is never sent again.",
    )
    keepAlive: bool = Field(default=True, description="Reuse connections per endpoint (false: one per call).")
    sslVerify: bool = Field(
        default=True, description="Verify a tcps:// server's certificate and name (set false only for tests)."
    )
    caFile: str | None = Field(
        default=None, min_length=1, description="PEM file of the CA that signed a tcps:// server (else the system's)."
    )


class ProcessorConfig(CommonConfig):
    """Sends each item's HTTP or TCP request to the system under test and publishes the result (status, latency, body).

    With a SCHEDULER input it renders `request` itself (direct mode, no broker hop).
    """

    baseUrl: str = Field(
        default="",
        description="http(s) base URL, or tcp://host:port (tcps:// for TLS) for TCP calls; a template may use "
        "`sut.endpoints.*`.",
    )
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
    tcpTransport: TcpTransport = Field(
        default_factory=TcpTransport, description="The TCP client of tcp:// and tcps:// base URLs (docs/tcp.md)."
    )
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
