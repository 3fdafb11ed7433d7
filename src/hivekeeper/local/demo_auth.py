"""The demo SUT's authorization server: an OAuth2 token endpoint with short-lived tokens, and the check of the
paths it protects.

``POST /oauth/token`` (form-encoded) issues a bearer token for the client credentials grant (client id and
secret in HTTP Basic or in the form) and the password grant (plus a user name and password), valid
``token_ttl`` seconds (2 by default: a run of a minute sees many refreshes). Every path under ``/secure/``
answers 401 without a valid, unexpired token and otherwise what the same path without the prefix answers.
The credentials are the demo's own, public ones (:data:`DEMO_SECRET`): ``hivekeeper run --demo-sut`` provides
them as the Secret ``hivekeeper-demo-sut``, which a cluster run creates itself.
"""

from __future__ import annotations

import base64
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import parse_qs, unquote

import orjson

DEMO_SECRET_NAME = "hivekeeper-demo-sut"
DEMO_CLIENT_ID = "hivekeeper-demo"
DEMO_CLIENT_SECRET = "demo-client-secret"
DEMO_USERNAME = "demo-user"
DEMO_PASSWORD = "demo-password"
DEMO_SECRET = {(DEMO_SECRET_NAME, "clientSecret"): DEMO_CLIENT_SECRET, (DEMO_SECRET_NAME, "password"): DEMO_PASSWORD}
"""The Secret ``hivekeeper-demo-sut`` as (name, key) → value: what the demo accepts."""
MAX_TOKENS = 100_000
"""Tokens remembered at most (expired ones are forgotten first)."""

Answer = tuple[int, bytes, bytes]


def _error(status: int, code: str, extra: bytes = b"") -> Answer:
    return status, orjson.dumps({"error": code}), extra


@dataclass
class DemoAuth:
    token_ttl: float = 2.0
    clients: dict[str, str] = field(default_factory=lambda: {DEMO_CLIENT_ID: DEMO_CLIENT_SECRET})
    users: dict[str, str] = field(default_factory=lambda: {DEMO_USERNAME: DEMO_PASSWORD})
    clock: Callable[[], float] = time.monotonic
    tokens: dict[str, float] = field(default_factory=dict)
    """Valid tokens and when each expires (``clock`` time)."""
    issued: int = 0
    refused: int = 0
    """Token requests refused (bad client, grant or user)."""
    unauthorized: int = 0
    """Requests to /secure/ answered 401."""

    def token(self, body: bytes, authorization: bytes | None) -> Answer:
        """The answer of ``POST /oauth/token``."""
        form = {k: v[0] for k, v in parse_qs(body.decode("latin-1"), keep_blank_values=True).items()}
        client_id, client_secret = form.get("client_id"), form.get("client_secret")
        if authorization is not None and authorization[:6].lower() == b"basic ":
            try:
                pair = base64.b64decode(authorization[6:].strip(), validate=True).decode()
            except (ValueError, UnicodeDecodeError):
                pair = ""
            if ":" in pair:
                raw_id, raw_secret = pair.split(":", 1)
                client_id, client_secret = unquote(raw_id), unquote(raw_secret)
        if client_id is None or self.clients.get(client_id) != client_secret:
            self.refused += 1
            return _error(401, "invalid_client", b'WWW-Authenticate: Basic realm="demo"\r\n')
        grant = form.get("grant_type")
        if grant == "password":
            if self.users.get(form.get("username", "")) != form.get("password"):
                self.refused += 1
                return _error(400, "invalid_grant")
        elif grant != "client_credentials":
            self.refused += 1
            return _error(400, "unsupported_grant_type")
        return 200, orjson.dumps(self._issue()), b"Cache-Control: no-store\r\n"

    def _issue(self) -> dict[str, object]:
        now = self.clock()
        if len(self.tokens) >= MAX_TOKENS:
            self.tokens = {t: at for t, at in self.tokens.items() if at > now}
            while len(self.tokens) >= MAX_TOKENS:
                self.tokens.pop(next(iter(self.tokens)))
        value = secrets.token_urlsafe(24)
        self.tokens[value] = now + self.token_ttl
        self.issued += 1
        ttl = int(self.token_ttl) if float(self.token_ttl).is_integer() else self.token_ttl
        return {"access_token": value, "token_type": "Bearer", "expires_in": ttl}

    def allows(self, authorization: bytes | None) -> bool:
        """Whether ``authorization`` carries a token issued here that has not expired."""
        if authorization is not None and authorization[:7].lower() == b"bearer ":
            expires = self.tokens.get(authorization[7:].strip().decode("latin-1"))
            if expires is not None and self.clock() < expires:
                return True
        self.unauthorized += 1
        return False

    def stats(self) -> dict[str, int]:
        return {"tokensIssued": self.issued, "tokenRequestsRefused": self.refused, "unauthorized": self.unauthorized}


UNAUTHORIZED: Answer = (
    401,
    b'{"error":"invalid_token"}',
    b'WWW-Authenticate: Bearer error="invalid_token"\r\n',
)
