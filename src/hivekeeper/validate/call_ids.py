"""Step 5, references between a Swarm's roles: every ``x-ph-call-id`` a generator can send has a template in
each request-builder it feeds, and every http-sequence step has a template for its call."""

from __future__ import annotations

from typing import TYPE_CHECKING

import jinja2

from hivekeeper.api.roles.generator.config import GeneratorConfig
from hivekeeper.api.roles.http_sequence.config import HttpSequenceConfig
from hivekeeper.api.roles.request_builder.config import RequestBuilderConfig
from hivekeeper.protocol.workitem import CALL_ID_HEADER, SERVICE_ID_HEADER
from hivekeeper.templating.engine import is_literal
from hivekeeper.validate import template_refs
from hivekeeper.validate.findings import Severity
from hivekeeper.validate.wording import did_you_mean

if TYPE_CHECKING:
    from hivekeeper.validate.document import Document
    from hivekeeper.validate.roles import Role


def call_id_findings(doc: Document, roles: list[Role]) -> None:
    """Every x-ph-call-id a generator can send has a template in each request-builder it feeds."""
    for generator in roles:
        config = generator.refs
        if not isinstance(config, GeneratorConfig) or not generator.work_out:
            continue
        builders = [r for r in roles if r.work_in == generator.work_out and isinstance(r.refs, RequestBuilderConfig)]
        if not builders:
            continue
        headers_path = (*generator.config_path, "message", "headers")
        source = config.message.headers.get(CALL_ID_HEADER)
        if source is None:
            if not generator.work_in:  # items from work.in may carry the header already
                names = ", ".join(b.label for b in builders)
                doc.add(
                    "error",
                    "call-id-missing",
                    headers_path,
                    f"{generator.label} sets no {CALL_ID_HEADER} header, so {names} drops every item "
                    "(request-builder.missing-call-id)",
                    f"add message.headers.{CALL_ID_HEADER}: the callId of a template (for example with "
                    "pickWeighted('balance', 80, 'topup', 20))",
                )
            continue
        call_ids = _literal_values(doc, generator, CALL_ID_HEADER, source)
        service_source = config.message.headers.get(SERVICE_ID_HEADER)
        service_ids = _literal_values(doc, generator, SERVICE_ID_HEADER, service_source) if service_source else None
        if call_ids is None or (service_source and service_ids is None):
            continue
        if "" in call_ids:
            doc.add(
                "error",
                "call-id-missing",
                (*headers_path, CALL_ID_HEADER),
                f"the {CALL_ID_HEADER} of {generator.label} renders empty in some case, and those items are "
                "dropped by the request-builder (request-builder.missing-call-id)",
                "give every branch of the template a call id",
            )
        for builder in builders:
            _check_call_ids(doc, generator, builder, sorted(c for c in call_ids if c), service_ids)


def step_findings(doc: Document, roles: list[Role]) -> None:
    """Every http-sequence step's serviceId::callId has a template."""
    for role in roles:
        config = role.refs
        if not isinstance(config, HttpSequenceConfig):
            continue
        known = _known_templates(doc, role)
        if known is None:
            continue
        for index, step in enumerate(config.steps):
            key = f"{step.serviceId or config.serviceId}::{step.callId}"
            if key not in known:
                doc.add(
                    "error",
                    "template-missing",
                    (*role.config_path, "steps", index, "callId"),
                    f"{role.label} step {step.id or f'step{index}'!r} calls {key!r}, which has no template",
                    f"{did_you_mean(key, known)}add a template with serviceId: "
                    f"{step.serviceId or config.serviceId} and callId: {step.callId} to spec.templates, or fix "
                    f"the step; known templates: {', '.join(known) or 'none'}",
                )


def _known_templates(doc: Document, role: Role) -> list[str] | None:
    """The ``serviceId::callId`` keys ``role`` renders, or None when they cannot all be known."""
    assert role.refs is not None
    template_root = getattr(role.refs, "templateRoot", None)
    if template_root:
        doc.note(
            f"{role.label} also loads templates from templateRoot {template_root} (a directory in its pods): "
            "call ids are not checked against it",
            (*role.config_path, "templateRoot"),
        )
        return None
    return sorted(t.key for t in role.refs.templates)


def _literal_values(doc: Document, generator: Role, header: str, source: str) -> set[str] | None:
    """The values ``source`` can render, or None (with a warning) when some are computed per item."""
    if is_literal(source):
        return {source}
    path = (*generator.config_path, "message", "headers", header)
    try:
        values = template_refs.outputs(template_refs.parse(source))
    except jinja2.TemplateSyntaxError:
        return None  # reported as template-syntax
    if template_refs.DYNAMIC in values:
        doc.add(
            "warning",
            "call-id-dynamic",
            path,
            f"the {header} of {generator.label} is computed per item, so validate cannot tell whether the "
            "request-builder has a template for every value",
            "use literal values (text, or pickWeighted/pickWeightedSeeded with literal values, or literal "
            "{% if %} branches) so that they can be checked; or accept this warning",
        )
        return None
    return {v for v in values if v is not None}


def _check_call_ids(
    doc: Document, generator: Role, builder: Role, call_ids: list[str], service_ids: set[str] | None
) -> None:
    assert isinstance(builder.refs, RequestBuilderConfig)
    known = _known_templates(doc, builder)
    if known is None:
        return
    services = sorted(service_ids) if service_ids else [builder.refs.serviceId]
    severity: Severity = "warning" if builder.refs.passThroughOnMissingTemplate else "error"
    effect = (
        "passes those items on unchanged (passThroughOnMissingTemplate)"
        if severity == "warning"
        else "drops them (request-builder.missing-template)"
    )
    path = (*generator.config_path, "message", "headers", CALL_ID_HEADER)
    for call_id in call_ids:
        for service in services:
            key = f"{service}::{call_id}"
            if key in known:
                continue
            doc.add(
                severity,
                "template-missing",
                path,
                f"{generator.label} can send {CALL_ID_HEADER} {call_id!r}, but {builder.label} (serviceId "
                f"{service!r}) has no template {key!r} and {effect}",
                f"{did_you_mean(key, known)}add a template with serviceId: {service} and callId: {call_id} to "
                f"spec.templates, or fix the call id; known templates: {', '.join(known) or 'none'}",
            )
