"""Step 5, where each call template goes: a ``protocol: TCP`` template's ``tcp.request`` needs a processor with a
``tcp://`` or ``tcps://`` baseUrl, an HTTP template's ``http.request`` one with an http(s) baseUrl; the processor
drops every item of the other kind (``processor.bad-request``). Checked for each request-builder and the
processors reading its ``work.out``, where the baseUrl renders without an item (a literal or
``sut.endpoints.*``).

A request-builder's own template must fit every processor it feeds. A template of ``spec.templates`` reaches every
request-builder (a swarm with an HTTP and a TCP pipeline shares them), so it is only reported when no
request-builder of the swarm feeds a processor of its protocol."""

from __future__ import annotations

from typing import TYPE_CHECKING

from hivekeeper.api.call_template import CallTemplate
from hivekeeper.api.roles.processor.config import ProcessorConfig
from hivekeeper.api.roles.request_builder.config import RequestBuilderConfig
from hivekeeper.templating.engine import TemplateEngine, TemplateError
from hivekeeper.worker.tcp_port import is_tcp_url

if TYPE_CHECKING:
    from hivekeeper.validate.roles import Role, RoleChecks


def _base_url(engine: TemplateEngine, config: ProcessorConfig) -> str | None:
    try:
        return engine.render("baseUrl", config.baseUrl, {"sut": config.sut.model_dump(), "vars": config.vars})
    except TemplateError:
        return None  # reported by the template checks


def tcp_target_findings(checks: RoleChecks, roles: list[Role]) -> None:
    """A template whose protocol the processors fed by its request-builder do not speak."""
    pipelines: list[tuple[Role, RequestBuilderConfig, list[tuple[Role, str]]]] = []
    for builder in roles:
        config = builder.refs
        if not isinstance(config, RequestBuilderConfig) or not builder.work_out:
            continue
        targets = [
            (processor, base)
            for processor in roles
            if processor.work_in == builder.work_out and isinstance(processor.refs, ProcessorConfig)
            for base in [_base_url(checks.engine, processor.refs)]
            if base
        ]
        pipelines.append((builder, config, targets))
    spoken = {is_tcp_url(base) for _, _, targets in pipelines for _, base in targets}
    for builder, config, targets in pipelines:
        for index, template in enumerate(config.templates):
            shared = index < builder.spec_templates
            if shared and (template.protocol == "TCP") in spoken:
                continue  # some pipeline of the swarm sends it
            for processor, base in targets:
                if (template.protocol == "TCP") != is_tcp_url(base):
                    _mismatch(checks, builder, index, template, processor, base)
                    break


def _mismatch(
    checks: RoleChecks, builder: Role, index: int, template: CallTemplate, processor: Role, base: str
) -> None:
    tcp_base = is_tcp_url(base)
    wanted = "a tcp:// or tcps://" if template.protocol == "TCP" else "an http(s)"
    checks.doc.add(
        "error",
        "template-protocol-mismatch",
        (*checks.template_base(builder, index), "protocol"),
        f"template {template.key!r} is protocol: {template.protocol}, but {processor.label} (fed by "
        f"{builder.label}) sends to {base!r}: it drops every such item (processor.bad-request)",
        f"aim {processor.label} at {wanted} baseUrl, or give this call protocol: {'HTTP' if tcp_base else 'TCP'}",
    )
