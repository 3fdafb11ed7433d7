"""A Docker engine for building images that never touches the host network, started and stopped by the bench.

Debian's dockerd 20.10 runs in namespaces of its own (``unshare``): a network namespace with only ``lo`` (no
bridge, no iptables, no forwarding; builds and runs use ``--network none``), a PID namespace so that nothing
it starts (containerd, shims, build containers) outlives it, and a mount namespace where tmpfs mounts hide
/run, /etc/docker and /opt, so it neither attaches to a system containerd's socket nor leaves files behind.
What stays between runs is its data root (cache_root()/docker: images, layers) and its log next to it; the
cgroups of its containers live under one parent, removed once it has stopped.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Mapping
from pathlib import Path

from testbench import registry
from testbench.errors import BenchError
from testbench.gobuild import cache_root
from testbench.procs import ManagedProcess, run_checked, tail

DOCKERD = "/usr/sbin/dockerd"
DOCKER = "/usr/bin/docker"  # Debian's client, matching the engine; a newer one on PATH may lack the classic builder
CGROUP_PARENT = "hivekeeper-images"
CGROUP_ROOT = Path("/sys/fs/cgroup")
# Run in the namespaces before dockerd: throwaway tmpfs over /run (the host's containerd socket, /run/docker),
# /etc/docker (key.json) and /opt (containerd's /opt/containerd), so none of them is read or written.
PRELUDE = 'for d in /run /etc/docker /opt; do [ ! -d "$d" ] || mount -t tmpfs tmpfs "$d" || exit 1; done; exec "$@"'


def ping(sock: Path) -> bool:
    """True when the engine answers ``GET /_ping`` on its socket."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
            conn.settimeout(2)
            conn.connect(str(sock))
            conn.sendall(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
            status = conn.recv(64).split(b" ", 2)
    except OSError:
        return False
    return len(status) > 1 and status[0].startswith(b"HTTP/1.") and status[1] == b"200"


def remove_cgroups(parent: str = CGROUP_PARENT) -> None:
    """Remove the (empty) cgroup tree of the build containers in every hierarchy, deepest first."""
    for top in CGROUP_ROOT.glob(f"*/{parent}"):
        for path in sorted((p for p in top.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)):
            with contextlib.suppress(OSError):
                path.rmdir()
        with contextlib.suppress(OSError):
            top.rmdir()


def leftovers(marker: str) -> list[int]:
    """PIDs whose command line mentions ``marker`` (the engine's private directory)."""
    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        with contextlib.suppress(OSError):
            if marker.encode() in (proc / "cmdline").read_bytes():
                found.append(int(proc.name))
    return found


class ThrowawayDockerd:
    """``with ThrowawayDockerd() as engine: engine.docker("build", ...)``; stopped on leaving, also on error."""

    def __init__(self, data_root: Path | None = None) -> None:
        self.data_root = data_root or cache_root() / "docker"
        self.run_dir = Path(tempfile.mkdtemp(prefix="hivekeeper-dockerd-"))
        self.sock = self.run_dir / "docker.sock"
        self.process: ManagedProcess | None = None
        self.startup_seconds = 0.0

    @property
    def env(self) -> Mapping[str, str]:
        return {
            "DOCKER_HOST": f"unix://{self.sock}",
            "DOCKER_BUILDKIT": "0",  # the classic builder: BuildKit would fetch its frontend from a registry
            "DOCKER_CONFIG": str(self.run_dir / "client"),  # not the user's ~/.docker (contexts, credential helpers)
        }

    def argv(self) -> list[str]:
        config = self.run_dir / "daemon.json"
        config.write_text("{}\n")  # not /etc/docker/daemon.json: the host's settings are not ours
        return [
            *("unshare", "--mount", "--propagation", "slave", "--net", "--pid", "--mount-proc", "--kill-child"),
            *("sh", "-c", PRELUDE, "hivekeeper-dockerd"),
            DOCKERD,
            *("--bridge=none", "--iptables=false", "--ip6tables=false", "--ip-forward=false", "--ip-masq=false"),
            "--storage-driver=overlay2",
            f"--cgroup-parent={CGROUP_PARENT}",
            f"--host=unix://{self.sock}",
            f"--data-root={self.data_root}",
            f"--exec-root={self.run_dir / 'exec'}",
            f"--pidfile={self.run_dir / 'dockerd.pid'}",
            f"--config-file={config}",
        ]

    def start(self) -> ThrowawayDockerd:
        if os.geteuid() != 0:
            raise BenchError("dockerd", DOCKERD, "the throwaway engine needs root (namespaces, mounts, cgroups)")
        for binary in (DOCKERD, DOCKER):
            if not os.access(binary, os.X_OK):
                raise BenchError("dockerd", binary, "missing; install the Debian package docker.io")
        self.data_root.mkdir(parents=True, exist_ok=True)
        log = self.data_root.with_name(self.data_root.name + ".log")  # outside run_dir, which stop() removes
        log.unlink(missing_ok=True)
        self.process = ManagedProcess("dockerd", self.argv(), log).start()
        self.startup_seconds = self.process.wait_ready(lambda: ping(self.sock), 60, "answering on its socket")
        return self

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop(grace=30)
            self.process = None
        left = leftovers(str(self.run_dir))
        remove_cgroups()
        if left:
            raise BenchError("dockerd", "stop", f"processes of the engine still run: {left}")
        shutil.rmtree(self.run_dir, ignore_errors=True)

    def __enter__(self) -> ThrowawayDockerd:
        registry.track(self)  # also stopped on SIGTERM/SIGHUP and at exit
        try:
            return self.start()
        except BaseException:
            registry.release(self)
            raise

    def __exit__(self, *exc: object) -> None:
        registry.release(self)

    def docker(self, *args: str, timeout: float = 600, what: str = "docker", log: Path | None = None) -> str:
        """Run Debian's docker client against this engine; a failure is a BenchError naming ``what``.

        With ``log``, the output goes to that file instead (a build's is long) and a failure quotes its end.
        """
        command = [DOCKER, *args]
        if log is None:
            return run_checked(what, command, env=self.env, timeout=timeout)
        with log.open("w") as out:
            try:
                done = subprocess.run(
                    command,
                    env={**os.environ, **self.env},
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    timeout=timeout,
                    check=False,
                )
            except (OSError, subprocess.TimeoutExpired) as exc:
                raise BenchError(what, " ".join(command), f"{exc} (full log: {log})") from exc
        if done.returncode != 0:
            raise BenchError(what, " ".join(command), f"exit {done.returncode}: {tail(log, 6)} (full log: {log})")
        return ""
