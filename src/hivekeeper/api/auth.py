"""Auth profiles: how the workers authenticate to the system under test, declared once per Swarm.

``spec.auth.<name>`` declares a profile; an endpoint (``sut.endpoints.<id>.auth``), a template
(``templates[].auth``) or an http-sequence step (``steps[].auth``) names it. A request uses the first it finds
of: its step's, its template's, the profile of the endpoint its URL starts with.

Credentials are never values in the manifest: a secret field is a :class:`SecretValue`, a reference to a
Kubernetes Secret's key (``secretKeyRef``; the operator mounts that Secret into the pods that need it), or, for
``hivekeeper run``, an environment variable (``env``) or a file (``file``). The profile itself (token URL,
client id, user name, header name) is not secret and travels in the role's config; what a secret resolves to
never does (not in the config, a status, a capture, a tap or a log line).

Pure: no I/O. The worker resolves the references (``worker.auth``).
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

AUTH_NAME_PATTERN = r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$"
MAX_PROFILES = 32
SECRETS_MOUNT = "/var/run/hivekeeper/secrets"
"""Where the operator mounts each Secret an auth profile reads: ``<this>/<secret name>/<key>``."""
SECRETS_DIR_VARIABLE = "HIVEKEEPER_SECRETS_DIR"
"""Overrides :data:`SECRETS_MOUNT` (``hivekeeper run`` points it at ``--secrets DIR``)."""
_SECRET_NAME = r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$"
_SECRET_KEY = r"^[-._a-zA-Z0-9]{1,253}$"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)


class SecretKeyRef(_Model):
    """A key of a Secret in the swarm's namespace."""

    name: str = Field(pattern=_SECRET_NAME, max_length=253, description="Secret name.")
    key: str = Field(pattern=_SECRET_KEY, description="Key in the Secret.")


class SecretValue(_Model):
    """Where a credential comes from: exactly one of `secretKeyRef` (a cluster; the operator mounts the Secret
    into the workers), `env` or `file` (`hivekeeper run`; an environment variable or a file of the machine)."""

    secretKeyRef: SecretKeyRef | None = Field(default=None, description="A Secret's key (the cluster).")
    env: str | None = Field(
        default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", description="An environment variable of the worker."
    )
    file: str | None = Field(default=None, min_length=1, description="A file the worker reads (trailing newline cut).")

    @model_validator(mode="before")
    @classmethod
    def _no_inline_value(cls, data: Any) -> Any:
        if isinstance(data, str | int | float):
            raise ValueError(
                "a credential is never written in the manifest: give {secretKeyRef: {name, key}} (a Secret of the "
                "namespace) or, for hivekeeper run, {env: VARIABLE} or {file: PATH}"
            )
        return data

    @model_validator(mode="after")
    def _exactly_one(self) -> SecretValue:
        given = [n for n in ("secretKeyRef", "env", "file") if getattr(self, n) is not None]
        if len(given) != 1:
            raise ValueError(f"set exactly one of secretKeyRef, env or file (got {', '.join(given) or 'none'})")
        return self

    def describe(self) -> str:
        """Where it comes from, for messages (never what it holds)."""
        if self.secretKeyRef is not None:
            return f"Secret {self.secretKeyRef.name!r} key {self.secretKeyRef.key!r}"
        if self.env is not None:
            return f"environment variable {self.env}"
        return f"file {self.file}"


AuthType = Literal["oauth2-client-credentials", "oauth2-password", "bearer", "basic", "api-key", "mtls"]
AUTH_TYPES: tuple[str, ...] = ("oauth2-client-credentials", "oauth2-password", "bearer", "basic", "api-key", "mtls")
OAUTH2_TYPES = ("oauth2-client-credentials", "oauth2-password")
_OAUTH2_KEYS = {
    "tokenUrl",
    "clientId",
    "clientSecret",
    "clientAuth",
    "scope",
    "audience",
    "refreshAheadSeconds",
    "maxTokenBytes",
    "retries",
}
_REQUIRED: dict[str, set[str]] = {
    "oauth2-client-credentials": {"tokenUrl", "clientId", "clientSecret"},
    "oauth2-password": {"tokenUrl", "username", "password"},
    "bearer": {"token"},
    "basic": {"username", "password"},
    "api-key": {"name", "value"},
    "mtls": {"cert", "key"},
}
_ALLOWED: dict[str, set[str]] = {
    "oauth2-client-credentials": _OAUTH2_KEYS,
    "oauth2-password": _OAUTH2_KEYS | {"username", "password"},
    "bearer": {"token"},
    "basic": {"username", "password"},
    "api-key": {"in", "name", "value"},
    "mtls": {"cert", "key", "ca"},
}
_COMMON = {"type", "timeoutMs"}
SECRET_FIELDS = ("clientSecret", "password", "token", "value", "cert", "key", "ca")
FILE_FIELDS = ("cert", "key", "ca")
"""Secret fields the worker needs as files (the TLS library reads paths)."""


