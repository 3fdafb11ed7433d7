"""Child processes the bench owns: start in a new session, wait for readiness, stop the group."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from testbench.errors import BenchError


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now (the kernel picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


T = TypeVar("T")
CLASH_MARKERS = ("address already in use", "eaddrinuse")


def retry_on_port_clash(start: Callable[[], T], attempts: int = 3) -> T:
    """Start a service on ports from :func:`free_port`, again at once with fresh ports if another process
    took one between the pick and the service's bind (the service's error says "address already in use")."""
    for attempt in range(attempts):
        try:
            return start()
        except BenchError as exc:
            if attempt == attempts - 1 or not any(marker in exc.error.lower() for marker in CLASH_MARKERS):
                raise
    raise AssertionError("unreachable")


def port_answers(port: int, host: str = "127.0.0.1") -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.5):
        return True
    return False


def tail(path: Path, lines: int = 5) -> str:
    try:
        return " | ".join(path.read_text(errors="replace").strip().splitlines()[-lines:])
    except OSError:
        return "(no log)"


@dataclass
class ManagedProcess:
    """A long-running child process with its own process group and log file."""

    service: str
    argv: Sequence[str]
    log_path: Path
    env: Mapping[str, str] | None = None
    cwd: Path | None = None
    popen: subprocess.Popen[bytes] | None = field(default=None, init=False)

    def start(self) -> ManagedProcess:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ)
        env.update(self.env or {})
        log = self.log_path.open("ab")
        try:
            self.popen = subprocess.Popen(
                list(self.argv),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=self.cwd,
                start_new_session=True,
            )
        except OSError as exc:
            raise BenchError(self.service, " ".join(self.argv), str(exc)) from exc
        finally:
            log.close()
        return self

    @property
    def pid(self) -> int:
        assert self.popen is not None, "process not started"
        return self.popen.pid

    def wait_ready(self, ready: Callable[[], bool], timeout: float, what: str) -> float:
        """Poll ``ready`` until it is true; fail naming the service and its log if the process dies."""
        started = time.monotonic()
        deadline = started + timeout
        while time.monotonic() < deadline:
            if self.popen is not None and self.popen.poll() is not None:
                raise BenchError(
                    self.service,
                    " ".join(self.argv),
                    f"exited with {self.popen.returncode} before {what}; log {self.log_path}: {tail(self.log_path)}",
                )
            if ready():
                return time.monotonic() - started
            time.sleep(0.1)
        raise BenchError(
            self.service,
            " ".join(self.argv),
            f"not {what} after {timeout:.0f}s; log {self.log_path}: {tail(self.log_path)}",
        )

    def stop(self, grace: float = 10.0) -> None:
        if self.popen is None:
            return
        stop_group(self.popen.pid, grace)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(timeout=grace)


def stop_group(pid: int, grace: float = 10.0) -> None:
    """SIGTERM the process group led by ``pid``, then SIGKILL whatever is left after ``grace``."""
    try:
        os.killpg(pid, signal.SIGTERM)
    except (ProcessLookupError, PermissionError):
        return
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if not group_alive(pid):
            return
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


def group_alive(pgid: int) -> bool:
    # Reap the leader if it is our child so that a zombie does not count as alive.
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pgid, os.WNOHANG)
    try:
        os.killpg(pgid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def run_checked(
    service: str,
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float | None = None,
) -> str:
    """Run a command to completion; a non-zero exit becomes a one-line :class:`BenchError`."""
    full_env = dict(os.environ)
    full_env.update(env or {})
    try:
        done = subprocess.run(
            list(argv),
            env=full_env,
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise BenchError(service, " ".join(argv), str(exc)) from exc
    if done.returncode != 0:
        lines = (done.stderr or done.stdout).strip().splitlines()
        raise BenchError(service, " ".join(argv), " ".join(lines[-4:]) or f"exit {done.returncode}")
    return done.stdout
