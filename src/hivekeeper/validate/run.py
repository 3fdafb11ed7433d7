"""``hivekeeper validate``: check manifests without a cluster, with the rules the API server and the workers
apply. :class:`Run` takes each Swarm and WorkerRole document through the steps (the package docstring lists
them); other kinds are skipped with a note."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, TextIO

import yaml

from hivekeeper.api.swarm import Swarm
from hivekeeper.templating.engine import TemplateEngine
from hivekeeper.validate import cel_rules, locate
from hivekeeper.validate.document import Document
from hivekeeper.validate.findings import Finding
from hivekeeper.validate.metadata import metadata_findings
from hivekeeper.validate.paths import show_path
from hivekeeper.validate.report import Summary
from hivekeeper.validate.rules import cel_findings, model_findings
from hivekeeper.validate.schema import schema_findings
from hivekeeper.validate.sources import Source, sources
from hivekeeper.validate.swarm import SwarmCheck
from hivekeeper.validate.wiring import alias_problems, joining_findings
from hivekeeper.validate.workerrole import WorkerRoleCheck


def validate_paths(paths: Iterable[str], *, strict: bool = False, stdin: TextIO | None = None) -> Summary:
    """Check every manifest under ``paths`` (``summary.unreadable`` names the paths that could not be read)."""
    found, problems = sources(paths, stdin)
    summary = validate_sources(found, strict=strict)
    summary.unreadable = problems
    return summary


def validate_text(text: str, name: str = "<manifest>", *, strict: bool = False) -> Summary:
    return validate_sources([Source(name, text)], strict=strict)


def validate_sources(texts: list[Source], *, strict: bool = False) -> Summary:
    summary = Summary(files=len(texts), strict=strict)
    documents: list[Document] = []
    for source in texts:
        documents.extend(_parse(source, summary))
    summary.documents += len(documents)
    checked = [doc for doc in documents if doc.checkable()]
    summary.checked = len(checked)
    run = Run(strict=strict)
    for doc in checked:
        run.check(doc)
    joining_findings(checked)
    for doc in documents:
        summary.findings.extend(doc.findings)
        summary.notes.extend(doc.notes)
    summary.findings.extend(run.findings)
    summary.findings.sort(key=lambda f: (f.file, f.line or 0, f.severity != "error", f.code, f.path))
    return summary


def _parse(source: Source, summary: Summary) -> list[Document]:
    try:
        parsed = locate.load_documents(source.text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        context = getattr(exc, "context", None)
        summary.findings.append(
            Finding(
                "error",
                "yaml-syntax",
                "",
                f"not valid YAML: {problem}" + (f" ({context})" if context else ""),
                "fix the YAML at this line (indentation, an unclosed quote or bracket, a tab instead of spaces); "
                "nothing in this file was checked",
                file=source.name,
                line=mark.line + 1 if mark is not None else None,
            )
        )
        return []
    return [Document(source.name, document) for document in parsed]


@dataclass
class Run:
    """The checks of one run over its documents; ``findings`` are the run's own (not about one document):
    that the CEL rules could not run."""

    strict: bool = False
    engine: TemplateEngine = field(default_factory=TemplateEngine)
    findings: list[Finding] = field(default_factory=list)

    def check(self, doc: Document) -> None:
        if doc.document.node is not None:
            for duplicate in locate.duplicate_keys(doc.document.node):
                doc.add(
                    "error",
                    "duplicate-key",
                    (*duplicate.path, duplicate.key),
                    f"{duplicate.key!r} is given twice in {show_path(duplicate.path) or 'the document'} (first on "
                    f"line {duplicate.first_line}); kubectl and YAML readers silently keep only the last one",
                    "remove one of them",
                    line=duplicate.line,
                )
        data = {k: v for k, v in doc.data.items() if k != "status"}  # status is the operator's, never applied
        metadata_findings(doc, data)
        schema_findings(doc, data)
        aliases = alias_problems(doc, data) if doc.kind == "Swarm" else []
        if not self._cel(doc, data, aliases):
            doc.findings.extend(aliases)  # the CEL rule did not say it (it is not installed): say it here
        model_findings(doc, data)
        if doc.model is None:
            if any(f.severity == "error" for f in doc.findings):
                doc.note(f"{doc.label}: role configs and references were not checked: the API models refuse it")
            return
        if isinstance(doc.model, Swarm):
            SwarmCheck(doc, self.engine, doc.model, strict=self.strict).run()
        else:
            WorkerRoleCheck(doc, self.engine, doc.model, strict=self.strict).run()

    def _cel(self, doc: Document, data: dict[str, Any], aliases: list[Finding]) -> bool:
        """Run the CRD's CEL rules when they can run; True when the wiring rule reported ``aliases``."""
        if cel_rules.available():
            return cel_findings(doc, data, aliases)
        if not any(f.code == "cel-unavailable" for f in self.findings):
            self.findings.append(
                Finding(
                    "warning",
                    "cel-unavailable",
                    "",
                    "the CRDs' CEL rules were not run: cel-expr-python is not installed; the same invariants "
                    "are still checked through the API models",
                    "install the validate extra: `pip install 'hivekeeper[validate]'` (Linux x86_64, macOS or "
                    "Windows have wheels)",
                )
            )
        return False
