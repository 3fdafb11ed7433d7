"""The texts ``hivekeeper validate`` checks: files, the ``*.yaml``/``*.yml`` files below directories, stdin."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

SUFFIXES = (".yaml", ".yml")


@dataclass(frozen=True)
class Source:
    name: str
    text: str


def sources(paths: Iterable[str], stdin: TextIO | None = None) -> tuple[list[Source], list[str]]:
    """The texts to check: files, ``*.yaml``/``*.yml`` below directories (hidden ones such as ``.git`` left
    out), ``-`` for stdin; and the problems of paths that could not be read."""
    found: list[Source] = []
    problems: list[str] = []
    for raw in paths:
        if raw == "-":
            found.append(Source("<stdin>", (stdin or sys.stdin).read()))
            continue
        path = Path(raw)
        if path.is_dir():
            files = sorted(
                p
                for p in path.rglob("*")
                if p.suffix in SUFFIXES
                and p.is_file()
                and not any(part.startswith(".") for part in p.relative_to(path).parts)
            )
            if not files:
                problems.append(f"{raw}: no *.yaml or *.yml file in this directory")
            for file in files:
                _read(file, found, problems)
        elif path.exists():
            _read(path, found, problems)
        else:
            problems.append(f"{raw}: no such file or directory")
    return found, problems


def _read(path: Path, found: list[Source], problems: list[str]) -> None:
    try:
        found.append(Source(str(path), path.read_text(encoding="utf-8")))
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else f"not UTF-8 text ({exc.reason})"
        problems.append(f"{path}: cannot read: {reason}")
