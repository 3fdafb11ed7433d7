"""A bundle's ``authProfiles.yaml`` and its templates' ``authRef`` as the Swarm's ``spec.auth`` and
``templates[].auth``.

PocketHive decides how a credential is applied per reference (``authRef.applyAs``, ``headerName``,
``queryParam``); hivekeeper per profile. So each distinct way a profile is referenced becomes one profile (named
after PocketHive's, with a suffix when one profile is applied in two ways), created when a template first names
it:

- OAUTH2_CLIENT_CREDENTIALS, OAUTH2_PASSWORD_GRANT applied as HTTP_AUTHORIZATION_BEARER: oauth2-client-credentials,
  oauth2-password (``clientAuth: body``: PocketHive posts the client id and secret in the form);
- BEARER_TOKEN, STATIC_TOKEN, API_KEY: as HTTP_AUTHORIZATION_BEARER a bearer profile; as HTTP_HEADER an api-key
  in that header (``headerName``, default Authorization); as HTTP_QUERY_PARAM an api-key in the query
  (``queryParam``);
- BASIC_AUTH as HTTP_HEADER or HTTP_AUTHORIZATION_BEARER: basic.

Anything else (HMAC, AWS signatures, ISO 8583 MACs, a PKCS12 keystore for mTLS) is an ``auth-unsupported`` error.
Credentials never go into the manifest: each one becomes a key of one Secret, ``hivekeeper-<bundle>-auth``
(``secretKeyRef``), and its value (the literal, or the ``{env: NAME}`` a bee's ``env`` or this process's
environment holds) is returned apart, for ``hivekeeper import --secrets-dir``; a bee ``env`` entry that only
carried a credential is dropped from the role. A token URL under a SUT endpoint's base URL is written relative to
it (``{{ sut.endpoints.<id>.baseUrl }}/...``), so it follows ``--sut`` and ``--demo-sut``.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Any

from hivekeeper.importer.bundle import Bundle, Collector, Path_, SourceFile, mapping
from hivekeeper.importer.wiring import dns_name

_OAUTH2 = {"OAUTH2_CLIENT_CREDENTIALS": "oauth2-client-credentials", "OAUTH2_PASSWORD_GRANT": "oauth2-password"}
_TOKENS = ("BEARER_TOKEN", "STATIC_TOKEN", "API_KEY")
_DROPPED_QUIETLY = ("storage", "refresh", "type")
"""Read (refresh.refreshAheadSeconds) or replaced by hivekeeper's per-worker cache (storage, leases)."""


def _norm(value: Any) -> str:
    return str(value or "").strip().upper().replace("-", "_")


