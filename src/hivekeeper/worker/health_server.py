"""The worker's HTTP port: ``/metrics``, ``/livez`` and ``/readyz``, answered in threads; and the loop's heartbeat.

One port (``HIVEKEEPER_METRICS_PORT``) serves all three: ``/metrics`` is prometheus_client's own WSGI app on
the worker's registry, unchanged; ``/livez`` and ``/readyz`` answer 200 ``ok`` or 503 with the reason
(``worker.health``); any other path is a 404. Each request runs in a thread of its own, never on the event
loop, so a loop that stopped turning is still answered, with the reason, rather than left to time out.

The first 503 of ``/livez`` in an outage writes ``unhealthy: <reason>`` as the termination message (the
kubelet restarts the worker after a few of them, and shows that message as the reason); if the worker
recovers before that, the message is emptied again.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterable
from socketserver import ThreadingMixIn
from typing import TYPE_CHECKING, Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import make_wsgi_app
from prometheus_client.registry import Collector

from hivekeeper.protocol.health import LIVENESS_PATH, READINESS_PATH, UNHEALTHY_PREFIX
from hivekeeper.worker.health import HEARTBEAT_INTERVAL, OK, Health
from hivekeeper.worker.termination import TerminationLog

if TYPE_CHECKING:
    from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

METRICS_PATH = "/metrics"


def _text() -> list[tuple[str, str]]:
    """The headers of a plain-text answer: a new list each time (wsgiref adds Content-Length to the one given)."""
    return [("Content-Type", "text/plain; charset=utf-8")]


async def heartbeat(health: Health, clock: Callable[[], float] = time.monotonic) -> None:
    """Beat every :data:`~hivekeeper.worker.health.HEARTBEAT_INTERVAL` while the event loop turns (a task)."""
    while True:
        health.beat(clock())
        await asyncio.sleep(HEARTBEAT_INTERVAL)


class UnhealthyReport:
    """Writes the termination message once per outage: at its first failed liveness check (the probes of the
    HTTP server's threads may race: a lock keeps it to one write), and empties it when the worker recovers."""

    def __init__(self, log: TerminationLog) -> None:
        self.log = log
        self._lock = threading.Lock()
        self._written = False

    def failing(self, reason: str) -> None:
        with self._lock:
            if not self._written:
                self._written = True
                self.log.write(UNHEALTHY_PREFIX, reason)

    def passing(self) -> None:
        if self._written:
            with self._lock:
                if self._written:
                    self._written = False
                    self.log.clear()


def health_app(
    registry: Collector,
    health: Health,
    report: UnhealthyReport,
    clock: Callable[[], float] = time.monotonic,
) -> WSGIApplication:
    """The WSGI app of the worker's port (``/metrics``, ``/livez``, ``/readyz``; 404 otherwise)."""
    metrics = make_wsgi_app(registry)

    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path == METRICS_PATH:
            answer: Iterable[bytes] = metrics(environ, start_response)
            return answer
        if path not in (LIVENESS_PATH, READINESS_PATH):
            start_response("404 Not Found", _text())
            return [f"not found: {METRICS_PATH}, {LIVENESS_PATH} and {READINESS_PATH} are served here\n".encode()]
        if environ.get("REQUEST_METHOD") != "GET":
            start_response("405 Method Not Allowed", [*_text(), ("Allow", "GET")])
            return [b"use GET\n"]
        verdict = health.check(clock())
        if path == LIVENESS_PATH:
            good, reason = verdict.live, verdict.live_reason
            if good:
                report.passing()
            else:
                report.failing(reason)
        else:
            good, reason = verdict.ready, verdict.ready_reason
        start_response("200 OK" if good else "503 Service Unavailable", _text())
        return [(OK if good else reason).encode() + b"\n"]

    return app


class _Server(ThreadingMixIn, WSGIServer):
    """One thread per request; the threads never hold the process up at exit."""

    daemon_threads = True


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Probes every few seconds are not worth a log line each."""


def serve(port: int, app: WSGIApplication, addr: str = "0.0.0.0") -> WSGIServer:
    """Serve ``app`` on ``port`` in a daemon thread (as prometheus_client's ``start_http_server`` did); returns
    the server (``shutdown()`` stops it)."""
    server = make_server(addr, port, app, _Server, handler_class=_Quiet)
    threading.Thread(target=server.serve_forever, name=f"http:{port}", daemon=True).start()
    return server
