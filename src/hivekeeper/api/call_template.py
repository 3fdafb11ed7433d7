"""A call template of ``spec.templates`` (and of a role's ``templates`` / ``templateRoot``): an HTTP call, or a TCP
call with ``protocol: TCP`` (``behavior``, ``endTag``, ``maxBytes``; docs/tcp.md), selected by
``serviceId::callId``."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from hivekeeper.api.auth import AUTH_NAME_PATTERN
from hivekeeper.api.cel import cel_rules
from hivekeeper.api.result_rules import HELP as RESULT_RULES_HELP
from hivekeeper.api.result_rules import ResultRules
from hivekeeper.api.tcp import MAX_BYTES_LIMIT, TcpBehavior

MAX_NAME = 63


class CallTemplate(BaseModel):
    """A call template (HTTP, or TCP with `protocol: TCP`), selected by `serviceId::callId` (the `x-ph-call-id`
    header of an item)."""

    model_config = ConfigDict(
        extra="forbid",
        populate_by_name=True,
        json_schema_extra=cel_rules(
            (
                "!has(self.protocol) || self.protocol != 'TCP' || (has(self.behavior) && "
                "self.behavior != 'REQUEST_RESPONSE') || (has(self.endTag) && size(self.endTag) > 0)",
                "a protocol: TCP template with behavior REQUEST_RESPONSE needs endTag (the bytes that end a reply)",
            ),
            (
                "(has(self.protocol) && self.protocol == 'TCP') || "
                "(!has(self.behavior) && !has(self.endTag) && !has(self.maxBytes))",
                "behavior, endTag and maxBytes are for protocol: TCP templates; set protocol: TCP or remove them",
            ),
        ),
    )

    serviceId: str = Field(
        default="default", min_length=1, max_length=MAX_NAME, description=("Namespace of the call id.")
    )
    callId: str = Field(
        min_length=1, max_length=MAX_NAME, description="Call id that items select with the `x-ph-call-id` header."
    )
    protocol: Literal["HTTP", "TCP"] = Field(
        default="HTTP", description="HTTP, or TCP (a processor with a tcp:// or tcps:// baseUrl sends it)."
    )
    method: str = Field(default="GET", description="HTTP method; may be a template.")
    pathTemplate: str = Field(default="/", description="Path (joined to the processor's baseUrl) or absolute URL.")
    headersTemplate: dict[str, str] = Field(
        default_factory=dict, description="Header templates by name (TCP: metadata carried to the result, not sent)."
    )
    bodyTemplate: str | None = Field(default=None, description="Body template; JSON-looking bodies stay text.")
    auth: str | None = Field(
        default=None,
        pattern=AUTH_NAME_PATTERN,
        description="Name of a spec.auth profile this call authenticates with (over its endpoint's).",
    )
    behavior: TcpBehavior | None = Field(
        default=None,
        description="TCP: what the call reads after writing the body (default REQUEST_RESPONSE; docs/tcp.md).",
    )
    endTag: str | None = Field(
        default=None,
        max_length=256,
        description="TCP REQUEST_RESPONSE: the reply ends with these bytes (e.g. a newline, `</msg>`).",
    )
    maxBytes: int | None = Field(
        default=None,
        ge=1,
        le=MAX_BYTES_LIMIT,
        description="TCP: bytes the call reads at most (over the processor's tcpTransport.maxBytes).",
    )
    resultRules: ResultRules | None = Field(default=None, description=RESULT_RULES_HELP)

    @model_validator(mode="after")
    def _tcp_fields(self) -> CallTemplate:
        if self.protocol != "TCP":
            if self.behavior is not None or self.endTag is not None or self.maxBytes is not None:
                raise ValueError(
                    f"template {self.key!r}: behavior, endTag and maxBytes are for protocol: TCP templates; set "
                    "protocol: TCP or remove them"
                )
        elif self.tcp_behavior == "REQUEST_RESPONSE" and not self.endTag:
            raise ValueError(
                f"template {self.key!r}: behavior REQUEST_RESPONSE needs endTag (the bytes that end a reply, e.g. "
                "'\\n'); or choose LENGTH_PREFIX_2B, STREAMING, ECHO or FIRE_FORGET"
            )
        return self

    @property
    def tcp_behavior(self) -> TcpBehavior:
        """The behaviour of a TCP template (REQUEST_RESPONSE when it names none)."""
        return self.behavior or "REQUEST_RESPONSE"

    @property
    def key(self) -> str:
        return f"{self.serviceId}::{self.callId}"
