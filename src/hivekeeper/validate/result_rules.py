"""Step 5, result rules: every pattern of a template's or a processor's ``resultRules`` runs on RE2 and has the
group 1 that holds its value (``result-rule-regex``, ``result-rule-group``). The workers refuse the same rules
when they build their role (the request-builder a template's, the processor its own); here each pattern is
placed at its field, and every one of them is reported, not only the first."""

from __future__ import annotations

from typing import TYPE_CHECKING

from hivekeeper.api.result_rules import ResultRules, rule_problems
from hivekeeper.api.roles.processor.config import ProcessorConfig
from hivekeeper.validate.paths import relative_path

if TYPE_CHECKING:
    from hivekeeper.validate.document import Document
    from hivekeeper.validate.paths import DocPath
    from hivekeeper.validate.roles import Role, RoleChecks


def rules_findings(doc: Document, path: DocPath, rules: ResultRules | None, owner: str) -> None:
    """A finding per pattern of ``rules`` (at ``path``) that cannot run; ``owner`` says whose rules they are."""
    if rules is None:
        return
    for problem in rule_problems(rules):
        where = (*path, *relative_path(problem.path))
        message = f"{owner}: resultRules.{problem.path}: {problem.message}"
        if problem.kind == "group":
            doc.add("error", "result-rule-group", where, message, problem.fix)
        else:
            doc.add("error", "result-rule-regex", where, message, problem.fix)


def role_rule_findings(doc: Document, checks: RoleChecks, role: Role) -> None:
    """The rules of a role's own templates and, for a processor, of its config."""
    config = role.refs
    if config is None:
        return
    if isinstance(config, ProcessorConfig):
        rules_findings(doc, (*role.config_path, "resultRules"), config.resultRules, role.label)
    for offset, template in enumerate(config.templates[role.spec_templates :]):
        index = role.spec_templates + offset
        owner = f"template {template.key!r}"
        rules_findings(doc, (*checks.template_base(role, index), "resultRules"), template.resultRules, owner)
