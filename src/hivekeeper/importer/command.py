"""``hivekeeper import``'s output: the manifest to stdout or a file, the findings to stderr (as ``hivekeeper
validate`` prints them), and the exit code."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TextIO

from hivekeeper.importer.bundle import BundleError
from hivekeeper.importer.translate import ImportOptions, import_bundle
from hivekeeper.validate.findings import Finding


def print_findings(findings: list[Finding], out: TextIO) -> None:
    """``file:line: severity code: message (path)`` and an indented ``fix:`` line, as validate prints them."""
    for f in findings:
        where = f"{f.file}:{f.line}" if f.line else f.file
        suffix = f" ({f.path})" if f.path else ""
        out.write(f"{where}: {f.severity} {f.code}: {f.message}{suffix}\n  fix: {f.fix}\n")


def main(options: ImportOptions, output: Path | None, out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    """The CLI: the manifest to ``output`` (or ``out``), findings to ``err``; exit 0 / 1 (errors) / 2 (unreadable)."""
    try:
        result = import_bundle(options)
    except BundleError as exc:
        err.write(f"error: {exc}\n")
        return 2
    print_findings(result.findings, err)
    warnings = len(result.findings) - result.errors
    if result.document is None:
        err.write(f"{options.bundle}: not imported ({result.errors} errors)\n")
        return 1
    if output is not None:
        output.write_text(result.text)
    else:
        out.write(result.text)
    target = output or "stdout"
    err.write(
        f"{options.bundle}: imported {result.bundle_id!r} as Swarm {result.document['metadata']['name']!r} "
        f"to {target}: {result.errors} errors, {warnings} warnings\n"
    )
    return 1 if result.errors else 0
