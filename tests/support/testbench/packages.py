"""Debian packages the bench needs, installed with apt-get when their binaries are missing."""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from pathlib import Path

from testbench.errors import BenchError
from testbench.procs import run_checked

# Binary the bench runs -> the Debian package that ships it.
DEBIAN_PACKAGES: Mapping[str, tuple[str, str]] = {
    "rabbitmq": ("rabbitmq-server", "/usr/lib/rabbitmq/bin/rabbitmq-server"),
    "redis": ("redis-server", "/usr/bin/redis-server"),
    # for `make bench` only
    "nginx": ("nginx-light", "/usr/sbin/nginx"),
    "wrk": ("wrk", "/usr/bin/wrk"),
    # linters the tests run (tests/unit/test_kind_scripts.py)
    "shellcheck": ("shellcheck", "/usr/bin/shellcheck"),
}


def missing_packages(services: list[str]) -> list[str]:
    return [DEBIAN_PACKAGES[name][0] for name in services if not Path(DEBIAN_PACKAGES[name][1]).exists()]


def ensure_debian_packages(services: list[str]) -> list[str]:
    """Install the packages of ``services`` that are missing; return what was installed."""
    missing = missing_packages(services)
    if not missing:
        return []
    if shutil.which("apt-get") is None:
        raise BenchError(
            ", ".join(missing),
            "apt-get install",
            f"apt-get is not on PATH; install {' '.join(missing)} with this system's package manager",
        )
    env = {"DEBIAN_FRONTEND": "noninteractive"}
    label = ", ".join(missing)
    run_checked(label, ["apt-get", "update"], env=env, timeout=600)
    run_checked(label, ["apt-get", "install", "-y", "--no-install-recommends", *missing], env=env, timeout=1200)
    still = missing_packages(services)
    if still:
        raise BenchError(", ".join(still), "apt-get install", "installed, but its binary is still missing")
    return missing