class AuthProfile(_Model):
    """One way of authenticating to the system under test. `type` decides which other keys it takes:
    `oauth2-client-credentials` (tokenUrl, clientId, clientSecret; scope, audience, clientAuth),
    `oauth2-password` (tokenUrl, username, password; clientId, clientSecret optional), `bearer` (token),
    `basic` (username, password), `api-key` (in: header|query, name, value), `mtls` (cert, key; ca).
    OAuth2 tokens are fetched per worker, cached, refreshed ahead of expiry, fetched once for any number of
    concurrent requests, and refreshed once on a 401 (the request retried once)."""

    type: AuthType = Field(description="The scheme; decides which other keys apply.")
    timeoutMs: int = Field(default=5000, ge=100, le=60000, description="Bound of one token request (OAuth2).")
    tokenUrl: str | None = Field(
        default=None, max_length=2048, description="OAuth2 token endpoint; may be a template over `sut` and `vars`."
    )
    clientId: str | None = Field(default=None, max_length=512, description="OAuth2 client id (not secret).")
    clientSecret: SecretValue | None = Field(default=None, description="OAuth2 client secret.")
    clientAuth: Literal["basic", "body"] = Field(
        default="basic",
        description="How the client authenticates to the token endpoint: HTTP Basic (RFC 6749 2.3.1) or "
        "client_id/client_secret in the form body.",
    )
    scope: str | None = Field(default=None, max_length=1024, description="OAuth2 scope (space-separated).")
    audience: str | None = Field(default=None, max_length=1024, description="OAuth2 `audience` parameter, if any.")
    refreshAheadSeconds: float = Field(
        default=30.0,
        ge=0,
        le=3600,
        description="Fetch a new OAuth2 token this long before the current one expires (at most half its lifetime).",
    )
    maxTokenBytes: int = Field(
        default=65536, ge=1024, le=1048576, description="Largest token response accepted (OAuth2)."
    )
    retries: int = Field(
        default=2, ge=0, le=5, description="Further attempts of a token request after a transport error or a 5xx."
    )
    username: str | None = Field(default=None, max_length=512, description="User name (basic, oauth2-password).")
    password: SecretValue | None = Field(default=None, description="Password (basic, oauth2-password).")
    token: SecretValue | None = Field(default=None, description="The token (bearer).")
    in_: Literal["header", "query"] = Field(default="header", alias="in", description="Where an API key goes.")
    name: str | None = Field(
        default=None,
        max_length=256,
        pattern=r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$",
        description="Header or query parameter of an API key.",
    )
    value: SecretValue | None = Field(default=None, description="The API key.")
    cert: SecretValue | None = Field(default=None, description="PEM client certificate chain (mtls).")
    key: SecretValue | None = Field(default=None, description="PEM private key (mtls).")
    ca: SecretValue | None = Field(default=None, description="PEM CA bundle to verify the server with (mtls).")

    @model_validator(mode="after")
    def _keys_of_its_type(self) -> AuthProfile:
        given = {("in" if name == "in_" else name) for name in self.model_fields_set}
        missing = sorted(_REQUIRED[self.type] - given)
        if missing:
            raise ValueError(f"type {self.type} needs {', '.join(missing)}")
        # A key of another type is refused unless it holds its default (a full dump of a profile carries them).
        defaults = {("in" if n == "in_" else n): f.default for n, f in type(self).model_fields.items()}
        values = {("in" if n == "in_" else n): getattr(self, n) for n in self.model_fields_set}
        foreign = sorted(n for n in given - _ALLOWED[self.type] - _COMMON if values[n] != defaults[n])
        if foreign:
            raise ValueError(
                f"type {self.type} does not use {', '.join(foreign)}; its keys: "
                f"{', '.join(sorted(_ALLOWED[self.type] | _COMMON))}"
            )
        return self

    @property
    def is_oauth2(self) -> bool:
        return self.type in OAUTH2_TYPES


def secret_fields(profile: AuthProfile) -> dict[str, SecretValue]:
    """The profile's credentials by field name."""
    found = {}
    for name in SECRET_FIELDS:
        value = getattr(profile, name, None)
        if isinstance(value, SecretValue):
            found[name] = value
    return found


SENDING_ROLES = ("processor", "http-sequence")
"""The built-in roles that call the SUT: only their workers read credentials (the request-builder passes a
profile's name along, nothing more)."""


def role_secret_names(role: str | None, config: dict[str, Any]) -> list[str]:
    """The Secrets the workers of ``role`` read for the auth profiles in their ``config``: what the operator mounts
    into their pods and what its policy checks."""
    profiles = config.get("auth")
    if role not in SENDING_ROLES or not isinstance(profiles, dict):
        return []
    return secret_names(profiles)


def secret_names(profiles: dict[str, Any]) -> list[str]:
    """The Secrets that raw (unvalidated) profiles read through ``secretKeyRef``, sorted; for the operator,
    which mounts them into the workers. Anything malformed is skipped: validation names it."""
    names: set[str] = set()
    for profile in profiles.values() if isinstance(profiles, dict) else ():
        if not isinstance(profile, dict):
            continue
        for value in profile.values():
            ref = value.get("secretKeyRef") if isinstance(value, dict) else None
            if isinstance(ref, dict) and isinstance(ref.get("name"), str) and re.match(_SECRET_NAME, ref["name"]):
                names.add(ref["name"])
    return sorted(names)