@dataclass
class AuthImport:
    """The profiles referenced so far, and the credentials they read (kept out of the manifest)."""

    bundle: Bundle
    secret: str
    """The Secret every imported credential is a key of."""
    endpoints: dict[str, str]
    """The chosen SUT's endpoints (id -> base URL), to write token URLs relative to them."""
    env_values: dict[str, str]
    """Every bee's ``env`` (name -> value): where PocketHive's ``{env: NAME}`` credentials usually are."""
    profiles: dict[str, dict[str, Any]] = field(default_factory=dict)
    secrets: dict[str, str] = field(default_factory=dict)
    """Secret key -> credential, for ``--secrets-dir`` (never printed)."""
    missing: list[str] = field(default_factory=list)
    """Secret keys whose value the bundle does not hold (an ``env`` credential set nowhere)."""
    credential_env: set[str] = field(default_factory=set)
    """Bee env names that held a credential (dropped from the roles' env)."""
    _by_use: dict[tuple[str, ...], str] = field(default_factory=dict)
    _used: set[str] = field(default_factory=set)

    @classmethod
    def of(cls, bundle: Bundle, bundle_id: str, endpoints: dict[str, str], bees: list[Any]) -> AuthImport:
        env: dict[str, str] = {}
        for bee in bees:
            env.update({str(k): str(v) for k, v in mapping(mapping(bee).get("env")).items()})
        return cls(bundle, f"hivekeeper-{dns_name(bundle_id, 'bundle')}-auth"[:253], endpoints, env)

    def _raw_profiles(self) -> dict[str, Any]:
        source = self.bundle.auth_profiles
        return mapping(mapping(source.data if source is not None else None).get("profiles"))

    def reference(self, source: SourceFile, path: Path_, ref: Any, call: str, collect: Collector) -> str:
        """The hivekeeper profile an ``authRef`` becomes (declared on first use); after an error, the name of a
        profile left undeclared (the error stays visible to validate)."""
        ref = mapping(ref)
        profile_id = str(ref.get("profileId") or "")
        raw = self._raw_profiles().get(profile_id)
        if not isinstance(raw, dict):
            known = ", ".join(sorted(self._raw_profiles())) or "none (the bundle has no authProfiles.yaml)"
            collect.error(
                "auth-profile-undefined",
                source,
                (*path, "profileId"),
                f"call {call!r} needs auth profile {profile_id!r}, which authProfiles.yaml does not define "
                f"(profiles: {known}); the call would go out unauthenticated",
                f"define profiles.{profile_id or '<id>'} in authProfiles.yaml (type, and its credentials), or fix "
                "authRef.profileId",
            )
            return self._left_in_place(profile_id)
        self._used.add(profile_id)
        apply_as = _norm(ref.get("applyAs")) or "HTTP_AUTHORIZATION_BEARER"
        header = str(ref.get("headerName") or raw.get("headerName") or "Authorization")
        query = str(ref.get("queryParam") or raw.get("queryParam") or "")
        use = (profile_id, apply_as, header if apply_as == "HTTP_HEADER" else "", query)
        if use in self._by_use:
            return self._by_use[use]
        translated = self._translate(profile_id, raw, apply_as, header, query)
        if isinstance(translated, str):
            collect.error(
                "auth-unsupported",
                source,
                path,
                f"call {call!r}: auth profile {profile_id!r} (type {raw.get('type')}, applyAs {apply_as}) "
                f"{translated}; the call is sent without it",
                "declare an equivalent profile under spec.auth by hand (docs/auth.md lists the types) and name it in "
                "the template's auth",
            )
            return self._left_in_place(profile_id)
        name = dns_name(profile_id, "auth")
        taken = set(self.profiles)
        if name in taken:
            suffix = 2
            while f"{name}-{suffix}" in taken:
                suffix += 1
            name = f"{name}-{suffix}"
        self.profiles[name] = translated
        self._by_use[use] = name
        return name

    def _left_in_place(self, profile_id: str) -> str:
        """The name the template keeps for a profile that could not be declared: the manifest names a profile
        spec.auth lacks, so validate (and the workers) refuse it until it is declared by hand."""
        name = dns_name(profile_id, "auth")
        return name if name not in self.profiles else f"{name}-undeclared"

    def _translate(
        self, profile_id: str, raw: dict[str, Any], apply_as: str, header: str, query: str
    ) -> dict[str, Any] | str:
        """The profile, or why it cannot be translated."""
        kind = _norm(raw.get("type"))
        bearer = apply_as == "HTTP_AUTHORIZATION_BEARER"
        if kind in _OAUTH2 and bearer:
            return self._oauth2(profile_id, raw, _OAUTH2[kind])
        if kind in _TOKENS:
            return self._token(profile_id, raw, kind, apply_as, header, query)
        if kind == "BASIC_AUTH" and apply_as in ("HTTP_HEADER", "HTTP_AUTHORIZATION_BEARER"):
            return {
                "type": "basic",
                "username": str(raw.get("username") or ""),
                "password": self._secret(profile_id, "password", raw.get("password")),
            }
        if kind == "TLS_CLIENT_CERT":
            return (
                "uses a keystore (keyStorePath); hivekeeper's mtls profiles take PEM files: convert it with "
                "`openssl pkcs12 -in client.p12 -out client.pem -nodes` and declare type mtls"
            )
        return "has no hivekeeper equivalent"

    def _oauth2(self, profile_id: str, raw: dict[str, Any], kind: str) -> dict[str, Any]:
        out: dict[str, Any] = {"type": kind, "tokenUrl": self._token_url(str(raw.get("tokenUrl") or ""))}
        for key in ("clientId", "scope", "username"):
            if raw.get(key):
                out[key] = str(raw[key])
        for key in ("clientSecret", "password"):
            if raw.get(key) is not None:
                out[key] = self._secret(profile_id, key, raw[key])
        if out.get("clientSecret") is not None:
            out["clientAuth"] = "body"  # PocketHive posts client_id and client_secret in the form
        ahead = mapping(raw.get("refresh")).get("refreshAheadSeconds")
        if isinstance(ahead, int | float) and not isinstance(ahead, bool) and 0 <= ahead <= 3600:
            out["refreshAheadSeconds"] = ahead
        return out

    def _token(
        self, profile_id: str, raw: dict[str, Any], kind: str, apply_as: str, header: str, query: str
    ) -> dict[str, Any] | str:
        if apply_as not in ("HTTP_AUTHORIZATION_BEARER", "HTTP_HEADER", "HTTP_QUERY_PARAM"):
            return f"is applied as {apply_as}, which hivekeeper cannot do for this type"
        if apply_as == "HTTP_QUERY_PARAM" and not query:
            return "has no queryParam (in authRef or the profile)"
        field_name = "key" if kind == "API_KEY" else "token"
        value = self._secret(profile_id, field_name, raw.get(field_name))
        if apply_as == "HTTP_AUTHORIZATION_BEARER":
            return {"type": "bearer", "token": value}
        if apply_as == "HTTP_HEADER":
            return {"type": "api-key", "in": "header", "name": header, "value": value}
        return {"type": "api-key", "in": "query", "name": query, "value": value}

    def _token_url(self, url: str) -> str:
        for endpoint, base in sorted(self.endpoints.items(), key=lambda item: -len(item[1])):
            trimmed = base.rstrip("/")
            if url == trimmed or url.startswith(trimmed + "/"):
                return "{{ sut.endpoints." + endpoint + ".baseUrl }}" + url[len(trimmed) :]
        return url

    def _secret(self, profile_id: str, field_name: str, value: Any) -> dict[str, Any]:
        key = re.sub(r"[^-._a-zA-Z0-9]", "-", f"{profile_id}.{field_name}")[:253]
        env = mapping(value).get("env") if isinstance(value, dict) else None
        found: str | None
        if env is not None:
            name = str(env)
            found = self.env_values.get(name, os.environ.get(name))
            if name in self.env_values:
                self.credential_env.add(name)
        else:
            found = None if value is None or isinstance(value, dict | list) else str(value)
        if found is None:
            self.missing.append(key)  # named in the auth-secret finding
        else:
            self.secrets[key] = found
        return {"secretKeyRef": {"name": self.secret, "key": key}}

    def findings(self, collect: Collector) -> None:
        """What the user has to do: create the Secret; and the profiles no call uses (not imported)."""
        source = self.bundle.auth_profiles
        for profile_id in sorted(set(self._raw_profiles()) - self._used):
            collect.warning(
                "auth-unused",
                source,
                ("profiles", profile_id),
                f"auth profile {profile_id!r} is not referenced by any call template; it was not imported",
                "nothing to do, or reference it from a template's authRef",
            )
        if not self.profiles:
            return
        keys = sorted({*self.secrets, *self.missing})
        absent = sorted(set(self.missing))
        missing = f"; the bundle holds no value for {', '.join(absent)}" if absent else ""
        literals = " ".join(f"--from-literal={key}=..." for key in keys)
        collect.warning(
            "auth-secret",
            source,
            ("profiles",),
            f"the imported auth profiles read their credentials from Secret {self.secret!r} (keys: "
            f"{', '.join(keys)}); the manifest holds none of them{missing}",
            f"on a cluster: kubectl create secret generic {self.secret} {literals}; with hivekeeper run: import with "
            "--secrets-dir DIR and run with --secrets DIR",
        )
