"""The termination message: where it goes, that it never holds a credential nor more than the kubelet keeps, and
that writing it never raises."""

from __future__ import annotations

from pathlib import Path

from hivekeeper.protocol.health import (
    FATAL_PREFIX,
    MAX_TERMINATION_MESSAGE,
    TERMINATION_LOG,
    TERMINATION_LOG_VARIABLE,
    UNHEALTHY_PREFIX,
)
from hivekeeper.worker.termination import TerminationLog, clip, scrub


def test_by_default_the_kubernetes_path_is_used_and_only_when_it_exists(tmp_path: Path) -> None:
    default = TerminationLog.from_environ({})
    assert (default.path, default.create) == (Path(TERMINATION_LOG), False)
    missing = TerminationLog(tmp_path / "termination-log", create=False)
    assert missing.write(FATAL_PREFIX, "bad env") is False
    assert not (tmp_path / "termination-log").exists(), "a local run never creates a file only a pod has"


def test_the_variable_names_another_file_created_when_missing_and_empty_writes_none(tmp_path: Path) -> None:
    target = tmp_path / "why"
    chosen = TerminationLog.from_environ({TERMINATION_LOG_VARIABLE: str(target)})
    assert chosen.write(UNHEALTHY_PREFIX, "event loop has not turned for 12.3 s")
    assert target.read_text() == "unhealthy: event loop has not turned for 12.3 s"
    assert chosen.write(FATAL_PREFIX, "bootstrap config rejected: x")
    assert target.read_text() == "fatal: bootstrap config rejected: x", "the latest reason replaces the former"
    assert chosen.clear()
    assert target.read_text() == ""
    assert TerminationLog.from_environ({TERMINATION_LOG_VARIABLE: ""}).path is None


def test_writing_where_it_cannot_returns_false_and_never_raises(tmp_path: Path) -> None:
    assert TerminationLog(tmp_path, create=True).write(FATAL_PREFIX, "a directory") is False
    assert TerminationLog(tmp_path / "no" / "such" / "dir", create=True).write(FATAL_PREFIX, "x") is False
    assert TerminationLog(None).write(FATAL_PREFIX, "nowhere") is False


def test_no_credential_of_the_environment_or_of_a_url_reaches_the_message(tmp_path: Path) -> None:
    target = tmp_path / "why"
    environ = {
        TERMINATION_LOG_VARIABLE: str(target),
        "HIVEKEEPER_AMQP_URL": "amqp://hive:Rabbit%2FPass@rabbit:5672/",
        "HIVEKEEPER_REDIS_URL": "redis://:RedisPass99@redis:6379/0",
    }
    log = TerminationLog.from_environ(environ)
    assert "RedisPass99" not in repr(log)
    log.write(
        FATAL_PREFIX,
        "broker unreachable at start: amqp://hive:Rabbit%2FPass@rabbit:5672/ said Rabbit/Pass; "
        "redis said RedisPass99; and amqps://u:other-secret@h/ too; password=hunter22",
    )
    written = target.read_text()
    for secret in ("Rabbit%2FPass", "Rabbit/Pass", "RedisPass99", "other-secret", "hunter22"):
        assert secret not in written, written
    assert written.startswith("fatal: broker unreachable at start: amqp://hive:***@rabbit:5672/")


def test_scrub_leaves_text_without_credentials_as_it_is() -> None:
    text = "event loop has not turned for 12.3 s (bound 10 s, HIVEKEEPER_LOOP_STALL_SECONDS)"
    assert scrub(text, ["ab"]) == text, "a password too short to find safely is not blanked in free text"


def test_the_message_is_clipped_to_what_the_kubelet_keeps_without_splitting_a_character(tmp_path: Path) -> None:
    assert clip("é" * 3, limit=5) == "éé".encode()
    target = tmp_path / "why"
    TerminationLog(target, create=True).write(FATAL_PREFIX, "ü" * 5000)
    data = target.read_bytes()
    assert len(data) <= MAX_TERMINATION_MESSAGE
    assert data.decode().startswith("fatal: üü")
