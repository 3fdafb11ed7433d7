"""The bench fails in one clear line naming the service, the command and its error."""

from __future__ import annotations

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
