"""Debian packages the bench needs, installed with apt-get when their binaries are missing."""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import struct
import sys
import time
from collections.abc import Iterator, Mapping
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
    # the headless browser that opens `hivekeeper run --report` (tests/integration/test_report_browser.py)
    "chromium": ("chromium", "/usr/bin/chromium"),
    # the images built without a registry (images.py): a Debian root for the base, a throwaway engine
    "debootstrap": ("debootstrap", "/usr/sbin/debootstrap"),
    "dockerd": ("docker.io", "/usr/sbin/dockerd"),
    # the bench's Kubernetes node (kube.py, node.py): runtime, OCI runtime, pod network, Service routing, pause
    "containerd": ("containerd", "/usr/bin/containerd"),
    "runc": ("runc", "/usr/sbin/runc"),
    "cni": ("containernetworking-plugins", "/usr/lib/cni/bridge"),
    "iptables": ("iptables", "/usr/sbin/iptables"),
    "conntrack": ("conntrack", "/usr/sbin/conntrack"),
    "gcc": ("gcc", "/usr/bin/gcc"),
    "static-libc": ("libc6-dev", "/usr/lib/x86_64-linux-gnu/libc.a"),
    # the network namespace, its sysctls, and the host checks of tests/e2e/test_node.py (nft list ruleset)
    "iproute2": ("iproute2", "/usr/sbin/ip"),
    "procps": ("procps", "/usr/sbin/sysctl"),
    "nftables": ("nftables", "/usr/sbin/nft"),
}

NODE = ["containerd", "runc", "cni", "iptables", "conntrack", "gcc", "static-libc", "iproute2", "procps", "nftables"]
"""What the bench's node needs from Debian (installed by ``make bench-install``)."""

LOCKS = (Path("/var/lib/dpkg/lock-frontend"), Path("/var/lib/dpkg/lock"), Path("/var/lib/apt/lists/lock"))
LOCK_WAIT = 600.0
"""How long to wait for another apt-get or dpkg (an unattended upgrade, a second shell) to finish."""

POLICY_RC_D = Path("/usr/sbin/policy-rc.d")


def missing_packages(services: list[str]) -> list[str]:
    return [DEBIAN_PACKAGES[name][0] for name in services if not Path(DEBIAN_PACKAGES[name][1]).exists()]


@contextlib.contextmanager
def services_stay_stopped() -> Iterator[None]:
    """While installing, forbid maintainer scripts to start daemons (Debian's policy-rc.d, exit 101).

    docker.io's postinst would otherwise start a system dockerd on a systemd host, which adds the docker0
    bridge and iptables rules to the host network; the bench only ever runs its own daemons. An existing
    policy-rc.d is the machine's own and is left alone.
    """
    if POLICY_RC_D.exists():
        yield
        return
    POLICY_RC_D.write_text("#!/bin/sh\n# written by the hivekeeper test bench while apt-get runs\nexit 101\n")
    POLICY_RC_D.chmod(0o755)
    try:
        yield
    finally:
        POLICY_RC_D.unlink(missing_ok=True)


def _lock_holder(path: Path) -> int | None:
    """The PID holding ``path``'s fcntl lock (apt and dpkg lock with fcntl), or None when it is free."""
    try:
        fd = os.open(path, os.O_RDWR)
    except OSError:
        return None
    try:
        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        query = struct.pack("hhqqi", fcntl.F_WRLCK, 0, 0, 0, 0)
        with contextlib.suppress(OSError):
            return int(struct.unpack("hhqqi", fcntl.fcntl(fd, fcntl.F_GETLK, query))[4]) or -1
        return -1
    else:
        fcntl.lockf(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def wait_for_package_locks(label: str, timeout: float = LOCK_WAIT) -> None:
    """Wait until no other apt-get/dpkg holds the package locks; fail after ``timeout`` naming the holder."""
    deadline = time.monotonic() + timeout
    told = False
    while True:
        holders = {path: pid for path in LOCKS if (pid := _lock_holder(path)) is not None}
        if not holders:
            return
        path, pid = next(iter(holders.items()))
        who = _describe(pid)
        if time.monotonic() >= deadline:
            raise BenchError(label, "apt-get install", f"{path} is still locked by {who} after {timeout:.0f}s")
        if not told:
            print(f"test bench: waiting up to {timeout:.0f}s for {who} to release {path}", file=sys.stderr)
            told = True
        time.sleep(1)


def _describe(pid: int) -> str:
    if pid <= 0:
        return "another process"
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        command = "?"
    return f"PID {pid} ({command[:80]})"


def ensure_debian_packages(services: list[str], *, start_services: bool = True) -> list[str]:
    """Install the packages of ``services`` that are missing; return what was installed.

    With ``start_services=False`` the packages' daemons are installed but not started (see
    :func:`services_stay_stopped`).
    """
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
    wait_for_package_locks(label)
    lock_timeout = f"DPkg::Lock::Timeout={LOCK_WAIT:.0f}"  # the same wait inside apt, for a race after ours
    run_checked(label, ["apt-get", "-o", lock_timeout, "update"], env=env, timeout=600 + LOCK_WAIT)
    install = ["apt-get", "-o", lock_timeout, "install", "-y", "--no-install-recommends", *missing]
    with contextlib.nullcontext() if start_services else services_stay_stopped():
        run_checked(label, install, env=env, timeout=1200)
    still = missing_packages(services)
    if still:
        raise BenchError(", ".join(still), "apt-get install", "installed, but its binary is still missing")
    return missing
