"""The worker's port as a WSGI app: /metrics as prometheus_client serves it, /livez and /readyz from the health
verdict (200 ok, or 503 with the reason), 404 elsewhere; the first failed /livez of an outage writes the
termination message, and a recovery empties it."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any
from wsgiref.util import setup_testing_defaults

from prometheus_client import CollectorRegistry, Counter

from hivekeeper.worker.health import Bounds, Health
from hivekeeper.worker.health_server import UnhealthyReport, health_app
from hivekeeper.worker.termination import TerminationLog


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _get(app: Any, path: str, method: str = "GET") -> tuple[str, str]:
    environ: dict[str, Any] = {"PATH_INFO": path, "REQUEST_METHOD": method}
    setup_testing_defaults(environ)
    seen: list[str] = []

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        seen.append(status)

    body: Iterable[bytes] = app(environ, start_response)
    return seen[0], b"".join(body).decode()


def _setup(tmp_path: Path) -> tuple[Any, Health, Clock, Path]:
    registry = CollectorRegistry()
    Counter("hivekeeper_probe_test", "A counter of this test.", registry=registry).inc(3)
    clock = Clock()
    health = Health(Bounds(loop_stall=10.0, control_loss=60.0), clock.now)
    target = tmp_path / "termination-log"
    app = health_app(registry, health, UnhealthyReport(TerminationLog(target, create=True)), clock)
    return app, health, clock, target


def test_metrics_are_served_at_metrics_from_the_registry_and_other_paths_are_404(tmp_path: Path) -> None:
    app, _, _, _ = _setup(tmp_path)
    status, body = _get(app, "/metrics")
    assert status == "200 OK"
    assert "hivekeeper_probe_test_total 3.0" in body
    status, body = _get(app, "/")
    assert status.startswith("404")
    assert "/metrics, /livez and /readyz" in body
    assert _get(app, "/livez", "POST")[0].startswith("405")


def test_a_starting_worker_is_live_and_not_ready_saying_why(tmp_path: Path) -> None:
    app, health, _, _ = _setup(tmp_path)
    assert _get(app, "/livez") == ("200 OK", "ok\n")
    assert _get(app, "/readyz") == ("503 Service Unavailable", "starting: not yet listening on its control queue\n")
    health.started = True
    assert _get(app, "/readyz") == ("200 OK", "ok\n")


def test_a_stall_answers_503_with_the_reason_and_writes_the_termination_message_once(tmp_path: Path) -> None:
    app, health, clock, target = _setup(tmp_path)
    clock.now = 112.3
    status, body = _get(app, "/livez")
    assert status == "503 Service Unavailable"
    assert body.startswith("event loop has not turned for 12.3 s")
    assert target.read_text() == "unhealthy: " + body.strip()
    clock.now = 140.0
    assert "40.0 s" in _get(app, "/livez")[1]
    assert "12.3 s" in target.read_text(), "one message per outage: the first failed check's"
    assert _get(app, "/readyz")[0] == "503 Service Unavailable"
    health.beat(140.0)
    assert _get(app, "/livez") == ("200 OK", "ok\n")
    assert target.read_text() == "", "recovered before the kubelet restarted it: the reason no longer holds"
    clock.now = 160.0
    _get(app, "/livez")
    assert "20.0 s" in target.read_text(), "a new outage writes its own message"
