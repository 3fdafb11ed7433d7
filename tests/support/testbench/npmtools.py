"""npm tools the tests run, installed from tests/support/npm/package-lock.json into the bench cache.

Like the Go builds (gobuild.py), the install lives outside the repository under a directory keyed by a
digest of package.json and package-lock.json: a warm run finds it, a changed pin installs a fresh one
beside the old one, and a half-finished install is never mistaken for a warm one.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

from testbench.errors import BenchError
from testbench.gobuild import SUPPORT, cache_root
from testbench.procs import run_checked

PACKAGE_DIR = SUPPORT / "npm"
FILES = ("package.json", "package-lock.json")


def prefix() -> Path:
    digest = hashlib.sha256()
    for name in FILES:
        digest.update((PACKAGE_DIR / name).read_bytes())
    return cache_root() / f"npm-tools-{digest.hexdigest()[:10]}"


def npm_bin(name: str) -> Path:
    """Path of an installed npm tool's command (``node_modules/.bin/<name>``)."""
    return prefix() / "node_modules" / ".bin" / name


def is_installed() -> bool:
    return (prefix() / "node_modules" / ".installed").is_file()


def ensure_npm_tools() -> bool:
    """Install the pinned npm tools unless cached; return True when an install ran."""
    if is_installed():
        return False
    if shutil.which("npm") is None:
        raise BenchError("npm tools", "npm ci", "npm is not on PATH; install Node.js 20+ with npm")
    target = prefix()
    staging = target.with_name(target.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    for name in FILES:
        shutil.copyfile(PACKAGE_DIR / name, staging / name)
    run_checked(
        "npm tools",
        ["npm", "ci", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error"],
        env={"npm_config_update_notifier": "false"},
        cwd=staging,
        timeout=600,
    )
    (staging / "node_modules" / ".installed").touch()
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)
    return True


def require_npm_tool(name: str) -> Path:
    """The tool's path, or a BenchError that says how to install it."""
    path = npm_bin(name)
    if not (is_installed() and path.is_file() and os.access(path, os.X_OK)):
        raise BenchError(name, "test bench", f"{name} is not installed in {prefix()}; run `make bench-install`")
    return path
