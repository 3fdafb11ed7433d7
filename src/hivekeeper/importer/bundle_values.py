"""The SUT and the scenario variables an import resolves (``--sut ID``, ``--profile ID``).

PocketHive resolves both when a swarm is created: ``sut/<sutId>/sut.yaml`` gives the endpoints, and
``variables.yaml`` gives ``vars = values.global.<profile> + values.sut.<profile>.<sutId>``. We do it at
import time: the endpoints become ``spec.sut`` (templates keep ``{{ sut.endpoints.<id>.baseUrl }}``, so
the SUT stays editable live) and the variables become ``spec.vars``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hivekeeper.importer.bundle import Bundle, Collector, mapping

_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "int": (int,),
    "float": (int, float),
    "bool": (bool,),
    "object": (dict,),
}
_KINDS = ("", "http", "https", "tcp", "tcps")


@dataclass
class Sut:
    id: str | None = None
    endpoints: dict[str, str] = field(default_factory=dict)
    """Endpoint id -> baseUrl."""
    upstream: dict[str, str] = field(default_factory=dict)
    """Endpoint id -> upstreamBaseUrl (inlined where templates read it)."""


def choose(kind: str, wanted: str | None, available: list[str], flag: str, collect: Collector) -> str | None:
    """The SUT or profile to use: the one asked for, or the only one; with several and none asked for,
    the first (and an error saying so)."""
    if wanted is not None:
        if wanted in available:
            return wanted
        collect.error(
            f"{kind}-unknown",
            None,
            (),
            f"{flag} {wanted!r}: the bundle has no such {kind} (it has: {', '.join(available) or 'none'})",
            f"pass {flag} with one of those ids",
        )
        return None
    if len(available) > 1:
        collect.error(
            f"{kind}-required",
            None,
            (),
            f"the bundle has several {kind}s ({', '.join(available)}) and {flag} was not given; "
            f"this output used {available[0]!r}",
            f"pass {flag} ID to choose one",
        )
    return available[0] if available else None


def resolve_sut(bundle: Bundle, wanted: str | None, collect: Collector) -> Sut:
    sut_id = choose("sut", wanted, sorted(bundle.suts), "--sut", collect)
    if sut_id is None:
        return Sut()
    source = bundle.suts[sut_id]
    data = source.data if isinstance(source.data, dict) else {}
    endpoints = data.get("endpoints")
    result = Sut(sut_id)
    if not isinstance(endpoints, dict) or not endpoints:
        collect.warning(
            "sut-invalid",
            source,
            ("endpoints",),
            f"SUT {sut_id!r} has no endpoints map; a template reading an endpoint is an error there "
            "(sut-endpoint-undefined)",
            "add endpoints: {default: {baseUrl: http://...}} to sut.yaml",
        )
        return result
    for name, value in endpoints.items():
        endpoint = mapping(value)
        base = str(endpoint.get("baseUrl") or "").strip()
        if not base:
            collect.warning(
                "sut-invalid",
                source,
                ("endpoints", name, "baseUrl"),
                f"endpoint {name!r} has no baseUrl and was left out; a template reading it is an error there "
                "(sut-endpoint-undefined)",
                "set endpoints.<id>.baseUrl, e.g. http://cards-api:8080",
            )
            continue
        result.endpoints[str(name)] = base
        if endpoint.get("upstreamBaseUrl"):
            result.upstream[str(name)] = str(endpoint["upstreamBaseUrl"])
        kind = str(endpoint.get("kind") or "").lower()
        if kind not in _KINDS:
            collect.warning(
                "sut-endpoint-kind",
                source,
                ("endpoints", name, "kind"),
                f"endpoint {name!r} is of kind {kind!r} ({base}); hivekeeper's processors speak HTTP and TCP only",
                "roles calling this endpoint will not work; aim them at an HTTP or TCP endpoint",
            )
    return result


def resolve_vars(
    bundle: Bundle, wanted: str | None, sut_id: str | None, collect: Collector
) -> tuple[dict[str, Any], str | None]:
    """``spec.vars`` for the chosen profile and SUT, and the profile id; problems are findings."""
    source = bundle.variables
    if source is None:
        if wanted is not None:
            collect.warning(
                "profile-unused", None, (), f"--profile {wanted!r}: the bundle has no variables.yaml", "drop --profile"
            )
        return {}, None
    data = mapping(source.data)
    definitions = {
        str(d["name"]): d for d in data.get("definitions") or [] if isinstance(d, dict) and d.get("name") is not None
    }
    values = mapping(data.get("values"))
    global_values, sut_values = mapping(values.get("global")), mapping(values.get("sut"))
    declared = [str(p["id"]) for p in data.get("profiles") or [] if isinstance(p, dict) and p.get("id")]
    profiles = declared or sorted({*map(str, global_values), *map(str, sut_values)})
    profile = choose("profile", wanted, profiles, "--profile", collect)
    if profile is None:
        return {}, None
    resolved: dict[str, Any] = dict(mapping(global_values.get(profile)))
    per_sut = mapping(sut_values.get(profile))
    if sut_id is not None and isinstance(per_sut.get(sut_id), dict):
        for name, value in per_sut[sut_id].items():
            if name in resolved:
                collect.warning(
                    "var-collision",
                    source,
                    ("values", "sut", profile, sut_id, name),
                    f"variable {name!r} is set both globally and for SUT {sut_id!r}; PocketHive refuses that, "
                    f"the manifest uses the SUT's value {value!r}",
                    "keep the variable in one scope",
                )
            resolved[name] = value
    _check(definitions, resolved, profile, sut_id, bundle, collect)
    return resolved, profile


def _check(
    definitions: dict[str, Any],
    resolved: dict[str, Any],
    profile: str,
    sut_id: str | None,
    bundle: Bundle,
    collect: Collector,
) -> None:
    source = bundle.variables
    for index, (name, definition) in enumerate(definitions.items()):
        where = ("definitions", index)
        kind = str(definition.get("type") or "")
        if name not in resolved:
            if definition.get("required"):
                scope = str(definition.get("scope") or "global")
                place = f"values.sut.{profile}.{sut_id or '<sutId>'}" if scope == "sut" else f"values.global.{profile}"
                collect.warning(
                    "var-missing",
                    source,
                    where,
                    f"required variable {name!r} has no value in {place}; a template or key reading it is an "
                    "error there (var-undefined)",
                    f"set {place}.{name} in variables.yaml",
                )
            continue
        value = resolved[name]
        allowed = _TYPES.get(kind)
        wrong_bool = kind in ("int", "float") and isinstance(value, bool)
        if allowed is not None and (not isinstance(value, allowed) or wrong_bool):
            collect.warning(
                "var-type",
                source,
                where,
                f"variable {name!r} is declared {kind} but is {value!r}; PocketHive refuses that, the manifest "
                "uses the value as written",
                f"give {name} a {kind} value for profile {profile!r}",
            )
    if definitions:
        for name in sorted(set(resolved) - set(definitions)):
            collect.warning(
                "var-undeclared",
                source,
                ("values",),
                f"variable {name!r} = {resolved[name]!r} has no definition",
                f"declare it under definitions (name: {name}, scope, type)",
            )
