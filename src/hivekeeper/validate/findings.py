"""A finding: one problem (or warning) in a manifest, with where it is and how to fix it.

``hivekeeper validate`` and ``hivekeeper import`` both report findings; the printers turn them into
human text, JSON, or CI annotations.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

Severity = Literal["error", "warning"]


@dataclass(frozen=True)
class Finding:
    severity: Severity
    code: str
    """Stable, kebab-case identifier, e.g. ``template-missing`` (documented in docs/ci.md)."""
    path: str
    """Where in the document, e.g. ``spec.roles[2].config.ratePerSec`` (empty for whole-file problems)."""
    message: str
    fix: str
    file: str = ""
    line: int | None = None
    """1-based line of ``path`` in ``file`` when it can be found."""

    def as_json(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v not in (None, "") or k in ("path",)}
