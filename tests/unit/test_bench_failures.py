"""The bench fails in one clear line naming the service, the command and its error."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from testbench.errors import BenchError
from testbench.procs import ManagedProcess, group_alive, run_checked


def test_a_failing_command_becomes_one_line_naming_service_command_and_error() -> None:
    with pytest.raises(BenchError) as caught:
        run_checked("redis", [sys.executable, "-c", "import sys; sys.exit('no such package: redis-servr')"])
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("test bench: redis: `")
    assert "no such package: redis-servr" in message


def test_a_service_that_dies_before_ready_names_its_exit_code_and_log(tmp_path: Path) -> None:
    script = "print('port 5672 already in use'); raise SystemExit(3)"
    proc = ManagedProcess("rabbitmq", [sys.executable, "-c", script], tmp_path / "rmq.log").start()
    with pytest.raises(BenchError) as caught:
        proc.wait_ready(lambda: False, timeout=30, what="accepting AMQP")
    assert "exited with 3 before accepting AMQP" in str(caught.value)
    assert "port 5672 already in use" in str(caught.value)


def test_a_service_that_never_gets_ready_times_out_and_stop_kills_its_whole_group(tmp_path: Path) -> None:
    # The child starts a grandchild in the same group; stop() must take both.
    script = (
        "import signal, subprocess, sys;"
        "subprocess.Popen([sys.executable, '-c', 'import signal; signal.pause()']); signal.pause()"
    )
    proc = ManagedProcess("redis", [sys.executable, "-c", script], tmp_path / "redis.log").start()
    with pytest.raises(BenchError, match="not answering PING after 1s"):
        proc.wait_ready(lambda: False, timeout=1, what="answering PING")
    proc.stop(grace=5)
    assert not group_alive(proc.pid)


def test_a_missing_binary_is_reported_not_raised_as_a_traceback(tmp_path: Path) -> None:
    with pytest.raises(BenchError, match="kube-apiserver: `/nonexistent/kube-apiserver` failed"):
        ManagedProcess("kube-apiserver", ["/nonexistent/kube-apiserver"], tmp_path / "log").start()


def _hold_lock(path: Path) -> subprocess.Popen[str]:
    """Another process holding an fcntl lock on ``path``, as apt-get and dpkg do; it says when it has it."""
    script = (
        "import fcntl, os, sys, signal;"
        f"fd = os.open({str(path)!r}, os.O_RDWR | os.O_CREAT);"
        "fcntl.lockf(fd, fcntl.LOCK_EX); print('locked', flush=True); signal.pause()"
    )
    holder = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert holder.stdout is not None
    assert holder.stdout.readline().strip() == "locked"
    return holder


def test_a_held_package_lock_is_waited_for_and_its_holder_named_when_the_wait_ends(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from testbench import packages

    lock = tmp_path / "lock-frontend"
    monkeypatch.setattr(packages, "LOCKS", (lock,))
    holder = _hold_lock(lock)
    try:
        assert packages._lock_holder(lock) == holder.pid
        with pytest.raises(BenchError) as caught:
            packages.wait_for_package_locks("containerd", timeout=1.5)
        message = str(caught.value)
        assert f"is still locked by PID {holder.pid}" in message
        assert "after 2s" in message
    finally:
        holder.kill()
        holder.wait()
        assert holder.stdout is not None
        holder.stdout.close()
    assert packages._lock_holder(lock) is None
    packages.wait_for_package_locks("containerd", timeout=1.5)  # free: returns at once


def test_a_port_taken_between_pick_and_bind_is_picked_again_at_once() -> None:
    from testbench.procs import retry_on_port_clash

    attempts: list[int] = []

    def start() -> str:
        attempts.append(len(attempts))
        if len(attempts) < 3:
            raise BenchError("redis", "redis-server --port 4242", "bind: Address already in use")
        return "started"

    assert retry_on_port_clash(start) == "started"
    assert len(attempts) == 3
    with pytest.raises(BenchError, match="no such file"):
        retry_on_port_clash(lambda: (_ for _ in ()).throw(BenchError("redis", "x", "no such file")))
