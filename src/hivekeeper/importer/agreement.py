"""import and validate say the same thing: the imported manifest goes through ``hivekeeper validate``'s
checks, and the import's errors are exactly validate's errors on that manifest, each placed back in the
bundle file and line it comes from (one truth: the checks are validate's, which are the run's).

Where the translation knows more about an error than the manifest can say (why an ``eval`` is left in place,
which PocketHive key has no counterpart), the error is reported in the translation's words; the count is
validate's. What the translation drops or changes always leaves a finding: a warning when the manifest still
does what the bundle did where it matters (validate then reports the consequence, if any, where it bites),
an error that validate finds again in the manifest otherwise. An error of the translation that validate does
not find is still reported (so nothing is lost), and the bundle tests flag it as a disagreement.

Errors about the command line (which SUT, which profile) are no property of the manifest and are kept as they
are (:data:`INVOCATION`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from hivekeeper.api.manifests import field_path
from hivekeeper.importer.bundle import Path_, SourceFile
from hivekeeper.validate.findings import Finding
from hivekeeper.validate.paths import overlaps, relative_path
from hivekeeper.validate.run import validate_text

INVOCATION = frozenset({"sut-required", "sut-unknown", "profile-required", "profile-unknown"})
"""Import errors about the choices of the command line, not about the manifest."""


@dataclass
class Origins:
    """Where each part of the manifest comes from in the bundle."""

    shown_root: str
    scenario: SourceFile
    roles: list[tuple[int, frozenset[str]]] = field(default_factory=list)
    """By ``spec.roles`` index: the bee's index and the keys lifted from its ``config.worker``."""
    templates: list[tuple[SourceFile, Path_]] = field(default_factory=list)
    """By ``spec.templates`` index: the template file and the call's path in it."""
    variables: SourceFile | None = None
    sut: SourceFile | None = None

    def place(self, manifest_path: str) -> tuple[SourceFile, Path_]:
        """The bundle file and path that the manifest path ``spec.roles[1].config.x`` comes from."""
        parts = relative_path(manifest_path) if manifest_path else ()
        index = parts[2] if len(parts) >= 3 and isinstance(parts[2], int) else -1
        if parts[:2] == ("spec", "roles") and 0 <= index < len(self.roles):
            bee, lifted = self.roles[index]
            rest = parts[3:]
            if len(rest) >= 2 and rest[0] == "config" and rest[1] in lifted:
                rest = ("config", "worker", *rest[1:])
            return self.scenario, ("template", "bees", bee, *rest)
        if parts[:2] == ("spec", "templates") and 0 <= index < len(self.templates):
            source, base = self.templates[index]
            rest = parts[3:]
            if rest[:1] == ("auth",):  # a template's auth is the call's authRef in the bundle
                rest = ("authRef", *rest[1:])
            return source, (*base, *rest)
        if parts[:2] == ("spec", "vars") and self.variables is not None:
            return self.variables, ("values",)
        if parts[:2] == ("spec", "sut") and self.sut is not None:
            return self.sut, parts[2:]
        return self.scenario, ()

    def relocated(self, finding: Finding) -> Finding:
        """``finding`` (about the manifest) pointing at the bundle, the manifest path named in its message."""
        source, path = self.place(finding.path)
        file = f"{self.shown_root.rstrip('/')}/{source.rel}"
        message = f"{finding.message} [manifest: {finding.path}]" if finding.path else finding.message
        return dataclasses.replace(finding, path=field_path(path), message=message, file=file, line=source.line(path))


def checked(manifest: str, name: str, origins: Origins) -> list[Finding]:
    """validate's findings on the manifest text, placed in the bundle (the checker's own warnings left out)."""
    summary = validate_text(manifest, name)
    return [origins.relocated(f) for f in summary.findings if f.file]


def reconcile(translated: list[Finding], validated: list[Finding]) -> list[Finding]:
    """The import's findings: validate's errors (in the translation's words where it explains them), the
    translation's warnings and validate's, and any translation error validate did not find."""
    errors = [f for f in translated if f.severity == "error"]
    out = [f for f in translated if f.severity != "error"]
    said = {(f.file, f.path, f.code) for f in out}
    used: set[int] = set()
    for finding in validated:
        if finding.severity != "error":
            if (finding.file, finding.path, finding.code) not in said:
                out.append(finding)
            continue
        explained = [
            i
            for i, error in enumerate(errors)
            if i not in used and error.path and error.file == finding.file and overlaps(error.path, finding.path)
        ]
        if not explained:
            out.append(finding)
            continue
        used.update(explained)
        first = errors[explained[0]]
        also = "; ".join(errors[i].message for i in explained[1:])
        out.append(dataclasses.replace(first, message=f"{first.message}; also: {also}") if also else first)
    out.extend(error for i, error in enumerate(errors) if i not in used)
    return out
