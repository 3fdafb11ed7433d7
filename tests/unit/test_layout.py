"""The repository layout keeps its promises (DESIGN.md §5)."""

from __future__ import annotations

import importlib
import subprocess
import sys
import sysconfig
from pathlib import Path

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
    for layer in ("api", "protocol", "templating", "worker", "worker.roles", "operator", "local", "cli"):
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


def test_no_worker_module_is_over_400_lines() -> None:
    worker = REPO / "src" / "hivekeeper" / "worker"
    long = {
        str(path.relative_to(worker)): lines
        for path in worker.rglob("*.py")
        if (lines := len(path.read_text().splitlines())) > 400
    }
    assert long == {}, "split these modules along their concepts (DESIGN.md §5)"
