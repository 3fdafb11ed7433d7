"""The container images without a Docker engine: both Dockerfiles lint clean, and the wheel they install works.

There is no Docker engine on the machines that run these tests, so the image build is checked in the parts
that can be run for real: a real Dockerfile linter (dockerfile-utils, docs/decisions/0004-dockerfile-lint.md)
on both Dockerfiles, and the builder stage's own steps — build the hivekeeper wheel, install it with binary
dependencies only into a fresh venv that has no pip — followed by the entry points run exactly as the images
run them: a bare environment, PATH on the venv, PYTHONDONTWRITEBYTECODE=1, HOME=/tmp, nothing written.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from testbench.errors import BenchError
from testbench.npmtools import require_npm_tool

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]
DOCKERFILES = {"operator": REPO / "operator" / "Dockerfile", "worker": REPO / "worker_image" / "Dockerfile"}
VERSION = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]


def dockerfile_utils() -> Path:
    try:
        return require_npm_tool("dockerfile-utils")
    except BenchError as exc:
        pytest.fail(str(exc), pytrace=False)


def lint(path: Path) -> list[dict[str, object]]:
    """dockerfile-utils' findings (JSON); it exits 1 when one of them is an error, 0 for warnings or none."""
    done = subprocess.run(
        [str(dockerfile_utils()), "lint", "--json", str(path)], capture_output=True, text=True, timeout=60, check=False
    )
    findings: list[dict[str, object]] = json.loads(done.stdout)
    assert done.returncode == (1 if any(f["severity"] == "error" for f in findings) else 0), done.stderr
    return findings


@pytest.mark.parametrize("image", sorted(DOCKERFILES))
def test_the_dockerfile_has_no_lint_findings(image: str) -> None:
    assert lint(DOCKERFILES[image]) == []


def test_the_linter_does_report_a_broken_dockerfile(tmp_path: Path) -> None:
    """Guards the test above: the pinned linter, run the same way, finds real problems."""
    bad = tmp_path / "Dockerfile"
    bad.write_text('FROM python:3.11\nMAINTAINER someone\nENTRYPOINT ["a"]\nENTRYPOINT ["b"]\nEXPOSE 80/tcpx\n')
    messages = " | ".join(str(f["message"]) for f in lint(bad))
    assert "MAINTAINER has been deprecated" in messages
    assert "only be one ENTRYPOINT" in messages
    assert "Invalid proto: tcpx" in messages


@dataclass(frozen=True)
class Installed:
    wheel: Path
    venv: Path


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    """The builder stage's steps on the build context: `pip wheel . --no-deps`, a venv without pip, a binary-only
    install into it."""
    root = tmp_path_factory.mktemp("image")
    context = root / "context"  # what .dockerignore lets into the build context, and what the builder COPYs
    context.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copyfile(REPO / name, context / name)
    shutil.copytree(REPO / "src", context / "src", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    dist = root / "dist"
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-cache-dir", "--no-deps", "--wheel-dir", str(dist), str(context)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert built.returncode == 0, built.stderr[-2000:]
    wheel = next(dist.glob("hivekeeper-*.whl"))
    venv = root / "opt-hivekeeper"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    install = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(venv / "bin" / "python"),
            "install",
            "--no-cache-dir",
            "--only-binary=:all:",
            str(wheel),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert install.returncode == 0, install.stderr[-2000:]
    return Installed(wheel=wheel, venv=venv)


def run_as_the_image(installed: Installed, *args: str) -> subprocess.CompletedProcess[str]:
    """`hivekeeper ARGS` with the image's environment only (none of this machine's variables)."""
    env = {
        "PATH": f"{installed.venv / 'bin'}:/usr/local/bin:/usr/bin:/bin",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONUNBUFFERED": "1",
        "HOME": "/tmp",
        "TMPDIR": "/tmp",
    }
    return subprocess.run(
        ["hivekeeper", *args], env=env, cwd="/tmp", capture_output=True, text=True, timeout=60, check=False
    )


def snapshot(directory: Path) -> dict[str, float]:
    return {str(p): p.stat().st_mtime for p in directory.rglob("*")}


def test_the_wheel_carries_the_embedded_quickstart_and_the_typing_marker(installed: Installed) -> None:
    names = set(zipfile.ZipFile(installed.wheel).namelist())
    assert "hivekeeper/local/data/quickstart.yaml" in names
    assert "hivekeeper/cli/__init__.py" in names
    if (REPO / "src" / "hivekeeper" / "py.typed").exists():
        assert "hivekeeper/py.typed" in names
    assert not [n for n in names if n.startswith(("tests/", "bench/")) or "__pycache__" in n]
    entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    assert "hivekeeper = hivekeeper.cli:main" in zipfile.ZipFile(installed.wheel).read(entry_points).decode()


def test_the_operator_entry_point_answers_help(installed: Installed) -> None:
    done = run_as_the_image(installed, "operator", "--help")
    assert done.returncode == 0, done.stderr
    assert "--health-port" in done.stdout
    assert "--metrics-port" in done.stdout


def test_the_worker_entry_point_without_its_environment_exits_2_naming_each_missing_variable(
    installed: Installed,
) -> None:
    done = run_as_the_image(installed, "worker")
    assert done.returncode == 2
    for variable in ("HIVEKEEPER_SWARM_ID", "HIVEKEEPER_ROLE", "HIVEKEEPER_ROLE_KIND", "HIVEKEEPER_AMQP_URL"):
        assert f"{variable} is not set" in done.stderr


def test_version_prints_the_package_version_the_images_are_labelled_with(installed: Installed) -> None:
    done = run_as_the_image(installed, "version")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"hivekeeper {VERSION}"
    for dockerfile in DOCKERFILES.values():
        assert re.search(rf"^ARG VERSION={re.escape(VERSION)}$", dockerfile.read_text(), re.MULTILINE)


def test_the_install_has_no_pip_and_running_it_writes_nothing_into_it(installed: Installed) -> None:
    """What a read-only root filesystem needs: the entry points never write under the install (no bytecode)."""
    no_pip = run_as_the_image(installed, "operator", "--help")
    assert no_pip.returncode == 0
    before = snapshot(installed.venv)
    for args in (("version",), ("operator", "--help"), ("worker",), ("crds",)):
        run_as_the_image(installed, *args)
    assert snapshot(installed.venv) == before
    python = installed.venv / "bin" / "python"
    probe = subprocess.run(
        [str(python), "-c", "import pip"], capture_output=True, text=True, timeout=30, check=False, env={}
    )
    assert probe.returncode != 0
    assert "No module named 'pip'" in probe.stderr
    assert not (installed.venv / "bin" / "pip").exists()
    assert os.access(installed.venv / "bin" / "hivekeeper", os.X_OK)
