"""Printing findings: for people (text), for programs (json), and for CI (github annotations, GitLab Code
Quality). Notes are things a check did not do (a document of another kind, a transition rule); they never
fail a run."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from hivekeeper.validate.findings import Finding

FORMATS = ("text", "json", "github", "gitlab")


@dataclass(frozen=True)
class Note:
    """Something not checked, and why (not a finding: it never fails a run)."""

    message: str
    file: str = ""
    line: int | None = None


@dataclass
class Summary:
    files: int = 0
    documents: int = 0
    checked: int = 0
    """Swarm and WorkerRole documents checked (the others are skipped with a note)."""
    strict: bool = False
    findings: list[Finding] = field(default_factory=list)
    notes: list[Note] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)
    """Paths that could not be read (missing, not a file, not UTF-8): the run fails with exit code 2."""

    @property
    def errors(self) -> int:
        return sum(1 for f in self.findings if f.severity == "error")

    @property
    def warnings(self) -> int:
        return sum(1 for f in self.findings if f.severity == "warning")

    @property
    def failed(self) -> bool:
        return self.errors > 0 or (self.strict and self.warnings > 0) or bool(self.unreadable)

    @property
    def exit_code(self) -> int:
        """2: a path could not be read; 1: errors (or warnings with --strict); 0: none."""
        if self.unreadable:
            return 2
        return 1 if self.failed else 0

    def line(self) -> str:
        verdict = "FAILED" if self.failed else "ok"
        strict = " (--strict: warnings fail)" if self.strict and self.warnings else ""
        unreadable = f", {_count(len(self.unreadable), 'path')} unreadable" if self.unreadable else ""
        return (
            f"{verdict}: {_count(self.errors, 'error')}, {_count(self.warnings, 'warning')}{strict} in "
            f"{_count(self.checked, 'manifest')} ({_count(self.documents, 'document')}, {_count(self.files, 'file')})"
            f"{unreadable}"
        )


def _count(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def _where(file: str, line: int | None) -> str:
    name = file or "<input>"
    return f"{name}:{line}" if line else name


def finding_text(finding: Finding) -> str:
    """One finding for people, located by its path alone: ``error code: message (path)`` and an indented
    ``fix:`` line. :func:`hivekeeper.validate.review` answers with this (an object received parsed has no
    file or line); :func:`text` puts ``file:line: `` in front."""
    path = f" ({finding.path})" if finding.path else ""
    fix = f"\n  fix: {finding.fix}" if finding.fix else ""
    return f"{finding.severity} {finding.code}: {finding.message}{path}{fix}"


def text(summary: Summary) -> str:
    """Every finding (``file:line: `` and :func:`finding_text`), the notes, and a closing summary line."""
    out = []
    for finding in summary.findings:
        out.append(f"{_where(finding.file, finding.line)}: {finding_text(finding)}")
    for note in summary.notes:
        out.append(f"{_where(note.file, note.line)}: note: {note.message}")
    out.append(summary.line())
    return "\n".join(out) + "\n"


def as_json(summary: Summary) -> str:
    """``{"findings": [...], "notes": [...], "summary": {...}}``."""
    document: dict[str, Any] = {
        "findings": [f.as_json() for f in summary.findings],
        "notes": [{k: v for k, v in vars(n).items() if v not in (None, "")} for n in summary.notes],
        "summary": {
            "errors": summary.errors,
            "warnings": summary.warnings,
            "files": summary.files,
            "documents": summary.documents,
            "manifests": summary.checked,
            "strict": summary.strict,
            "failed": summary.failed,
            "unreadable": summary.unreadable,
        },
    }
    return json.dumps(document, indent=2) + "\n"


def _escape_data(value: str) -> str:
    return value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(value: str) -> str:
    return _escape_data(value).replace(":", "%3A").replace(",", "%2C")


def github(summary: Summary) -> str:
    """GitHub Actions workflow commands: ``::error file=F,line=L,title=CODE::message``."""
    out = []
    for finding in summary.findings:
        properties = [f"file={_escape_property(finding.file)}"] if finding.file else []
        if finding.line:
            properties.append(f"line={finding.line}")
        properties.append(f"title={_escape_property(finding.code)}")
        path = f" ({finding.path})" if finding.path else ""
        message = f"{finding.message}{path}" + (f"\nfix: {finding.fix}" if finding.fix else "")
        out.append(f"::{finding.severity} {','.join(properties)}::{_escape_data(message)}")
    for note in summary.notes:
        properties = [f"file={_escape_property(note.file)}"] if note.file else []
        if note.line:
            properties.append(f"line={note.line}")
        head = f"::notice {','.join(properties)}" if properties else "::notice"
        out.append(f"{head}::{_escape_data(note.message)}")
    out.append(summary.line())
    return "\n".join(out) + "\n"


def gitlab(summary: Summary) -> str:
    """A GitLab Code Quality report: a JSON array of issues with stable fingerprints."""
    issues = []
    seen: Counter[str] = Counter()
    for finding in summary.findings:
        # No line in the fingerprint: an issue keeps its identity when lines above it move. Identical
        # findings in one file (two documents) are told apart by their order.
        key = "\x1f".join((finding.file, finding.code, finding.path, finding.message))
        seen[key] += 1
        fingerprint = hashlib.sha256(f"{key}\x1f{seen[key]}".encode()).hexdigest()
        description = f"{finding.code}: {finding.message}" + (f" ({finding.path})" if finding.path else "")
        if finding.fix:
            description += f" Fix: {finding.fix}"
        issues.append(
            {
                "description": description,
                "check_name": finding.code,
                "fingerprint": fingerprint,
                "severity": "major" if finding.severity == "error" else "minor",
                "location": {"path": finding.file, "lines": {"begin": finding.line or 1}},
            }
        )
    return json.dumps(issues, indent=2) + "\n"


PRINTERS = {"text": text, "json": as_json, "github": github, "gitlab": gitlab}


def render(summary: Summary, fmt: str) -> str:
    return PRINTERS[fmt](summary)
