"""Network namespaces the bench creates for its node, and sockets opened inside them.

The node (API server, kubelet, pods, Services) lives in a network namespace of its own so that the
host keeps only loopback listeners and its interfaces, routes, firewall rules and sysctls are never
touched. A socket belongs to the namespace its creating thread was in when it was created, so a
process can hold sockets in two namespaces at once: ``socket_in`` enters the node's namespace just
long enough to create one, then returns to its own.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import socket
from collections.abc import Iterator
from pathlib import Path

from testbench.errors import BenchError
from testbench.procs import run_checked

NETNS_DIR = Path("/run/netns")
CLONE_NEWNET = 0x40000000
PREFIX = "hivekeeper-"
"""Every namespace the bench makes starts with this, so a sweep after a crash finds them all."""

_libc = ctypes.CDLL(None, use_errno=True)


def path(name: str) -> Path:
    return NETNS_DIR / name


def exists(name: str) -> bool:
    return path(name).exists()


def listed() -> list[str]:
    """Names of the bench's namespaces that exist right now."""
    if not NETNS_DIR.is_dir():
        return []
    return sorted(p.name for p in NETNS_DIR.iterdir() if p.name.startswith(PREFIX))


def _setns(fd: int) -> None:
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"setns: {os.strerror(errno)}")


@contextlib.contextmanager
def entered(name: str) -> Iterator[None]:
    """Run the calling thread inside namespace ``name`` for the duration of the block."""
    own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    target = os.open(path(name), os.O_RDONLY)
    try:
        _setns(target)
        try:
            yield
        finally:
            _setns(own)
    finally:
        os.close(target)
        os.close(own)


def socket_in(name: str | None, family: int = socket.AF_INET) -> socket.socket:
    """A new TCP socket in namespace ``name`` (None: the caller's own namespace)."""
    if name is None:
        return socket.socket(family, socket.SOCK_STREAM)
    with entered(name):
        return socket.socket(family, socket.SOCK_STREAM)


def run_in(name: str, *argv: str) -> str:
    """Run a short command inside the namespace (``ip netns exec``)."""
    return run_checked("node network", ["ip", "netns", "exec", name, *argv], timeout=30)


def create(name: str, *, bridge: str, address: str) -> None:
    """A namespace with ``lo`` up and a bridge holding the node's address (the kernel has no dummy links)."""
    if exists(name):
        raise BenchError("node network", f"ip netns add {name}", "the namespace exists already")
    run_checked("node network", ["ip", "netns", "add", name], timeout=30)
    try:
        run_in(name, "ip", "link", "set", "lo", "up")
        run_in(name, "ip", "link", "add", bridge, "type", "bridge")
        run_in(name, "ip", "addr", "add", address, "dev", bridge)
        run_in(name, "ip", "link", "set", bridge, "up")
        # Per-namespace sysctls: routing between pods, Services and the node happens only inside this namespace.
        run_in(name, "sysctl", "-q", "-w", "net.ipv4.ip_forward=1")
        run_in(name, "sysctl", "-q", "-w", "net.ipv4.conf.all.route_localnet=1")
    except BaseException:
        delete(name)
        raise


def delete(name: str) -> None:
    """Remove the namespace (and with it every link, address, route and rule inside it)."""
    if exists(name):
        run_checked("node network", ["ip", "netns", "delete", name], timeout=30)
