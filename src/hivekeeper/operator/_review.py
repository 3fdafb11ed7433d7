"""TEMPORARY adapter: ``review(obj) -> Review`` over today's ``hivekeeper.tooling.validate``.

Issue 14 gives ``hivekeeper.validate.review`` (the "tooling" helper's split of ``tooling/``) this exact
signature; until it is on main, the admission webhook calls this copy. Delete this module, its import-linter
relaxation (pyproject, "TODO(issue 14)") and import ``review`` from ``hivekeeper.validate`` once it lands.

A finding is shown as ``hivekeeper validate`` prints it without the ``file:line:`` it starts with (an object the
API server holds has neither): ``error role-config: ... (spec.roles[2].config.thredCount)`` and its indented
``fix:`` line.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import yaml

from hivekeeper.tooling.findings import Finding
from hivekeeper.tooling.validate import validate_text


@dataclass(frozen=True)
class Review:
    """What ``hivekeeper validate`` says of one Swarm or WorkerRole: one entry per finding."""

    errors: list[str]
    warnings: list[str]


SKIPPED = frozenset({"cel-unavailable"})
"""Findings of validate's own setup, not of the object: the operator image has no CEL library, and the API server
runs the CRD's CEL rules itself before it asks the webhook."""


def review(obj: Mapping[str, Any]) -> Review:
    summary = validate_text(yaml.safe_dump(dict(obj), sort_keys=False), name="<object>")
    findings = [f for f in summary.findings if f.code not in SKIPPED]
    errors = [_located(f) for f in findings if f.severity == "error"]
    warnings = [_located(f) for f in findings if f.severity == "warning"]
    return Review(errors=errors, warnings=warnings)


def _located(finding: Finding) -> str:
    path = f" ({finding.path})" if finding.path else ""
    head = f"{finding.severity} {finding.code}: {finding.message}{path}"
    return f"{head}\n  fix: {finding.fix}" if finding.fix else head
