"""The repository layout keeps its promises (DESIGN.md §5)."""

from __future__ import annotations

import ast
import importlib
import importlib.metadata
import subprocess
import sys
import sysconfig
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parents[2]


def test_import_operator_is_still_the_standard_library_module() -> None:
    # Run in a fresh interpreter from the repository root, where a stray operator/ package would win.
    probe = "import operator, sys; print(operator.__file__); print(hasattr(operator, 'itemgetter'))"
    out = subprocess.run([sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, check=True)
    module_file, has_itemgetter = out.stdout.split()
    assert Path(module_file).resolve().parent == Path(sysconfig.get_paths()["stdlib"]).resolve()
    assert has_itemgetter == "True"


def test_image_folders_hold_no_python() -> None:
    for folder in ("operator", "worker_image"):
        assert (REPO / folder / "Dockerfile").is_file(), f"{folder}/Dockerfile is missing"
        assert not list((REPO / folder).rglob("*.py")), f"{folder}/ must not contain Python"


def test_every_layer_package_imports() -> None:
    for layer in (
        "api",
        "protocol",
        "templating",
        "worker",
        "worker.roles",
        "operator",
        "local",
        "validate",
        "importer",
        "cli",
    ):
        module = importlib.import_module(f"hivekeeper.{layer}")
        assert module.__doc__, f"hivekeeper.{layer} needs a docstring that says what the layer is for"


def test_top_level_folders_of_the_design_exist() -> None:
    for folder in (
        "crds",
        "helm",
        "examples",
        "docs",
        "bench",
        "tests/unit",
        "tests/integration",
        "tests/e2e",
        "tests/support",
    ):
        assert (REPO / folder).is_dir(), folder


def test_no_module_is_over_400_lines() -> None:
    src = REPO / "src" / "hivekeeper"
    long = {
        str(path.relative_to(src)): lines
        for path in src.rglob("*.py")
        if (lines := len(path.read_text().splitlines())) > 400
    }
    assert long == {}, "split these modules along their concepts (docs/architecture.md §4)"


# Imported by src/ but provided by a declared distribution that pins it exactly (pydantic pins pydantic-core).
_PROVIDED_BY = {"pydantic_core": "pydantic"}


def test_every_third_party_module_src_imports_is_a_declared_dependency() -> None:
    # A module that only arrives as someone else's dependency (pamqp through aiormq) breaks the day that
    # dependency drops it or changes its range; declare it with the range our code was written against.
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    declared = {
        canonicalize_name(Requirement(line).name)
        for line in [
            *project["dependencies"],
            *(d for extra in project["optional-dependencies"].values() for d in extra),
        ]
    }
    imported: set[str] = set()
    for path in (REPO / "src" / "hivekeeper").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                imported.update(alias.name.partition(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                imported.add(node.module.partition(".")[0])
    third_party = sorted(name for name in imported if name not in sys.stdlib_module_names and name != "hivekeeper")
    distributions = importlib.metadata.packages_distributions()
    missing = []
    for module in third_party:
        if module in _PROVIDED_BY:
            assert canonicalize_name(_PROVIDED_BY[module]) in declared, module
            continue
        names = {canonicalize_name(name) for name in distributions.get(module, [module])}
        if not names & declared:
            missing.append(f"{module} (from {', '.join(sorted(names))})")
    assert not missing, f"src/ imports modules no dependency in pyproject.toml declares: {missing}; add them there"
