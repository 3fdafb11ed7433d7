"""Steps 4 and 5 for a hand-written WorkerRole: its config goes to the workers as written (no swarm-level
merge), so its templates read only its own config.vars and config.sut."""

from __future__ import annotations

from hivekeeper.api.workerrole import WorkerRole
from hivekeeper.templating.engine import TemplateEngine
from hivekeeper.validate.bundle_paths import bundle_path_findings
from hivekeeper.validate.document import Document
from hivekeeper.validate.result_rules import role_rule_findings
from hivekeeper.validate.roles import Role, RoleChecks
from hivekeeper.validate.templates import check_template, role_templates, semantics_of


class WorkerRoleCheck(RoleChecks):
    def __init__(self, doc: Document, engine: TemplateEngine, workerrole: WorkerRole, *, strict: bool = False) -> None:
        super().__init__(doc, engine, strict=strict)
        self.workerrole = workerrole

    def run(self) -> None:
        spec = self.workerrole.spec
        label = f"{spec.role or 'custom image'} {self.workerrole.metadata.name!r}"
        bundle_path_findings(self.doc, label, ("spec", "config"), spec.config)
        if spec.role is None:
            self.doc.note(f"{self.doc.label} runs the custom image {spec.image}: its config is not checked")
            return
        role = Role(
            name=self.workerrole.metadata.name,
            kind=spec.role,
            base=("spec",),
            raw=spec.config,
            merged=dict(spec.config),
            work_in=spec.work.in_,
            work_out=spec.work.out,
        )
        self.roles.append(role)
        self.check_role(role)
        if role.refs is None:
            return
        endpoints = role.refs.sut.endpoints
        scopes = [(f"{role.label} (its config.vars)", role.refs.vars)]
        for path, source in role_templates(self, role):
            check_template(self.doc, self.engine, path, source, scopes, endpoints, semantics_of(role.refs))
        role_rule_findings(self.doc, self, role)
        if role.config is not None:
            self.build_worker(role, spec.swarmRef)
