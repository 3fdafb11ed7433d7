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


def write_secrets(secrets: dict[str, dict[str, str]], folder: Path) -> int:
    """The imported credentials as ``folder/<secret>/<key>`` files (owner-only), the layout ``hivekeeper run
    --secrets`` reads (and a mounted Secret has); the number of files."""
    written = 0
    for secret, keys in secrets.items():
        target = folder / secret
        target.mkdir(parents=True, exist_ok=True, mode=0o700)
        for key, value in keys.items():
            path = target / key
            path.touch(mode=0o600, exist_ok=True)
            path.write_text(value, encoding="utf-8")
            written += 1
    return written


def main(
    options: ImportOptions,
    output: Path | None,
    out: TextIO = sys.stdout,
    err: TextIO = sys.stderr,
    secrets_dir: Path | None = None,
) -> int:
    """The CLI: the manifest to ``output`` (or ``out``), findings to ``err``, the bundle's credentials to
    ``secrets_dir`` when given; exit 0 / 1 (errors) / 2 (unreadable)."""
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
    if secrets_dir is not None and result.secrets:
        count = write_secrets(result.secrets, secrets_dir)
        err.write(f"{count} credential(s) written under {secrets_dir} (for hivekeeper run --secrets {secrets_dir})\n")
    target = output or "stdout"
    err.write(
        f"{options.bundle}: imported {result.bundle_id!r} as Swarm {result.document['metadata']['name']!r} "
        f"to {target}: {result.errors} errors, {warnings} warnings\n"
    )
    return 1 if result.errors else 0
