"""docs/architecture.md describes the code as built: every package is on it, every path it names exists, and its
layer list is the one import-linter enforces."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SRC = REPO / "src" / "hivekeeper"
DOC = (REPO / "docs" / "architecture.md").read_text()


def _packages() -> list[str]:
    return sorted(str(init.parent.relative_to(SRC)) for init in SRC.rglob("__init__.py") if init.parent != SRC)


def test_every_top_level_package_and_worker_part_is_described() -> None:
    wanted = [p for p in _packages() if p.count("/") == 0 or (p.startswith("worker/") and p.count("/") == 1)]
    missing = [p for p in wanted if f"{p}/" not in DOC and f"`{p.split('/')[-1]}/`" not in DOC]
    assert not missing, f"docs/architecture.md does not mention {missing}"


def test_every_source_path_the_page_names_exists() -> None:
    named = set(re.findall(r"`((?:[a-z_]+/)+[a-z_]+\.py)`", DOC))
    assert named, "the page names modules by path"
    missing = []
    for path in sorted(named):
        candidates = [SRC / path, REPO / path, *SRC.glob(f"*/{path}"), *SRC.glob(f"*/*/{path}")]
        if not any(c.is_file() for c in candidates):
            missing.append(path)
    assert not missing, f"docs/architecture.md names paths that do not exist: {missing}"


def test_the_layer_list_is_the_one_import_linter_enforces() -> None:
    config = tomllib.loads((REPO / "pyproject.toml").read_text())
    [layers] = [c for c in config["tool"]["importlinter"]["contracts"] if c["type"] == "layers"]
    block = DOC.split("## 4. Layers", 1)[1].split("```", 2)[1].strip()
    assert [line.strip() for line in block.splitlines()] == layers["layers"]


def test_the_old_design_page_is_gone() -> None:
    assert not (REPO / "docs" / "design.md").exists(), "docs/architecture.md replaces docs/design.md"
