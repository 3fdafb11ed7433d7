"""The worker's auth profiles: the implementation of the roles' auth port (``worker.auth_port``).

:meth:`Authenticator.prepare` builds the profiles of a config before it is swapped in, reading every credential
once (a missing Secret key or file refuses the config, naming ``auth.<profile>.<field>``) and keeping the
token cache of every profile the new config did not change, so a config-update does not cost a token request.
OAuth2 credentials are read again at each token request (a rotated Secret, mounted as a file, is picked up).
Token requests go through a client of their own and are counted in ``AuthStats``, not with the SUT's calls.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from hivekeeper.api.auth import AuthProfile, secret_fields
from hivekeeper.api.roles import ConfigError
from hivekeeper.templating.engine import TemplateEngine, TemplateError
from hivekeeper.worker.auth import oauth2
from hivekeeper.worker.auth.secrets import SecretReader, SecretUnreadable
from hivekeeper.worker.auth.tokens import Token, TokenCache
from hivekeeper.worker.auth_port import AuthFailed, Credentials
from hivekeeper.worker.http.client import HttpClient
from hivekeeper.worker.http.tls import ClientCertError, client_context
from hivekeeper.worker.http_port import HttpPort, Origin, OriginError
from hivekeeper.worker.stats import AuthStats


class _Static:
    def __init__(self, credentials: Credentials, client: HttpClient | None = None) -> None:
        self._credentials = credentials
        self.client = client

    async def credentials(self) -> Credentials:
        return self._credentials

    def rejected(self, used: Credentials) -> bool:
        return False


class _OAuth2:
    def __init__(self, cache: TokenCache) -> None:
        self.cache = cache
        self.client: HttpClient | None = None

    async def credentials(self) -> Credentials:
        token = await self.cache.get()
        return Credentials(headers=(("Authorization", f"Bearer {token}"),), token=token)

    def rejected(self, used: Credentials) -> bool:
        if used.token is None:
            return False
        self.cache.invalidate(used.token)
        return True


_Provider = _Static | _OAuth2


@dataclass
class Authenticator:
    """Profiles by name; ``prepare`` the next config's, ``close`` them when the worker stops."""

    secrets: SecretReader
    stats: AuthStats
    engine: TemplateEngine
    role: str = "worker"
    _providers: dict[str, _Provider] = field(default_factory=dict)
    _keys: dict[str, str] = field(default_factory=dict)
    _token_http: HttpClient | None = None

    def prepare(self, profiles: dict[str, AuthProfile], context: dict[str, Any], *, ssl_verify: bool) -> Authenticator:
        """The profiles of a new config (this set unchanged); raises ``ConfigError`` naming what cannot be used."""
        token_http = self._token_http
        if token_http is None or token_http.ssl_verify != ssl_verify:
            token_http = HttpClient(ssl_verify=ssl_verify, collect_headers=False)
        prepared = Authenticator(self.secrets, self.stats, self.engine, self.role, _token_http=token_http)
        problems: list[tuple[str, str]] = []
        for name, profile in profiles.items():
            key = orjson.dumps([profile.model_dump(mode="json"), ssl_verify, context.get("sut")]).decode()
            kept = self._providers.get(name)
            try:
                if kept is not None and self._keys.get(name) == key:
                    self._read_all(name, profile)  # still readable (the check a new config always gets)
                    provider = kept
                else:
                    provider = self._build(name, profile, context, ssl_verify, token_http)
            except (SecretUnreadable, ClientCertError, OriginError, TemplateError) as exc:
                problems.append((f"auth.{name}", str(exc)))
                continue
            prepared._providers[name] = provider
            prepared._keys[name] = key
        if problems:
            raise ConfigError(self.role, problems)
        return prepared

    def _read_all(self, name: str, profile: AuthProfile) -> dict[str, str]:
        texts = {}
        for field_name, value in secret_fields(profile).items():
            where = f"auth.{name}.{field_name}"
            if field_name in ("cert", "key", "ca"):
                self.secrets.path(value, where)
            else:
                texts[field_name] = self.secrets.text(value, where)
        return texts

    def _build(
        self, name: str, profile: AuthProfile, context: dict[str, Any], verify: bool, token_http: HttpClient
    ) -> _Provider:
        texts = self._read_all(name, profile)
        if profile.is_oauth2:
            assert profile.tokenUrl is not None  # required by the model for the OAuth2 types
            url = self.engine.render(f"auth.{name}.tokenUrl", profile.tokenUrl, context)
            Origin.parse(url)  # an http(s) URL, or the config is refused now
            return _OAuth2(TokenCache(self._fetcher(name, profile, url, token_http), profile.refreshAheadSeconds))
        if profile.type == "bearer":
            return _Static(Credentials(headers=(("Authorization", f"Bearer {texts['token']}"),)))
        if profile.type == "basic":
            pair = f"{profile.username}:{texts['password']}".encode()
            return _Static(Credentials(headers=(("Authorization", "Basic " + base64.b64encode(pair).decode()),)))
        if profile.type == "api-key":
            assert profile.name is not None  # required by the model for api-key
            entry = ((profile.name, texts["value"]),)
            return _Static(Credentials(headers=entry) if profile.in_ == "header" else Credentials(query=entry))
        assert profile.cert is not None  # mtls: required by the model
        assert profile.key is not None
        if self.secrets.offline:
            return _Static(Credentials())  # nothing to load: the certificates are the cluster's
        where = f"auth.{name}"
        ca = self.secrets.path(profile.ca, f"{where}.ca") if profile.ca is not None else None
        tls = client_context(
            self.secrets.path(profile.cert, f"{where}.cert"),
            self.secrets.path(profile.key, f"{where}.key"),
            ca,
            verify=verify,
            where=where,
        )
        client = HttpClient(ssl_verify=verify, tls=tls)
        return _Static(Credentials(http=client), client)

    def _fetcher(self, name: str, profile: AuthProfile, url: str, http: HttpClient) -> Callable[[], Any]:
        async def fetch() -> Token:
            try:
                texts = self._read_all(name, profile)
            except SecretUnreadable as exc:
                self.stats.token_errors += 1
                raise AuthFailed(str(exc)) from exc
            return await oauth2.fetch(http, oauth2.TokenRequest.of(name, profile, url, texts), self.stats)

        return fetch

    # -- the port -------------------------------------------------------------------------------
    def knows(self, profile: str) -> bool:
        return profile in self._providers

    async def credentials(self, profile: str) -> Credentials:
        provider = self._providers.get(profile)
        if provider is None:
            raise AuthFailed(f"no auth profile {profile!r}; declared: {', '.join(sorted(self._providers)) or 'none'}")
        return await provider.credentials()

    def rejected(self, profile: str, used: Credentials) -> None:
        provider = self._providers.get(profile)
        if provider is not None and provider.rejected(used):
            self.stats.unauthorized_retries += 1

    @property
    def http(self) -> HttpPort | None:
        """The client token requests go through (tests look at it)."""
        return self._token_http

    def close(self, keep: Authenticator | None = None) -> None:
        """Close the clients ``keep`` (the set replacing this one) does not use."""
        kept = {id(p) for p in keep._providers.values()} if keep is not None else set()
        for provider in self._providers.values():
            if id(provider) not in kept and provider.client is not None:
                provider.client.close()
        if self._token_http is not None and (keep is None or keep._token_http is not self._token_http):
            self._token_http.close()
