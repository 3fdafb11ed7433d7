"""A private Redis on loopback: no persistence, own port, readiness by a real PING."""

from __future__ import annotations

import contextlib
import socket
from dataclasses import dataclass
from pathlib import Path

from testbench.packages import DEBIAN_PACKAGES
from testbench.procs import ManagedProcess, free_port, retry_on_port_clash


@dataclass
class Redis:
    url: str
    port: int
    processes: list[ManagedProcess]
    startup_seconds: float
    workdir: Path | None = None
    persistent: bool = False

    def stop(self) -> None:
        for proc in self.processes:
            proc.stop()

    def restart(self, timeout: float = 30.0) -> Redis:
        """Stop and start again on the same port (with ``persistent``, the lists survive: append-only file)."""
        assert self.workdir is not None
        self.stop()
        again = _start_redis(self.workdir, timeout, port=self.port, persistent=self.persistent)
        self.processes, self.startup_seconds = again.processes, again.startup_seconds
        return self


def redis_pongs(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
        sock.settimeout(2)
        sock.sendall(b"*1\r\n$4\r\nPING\r\n")
        return sock.recv(16).startswith(b"+PONG")
    return False


def start_redis(workdir: Path, timeout: float = 30.0, *, persistent: bool = False) -> Redis:
    """redis-server on a free loopback port (picked again if another process takes it first); ``persistent``
    keeps an append-only file synced on every write, so a restart loses nothing (outage tests)."""
    return retry_on_port_clash(lambda: _start_redis(workdir, timeout, persistent=persistent))


def _start_redis(workdir: Path, timeout: float, *, port: int | None = None, persistent: bool = False) -> Redis:
    workdir.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    argv = [
        DEBIAN_PACKAGES["redis"][1],
        "--bind",
        "127.0.0.1",
        "--port",
        str(port),
        "--save",
        "",
        "--appendonly",
        "yes" if persistent else "no",
        "--appendfsync",
        "always",
        "--dir",
        str(workdir),
        "--daemonize",
        "no",
        "--protected-mode",
        "yes",
    ]
    proc = ManagedProcess("redis", argv, workdir / "redis.log").start()
    try:
        seconds = proc.wait_ready(lambda: redis_pongs(port), timeout, "answering PING")
    except BaseException:
        proc.stop()
        raise
    return Redis(
        url=f"redis://127.0.0.1:{port}/0",
        port=port,
        processes=[proc],
        startup_seconds=seconds,
        workdir=workdir,
        persistent=persistent,
    )
