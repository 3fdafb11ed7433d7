"""Every service the bench started in this process, so that no exit path leaves one running.

Fixtures stop what they start; this registry is the safety net for the paths that skip fixture
teardown (SIGTERM, SIGHUP, an error during collection).
"""

from __future__ import annotations

import atexit
import signal
import types
from typing import Protocol, TypeVar


class Stoppable(Protocol):
    def stop(self) -> None: ...


_running: list[Stoppable] = []
S = TypeVar("S", bound=Stoppable)
_handlers: list[bool] = []  # non-empty once signal handlers are installed


def track(service: S) -> S:
    _install_handlers()
    _running.append(service)
    return service


def release(service: Stoppable) -> None:
    if service in _running:
        _running.remove(service)
    service.stop()


def stop_all() -> None:
    while _running:
        _running.pop().stop()


def _on_signal(signum: int, frame: types.FrameType | None) -> None:
    # Become a KeyboardInterrupt so that pytest runs fixture teardown as it does on Ctrl-C.
    raise KeyboardInterrupt(f"signal {signum}")


def _install_handlers() -> None:
    if _handlers:
        return
    _handlers.append(True)
    atexit.register(stop_all)
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _on_signal)
