"""One document being checked: where it comes from, what it holds, and the findings and notes about it.

A document read from a file has its YAML node tree, so each finding gets the line of its path; an object
received parsed (:func:`hivekeeper.validate.review`) has none, and its findings are located by path alone.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hivekeeper.api import API_VERSION, GROUP
from hivekeeper.api.swarm import Swarm
from hivekeeper.api.workerrole import WorkerRole
from hivekeeper.validate import locate
from hivekeeper.validate.findings import Finding, Severity
from hivekeeper.validate.paths import DocPath, overlaps, show_path
from hivekeeper.validate.report import Note
from hivekeeper.validate.schema import KINDS
from hivekeeper.validate.wording import type_name


@dataclass
class Document:
    file: str
    document: locate.Document
    findings: list[Finding] = field(default_factory=list)
    notes: list[Note] = field(default_factory=list)
    kind: str = ""
    model: Swarm | WorkerRole | None = None
    """The parsed resource, once its API model accepts it (the role configs are checked only then)."""

    @property
    def data(self) -> Any:
        return self.document.data

    def line(self, path: DocPath) -> int | None:
        """1-based line of ``path`` (or of its deepest ancestor present); None without YAML source."""
        if self.document.node is None:
            return None
        return locate.line_of(self.document.node, path)

    def add(
        self,
        severity: Severity,
        code: str,
        path: DocPath,
        message: str,
        fix: str,
        line: int | None = None,
    ) -> Finding:
        finding = Finding(severity, code, show_path(path), message, fix, file=self.file, line=line or self.line(path))
        self.findings.append(finding)
        return finding

    def note(self, message: str, path: DocPath = ()) -> None:
        self.notes.append(Note(message, self.file, self.line(path)))

    @property
    def label(self) -> str:
        name = self.data.get("metadata", {}).get("name") if isinstance(self.data.get("metadata"), dict) else None
        return f"{self.kind} {name!r}" if name else self.kind

    def has_error_at(self, path: str) -> bool:
        """Whether an error is already reported at ``path``, above it or below it."""
        return any(f.severity == "error" and overlaps(f.path, path) for f in self.findings)

    def checkable(self) -> bool:
        """Whether this is a hivekeeper resource to check (else: a finding or a note says why not)."""
        data = self.data
        if not isinstance(data, dict):
            self.add(
                "error",
                "not-an-object",
                (),
                f"document {self.document.index + 1} is {type_name(data)}, not a Kubernetes object",
                "each YAML document must be a map with apiVersion, kind, metadata and spec",
            )
            return False
        api_version, kind = data.get("apiVersion"), data.get("kind")
        group = api_version.split("/", 1)[0] if isinstance(api_version, str) and "/" in api_version else ""
        if group != GROUP and not (api_version is None and kind in KINDS):
            shown = f"{kind or 'no kind'} ({api_version or 'no apiVersion'})"
            self.note(f"skipped: {shown} is not a hivekeeper resource")
            return False
        if kind not in KINDS or api_version != API_VERSION:
            path = ("kind",) if kind not in KINDS else ("apiVersion",)
            self.add(
                "error",
                "unknown-kind",
                path,
                f"the API server serves no {api_version or '(no apiVersion)'} {kind or '(no kind)'}",
                f"use apiVersion: {API_VERSION} with kind Swarm or WorkerRole",
            )
            return False
        self.kind = str(kind)
        return True
