"""``debugCapture`` of an http-sequence: full request/response captures of chosen steps, in Redis."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from hivekeeper.api.roles.base import RoleModel

REDACTED_BY_DEFAULT = ("authorization", "proxy-authorization", "cookie", "set-cookie", "x-api-key")


class DebugCapture(RoleModel):
    """Full request/response captures of chosen steps, written to Redis keys that expire."""

    mode: Literal["NONE", "ERROR_ONLY", "SAMPLE", "ALWAYS"] = Field(
        default="ERROR_ONLY", description="Which steps: none, non-2xx/transport errors, a sample, all."
    )
    samplePct: float = Field(default=0.0, ge=0.0, le=1.0, description="SAMPLE: share of steps (drawn per step).")
    maxBodyBytes: int = Field(default=262144, ge=0, le=16 * 1024 * 1024, description="Captured body cap.")
    maxJourneyBytes: int = Field(
        default=1048576, ge=0, le=256 * 1024 * 1024, description="Capture budget per journey; later steps skipped."
    )
    includeHeaders: bool = Field(default=True, description="Capture headers (redacted, see redactHeaders).")
    includeRequest: bool = Field(default=False, description="Capture the request too (method, url, headers, body).")
    bodyPreviewBytes: int = Field(
        default=0, ge=0, le=65536, description="Response bytes copied into the step metadata; 0 = none."
    )
    redisTtlSeconds: int = Field(default=120, ge=1, le=86400, description="Lifetime of a capture key.")
    redactHeaders: list[str] = Field(
        default_factory=lambda: list(REDACTED_BY_DEFAULT),
        max_length=256,
        description=(
            "More header and body field names to redact, on top of the rule every place uses (authorization, "
            "cookies, API keys, tokens, passwords, secrets; plus HIVEKEEPER_REDACT): see docs/worker.md."
        ),
    )
