"""A bundle's call templates (``templates/http/**``) as the Swarm's ``spec.templates``.

Each file holds one call (or a list of calls): ``serviceId``, ``callId``, ``protocol``, ``method``,
``pathTemplate``, ``headersTemplate``, ``bodyTemplate``. HTTP calls are kept with their Pebble
rewritten (:mod:`.pebble`), ``authRef`` as ``auth`` (:mod:`.auth_profiles`), ``resultRules`` as ours
(:mod:`.result_rules`, HTTP and TCP calls); TCP calls with ``behavior``, ``endTag`` and ``maxBytes`` as written
(validate checks them); other protocols and keys we have no field for are findings.
A call without ``serviceId`` takes the ``serviceId`` of the bee that loads the templates, as in
PocketHive. ``spec.templates`` holds at most ``MAX_TEMPLATES`` calls (the CRD's limit).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from hivekeeper.api.swarm import MAX_TEMPLATES
from hivekeeper.importer import pebble, result_rules
from hivekeeper.importer.auth_profiles import AuthImport
from hivekeeper.importer.bundle import Bundle, Collector, Path_, SourceFile

_FIELDS = ("serviceId", "callId", "protocol", "method", "pathTemplate", "headersTemplate", "bodyTemplate")
_TCP_FIELDS = ("serviceId", "callId", "protocol", "headersTemplate", "bodyTemplate", "behavior", "endTag", "maxBytes")
_QUIET = ("schemaRef",)
"""Authoring-only keys (UI forms): dropped without a finding."""
_TCP_QUIET = ("schemaRef", "transport")
"""A TCP call's authoring keys and its ``transport`` (PocketHive's socket/nio/netty client: ours is one)."""


@dataclass
class CallTemplates:
    templates: list[dict[str, Any]] = field(default_factory=list)
    origins: list[tuple[SourceFile, Path_]] = field(default_factory=list)
    """Where each of :attr:`templates` is: its file and its path in it."""
    var_refs: dict[str, tuple[SourceFile, Path_]] = field(default_factory=dict)
    endpoint_refs: dict[str, tuple[SourceFile, Path_]] = field(default_factory=dict)


@dataclass(frozen=True)
class TemplateSettings:
    default_service: str
    """``serviceId`` of calls that name none (the templates-loading bee's)."""
    journey_keys: frozenset[str]
    """``serviceId::callId`` of calls only http-sequence steps make (their ``payload`` is the journey map)."""
    upstream: dict[str, str]
    booleans: frozenset[str] = frozenset()
    auth: AuthImport | None = None
    """authProfiles.yaml, translated as templates reference its profiles."""


def translate(bundle: Bundle, settings: TemplateSettings, collect: Collector) -> CallTemplates:
    result = CallTemplates()
    seen: dict[str, str] = {}
    for source in bundle.templates:
        entries = source.data if isinstance(source.data, list) else [source.data]
        for index, entry in enumerate(entries):
            base: Path_ = (index,) if isinstance(source.data, list) else ()
            template = _one(source, base, entry, settings, result, collect)
            if template is None:
                continue
            key = f"{template['serviceId']}::{template['callId']}"
            if key in seen:
                collect.warning(
                    "template-duplicate",
                    source,
                    (*base, "callId"),
                    f"call {key} is defined again (first in {seen[key]}); this one was skipped, the first is used",
                    "give each call a unique callId",
                )
                continue
            seen[key] = source.rel
            result.templates.append(template)
            result.origins.append((source, base))
    if len(result.templates) > MAX_TEMPLATES:
        extra = [f"{t['serviceId']}::{t['callId']}" for t in result.templates[MAX_TEMPLATES:]]
        collect.warning(
            "too-many-templates",
            None,
            (),
            f"the bundle has {len(result.templates)} call templates; a Swarm holds at most {MAX_TEMPLATES}: "
            f"{len(extra)} were left out ({', '.join(extra[:5])}{', ...' if len(extra) > 5 else ''}); calling one "
            "is an error there (template-missing)",
            "split the scenario into several swarms, or drop calls it does not make",
        )
        del result.templates[MAX_TEMPLATES:]
        del result.origins[MAX_TEMPLATES:]
    return result


def _one(
    source: SourceFile,
    base: Path_,
    entry: Any,
    settings: TemplateSettings,
    result: CallTemplates,
    collect: Collector,
) -> dict[str, Any] | None:
    if not isinstance(entry, dict) or not entry.get("callId"):
        collect.warning(
            "template-invalid",
            source,
            base,
            "a call template needs at least callId (and pathTemplate); this one was skipped, and a generator or "
            "step calling it is an error there (template-missing)",
            "add callId: <name> to this file",
        )
        return None
    protocol = str(entry.get("protocol") or "").upper()
    if protocol not in ("", "HTTP", "TCP"):
        collect.warning(
            "protocol-unsupported",
            source,
            (*base, "protocol"),
            f"call {entry['callId']!r} uses protocol {protocol}; hivekeeper sends HTTP and TCP only; the call was "
            "skipped, and a generator or step calling it is an error there (template-missing)",
            "drop this call or replace it by an HTTP or TCP call (ISO 8583 over TCP: protocol: TCP, behavior: "
            "LENGTH_PREFIX_2B)",
        )
        return None
    if not protocol:
        collect.warning(
            "template-protocol-missing",
            source,
            base,
            f"call {entry['callId']!r} has no protocol; read as HTTP",
            "add protocol: HTTP",
        )
    service = str(entry.get("serviceId") or settings.default_service)
    template: dict[str, Any] = {"serviceId": service, "callId": str(entry["callId"])}
    raw_payload = f"{service}::{template['callId']}" not in settings.journey_keys
    if protocol == "TCP":
        template["protocol"] = "TCP"
        for name in ("behavior", "endTag", "maxBytes"):  # kept as written: validate checks them where they are
            if entry.get(name) is not None:
                template[name] = entry[name]
    for name in ("method", "pathTemplate") if protocol != "TCP" else ():
        if entry.get(name) is not None:
            template[name] = _text(source, (*base, name), str(entry[name]), raw_payload, settings, result, collect)
    headers = entry.get("headersTemplate") or {}
    if isinstance(headers, dict) and headers:
        template["headersTemplate"] = {
            str(k): _text(source, (*base, "headersTemplate", k), str(v), raw_payload, settings, result, collect)
            for k, v in headers.items()
        }
    body = entry.get("bodyTemplate")
    if body is not None:
        text = body if isinstance(body, str) else json.dumps(body, separators=(",", ":"))
        template["bodyTemplate"] = _text(source, (*base, "bodyTemplate"), text, raw_payload, settings, result, collect)
    if "authRef" in entry and protocol != "TCP":  # TCP calls have no auth: a TCP authRef is a leftover
        if settings.auth is None:
            raise AssertionError("the importer always passes the bundle's auth profiles")
        template["auth"] = settings.auth.reference(
            source, (*base, "authRef"), entry["authRef"], template["callId"], collect
        )
    result_rules.carry(source, base, entry, template, collect)
    _leftovers(source, base, entry, collect, tcp=protocol == "TCP")
    return template


def _text(
    source: SourceFile,
    path: Path_,
    text: str,
    raw_payload: bool,
    settings: TemplateSettings,
    result: CallTemplates,
    collect: Collector,
) -> str:
    done = pebble.rewrite(text, raw_payload=raw_payload, upstream=settings.upstream, booleans=settings.booleans)
    for issue in done.issues:
        collect.add(
            issue.severity,
            issue.code,
            source,
            path,
            f"{issue.expression}: {issue.message}",
            issue.fix,
        )
    for name in sorted(done.vars):
        result.var_refs.setdefault(name, (source, path))
    for name in sorted(done.endpoints):
        result.endpoint_refs.setdefault(name, (source, path))
    return done.text


def _leftovers(source: SourceFile, base: Path_, entry: dict[str, Any], collect: Collector, *, tcp: bool) -> None:
    call = entry["callId"]
    known = {*_TCP_FIELDS, *_TCP_QUIET} if tcp else {*_FIELDS, *_QUIET, "authRef"}
    for key in sorted(set(entry) - known - {"resultRules"}):
        shown = entry[key] if not isinstance(entry[key], dict | list) else f"a {type(entry[key]).__name__}"
        collect.warning(
            "key-dropped",
            source,
            (*base, key),
            f"call {call!r}: {key} ({shown}) has no hivekeeper equivalent and was dropped",
            "nothing to do unless the scenario relied on it (docs/import.md lists what is not translated)",
        )
