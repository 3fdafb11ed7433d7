"""A private RabbitMQ node on loopback: own ports, own epmd, own data dir; no systemd."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path

from testbench.errors import BenchError
from testbench.packages import DEBIAN_PACKAGES
from testbench.procs import ManagedProcess, free_port, port_answers, retry_on_port_clash

_AMQP_HEADER = b"AMQP\x00\x00\x09\x01"


@dataclass
class RabbitMQ:
    url: str
    amqp_port: int
    processes: list[ManagedProcess]
    startup_seconds: float
    workdir: Path | None = None
    ports: tuple[int, int, int] | None = None

    def stop(self) -> None:
        for proc in reversed(self.processes):
            proc.stop()

    @property
    def node(self) -> str:
        return f"hivekeeper-{self.amqp_port}@localhost"

    def ctl(self, *args: str, timeout: float = 60.0) -> str:
        """Run ``rabbitmqctl ARGS`` against this node (its own cookie and epmd) and return what it printed.

        For tests that change the broker at run time (alarms, policies, limits): use a node of the test's own,
        never a shared one, and put back what was changed.
        """
        assert self.ports is not None, "a node started by start_rabbitmq"
        assert self.workdir is not None, "a node started by start_rabbitmq"
        command = [str(Path(DEBIAN_PACKAGES["rabbitmq"][1]).with_name("rabbitmqctl")), "-n", self.node, *args]
        env = {**os.environ, "HOME": str(self.workdir), "ERL_EPMD_PORT": str(self.ports[2])}
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout, check=False)
        if done.returncode != 0:
            raise BenchError("rabbitmq", " ".join(command[2:]), done.stderr or done.stdout)
        return done.stdout

    def restart(self, timeout: float = 90.0) -> RabbitMQ:
        """Stop the node and start it again on the same ports with the same data (durable queues survive)."""
        assert self.workdir is not None
        self.stop()
        again = start_rabbitmq(self.workdir, timeout, ports=self.ports)
        self.processes, self.startup_seconds = again.processes, again.startup_seconds
        return self


def amqp_accepts(port: int) -> bool:
    """True once the broker answers the AMQP 0-9-1 protocol header with ``Connection.Start``.

    A listening socket is not enough: RabbitMQ opens its port before the boot steps finish.
    """
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
        sock.settimeout(2)
        sock.sendall(_AMQP_HEADER)
        frame = sock.recv(64)
        # method frame (type 1) on channel 0, class 10 (connection) method 10 (start)
        return len(frame) >= 11 and frame[0] == 1 and frame[7:11] == b"\x00\x0a\x00\x0a"
    return False


def start_rabbitmq(workdir: Path, timeout: float = 90.0, ports: tuple[int, int, int] | None = None) -> RabbitMQ:
    """A private RabbitMQ node; on ``ports`` (a restart), else on free ones, picked again at once if another
    process takes one before the node binds it."""
    if ports:
        return _start_rabbitmq(workdir, timeout, ports)
    return retry_on_port_clash(lambda: _start_rabbitmq(workdir, timeout, (free_port(), free_port(), free_port())))


def _start_rabbitmq(workdir: Path, timeout: float, ports: tuple[int, int, int]) -> RabbitMQ:
    workdir.mkdir(parents=True, exist_ok=True)
    amqp_port, dist_port, epmd_port = ports
    node = f"hivekeeper-{amqp_port}@localhost"
    (workdir / "rabbitmq.conf").write_text(
        f"loopback_users.guest = true\nlisteners.tcp.default = 127.0.0.1:{amqp_port}\nlog.console = false\n"
    )
    (workdir / "enabled_plugins").write_text("[].\n")
    env = {
        "HOME": str(workdir),
        "ERL_EPMD_PORT": str(epmd_port),
        "ERL_EPMD_ADDRESS": "127.0.0.1",
        "RABBITMQ_NODENAME": node,
        "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
        "RABBITMQ_NODE_PORT": str(amqp_port),
        "RABBITMQ_DIST_PORT": str(dist_port),
        "RABBITMQ_CONFIG_FILE": str(workdir / "rabbitmq.conf"),
        "RABBITMQ_ENABLED_PLUGINS_FILE": str(workdir / "enabled_plugins"),
        "RABBITMQ_MNESIA_BASE": str(workdir / "mnesia"),
        "RABBITMQ_LOG_BASE": str(workdir / "log"),
        "RABBITMQ_PID_FILE": str(workdir / "rabbitmq.pid"),
    }
    # Our own epmd, started first in our process group, so that no shared daemon outlives the bench.
    epmd = ManagedProcess(
        "rabbitmq (epmd)",
        ["epmd", "-port", str(epmd_port), "-address", "127.0.0.1"],
        workdir / "epmd.log",
        env=env,
    ).start()
    epmd.wait_ready(lambda: port_answers(epmd_port), 10, "listening")
    server = ManagedProcess(
        "rabbitmq", [DEBIAN_PACKAGES["rabbitmq"][1]], workdir / "server.log", env=env, cwd=workdir
    ).start()
    try:
        seconds = server.wait_ready(lambda: amqp_accepts(amqp_port), timeout, "accepting AMQP")
    except BaseException:
        server.stop()
        epmd.stop()
        raise
    return RabbitMQ(
        url=f"amqp://guest:guest@127.0.0.1:{amqp_port}/",
        amqp_port=amqp_port,
        processes=[epmd, server],
        startup_seconds=seconds,
        workdir=workdir,
        ports=(amqp_port, dist_port, epmd_port),
    )
