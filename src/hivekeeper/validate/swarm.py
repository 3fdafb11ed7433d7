"""Steps 4 and 5 for a Swarm: each role's merged config, the templates of the roles and of spec.templates,
the call ids and steps against the templates; problems of merged values are placed where the Swarm declares
them (spec.templates, spec.vars, spec.sut, spec.deadLetter)."""

from __future__ import annotations

from hivekeeper.api.role_config import merged_role_config
from hivekeeper.api.swarm import RoleSpec, Swarm
from hivekeeper.templating.engine import TemplateEngine
from hivekeeper.validate.bundle_paths import bundle_path_findings
from hivekeeper.validate.call_ids import call_id_findings, step_findings
from hivekeeper.validate.datasets import dataset_findings
from hivekeeper.validate.document import Document
from hivekeeper.validate.journey_sinks import journey_sink_findings
from hivekeeper.validate.paths import DocPath, relative_path
from hivekeeper.validate.result_rules import role_rule_findings, rules_findings
from hivekeeper.validate.roles import Role, RoleChecks
from hivekeeper.validate.tcp_targets import tcp_target_findings
from hivekeeper.validate.templates import check_template, http_template_sources, role_templates, semantics_of

DEFAULT_SECRET = "hivekeeper-broker"
TEMPLATE_RENDERERS = ("request-builder", "http-sequence")


class SwarmCheck(RoleChecks):
    def __init__(self, doc: Document, engine: TemplateEngine, swarm: Swarm, *, strict: bool = False) -> None:
        super().__init__(doc, engine, strict=strict)
        self.swarm = swarm

    def template_base(self, role: Role, index: int) -> DocPath:
        if index < role.spec_templates:
            return ("spec", "templates", index)
        return (*role.config_path, "templates", index - role.spec_templates)

    def config_problem_path(self, role: Role, relative: str) -> DocPath:
        parts = relative_path(relative) if relative not in ("(root)", "config", "") else ()
        if parts and parts[0] == "templates" and len(parts) > 1 and isinstance(parts[1], int):
            return (*self.template_base(role, parts[1]), *parts[2:])
        if parts and parts[0] == "sut":
            return ("spec", *parts)
        if parts and parts[0] in ("vars", "deadLetter"):
            own = role.raw.get(str(parts[0]))  # the role's own value wins key by key over the swarm's
            if own is None or (isinstance(own, dict) and len(parts) > 1 and parts[1] not in own):
                return ("spec", *parts)
        return super().config_problem_path(role, relative)

    def run(self) -> None:
        spec = self.swarm.spec
        doc = self.doc
        if spec.secretRef is not None and not spec.secretRef.name.strip():
            doc.add(
                "error",
                "secret-ref-empty",
                ("spec", "secretRef", "name"),
                "spec.secretRef.name is empty: the worker pods would reference a Secret with no name",
                f"name the Secret holding amqpUrl (and redisUrl), or remove spec.secretRef to use the operator's "
                f"default ({DEFAULT_SECRET})",
            )
        elif spec.secretRef is None and self.strict:  # a legitimate default: only --strict asks for it
            doc.add(
                "warning",
                "secret-default",
                ("spec",),
                f"{doc.label} names no spec.secretRef: its workers use the operator's default Secret "
                f"({DEFAULT_SECRET} unless the Helm values say otherwise)",
                "set spec.secretRef.name to say which Secret holds amqpUrl (and redisUrl)",
            )
        for index, spec_role in enumerate(spec.roles):
            self.add_role(index, spec_role)
        endpoints = spec.sut.endpoints
        for role in self.roles:
            scopes = [(f"{role.label} (spec.vars and its config.vars)", role.vars())]
            semantics = semantics_of(role.refs) if role.refs is not None else semantics_of(spec.templating)
            for path, source in role_templates(self, role):
                check_template(doc, self.engine, path, source, scopes, endpoints, semantics)
        renderers = [r for r in self.roles if r.kind in TEMPLATE_RENDERERS and r.refs is not None]
        scopes = [(f"{r.label} (spec.vars and its config.vars)", r.vars()) for r in renderers]
        for index, template in enumerate(spec.templates):
            for path, source in http_template_sources(("spec", "templates", index), template):
                check_template(
                    doc,
                    self.engine,
                    path,
                    source,
                    scopes or [("spec.vars", spec.vars)],
                    endpoints,
                    semantics_of(spec.templating),
                )
        for index, template in enumerate(spec.templates):
            path = ("spec", "templates", index, "resultRules")
            rules_findings(doc, path, template.resultRules, f"template {template.key!r}")
        for role in self.roles:  # before the workers are built: they refuse the same rules, less precisely
            role_rule_findings(doc, self, role)
        call_id_findings(doc, self.roles)
        step_findings(doc, self.roles)
        journey_sink_findings(doc, self.roles)
        tcp_target_findings(self, self.roles)
        dataset_findings(doc, self.roles)
        for role in self.roles:
            if role.config is not None:
                self.build_worker(role, self.swarm.metadata.name)

    def add_role(self, index: int, spec_role: RoleSpec) -> None:
        base: DocPath = ("spec", "roles", index)
        label = f"{spec_role.role or 'custom image'} {spec_role.name!r}"
        bundle_path_findings(self.doc, label, (*base, "config"), spec_role.config)
        if spec_role.role is None:
            self.doc.note(
                f"role {spec_role.name!r} runs the custom image {spec_role.image}: its config is not checked",
                (*base, "image"),
            )
            return
        role = Role(
            name=spec_role.name,
            kind=spec_role.role,
            base=base,
            raw=spec_role.config,
            merged=merged_role_config(self.swarm.spec, spec_role.config, spec_role.work.out),
            work_in=spec_role.work.in_,
            work_out=spec_role.work.out,
            spec_templates=len(self.swarm.spec.templates),
        )
        self.roles.append(role)
        self.check_role(role)
