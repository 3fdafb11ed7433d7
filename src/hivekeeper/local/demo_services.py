"""The demo services ``hivekeeper run --demo-sut`` starts in child processes: the HTTP demo
(``local/demo_sut.py``) always, and the TCP demo (``local/demo_tcp.py``) when an endpoint it serves is
``tcp://`` or ``tcps://``, in the mode the swarms' TCP templates need (:func:`hivekeeper.local.endpoints.tcp_mode`).
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import Iterator

from hivekeeper.api.swarm import Swarm
from hivekeeper.errors import Unavailable
from hivekeeper.local import endpoints


class DemoNotStarted(Unavailable, RuntimeError):
    """A demo service's child process did not print its address (it failed to start)."""


@contextlib.contextmanager
def _child(module: str, args: list[str], scheme: str) -> Iterator[str]:
    """Run ``python -m module --port 0 args`` until the block ends; yield the URL it printed."""
    proc = subprocess.Popen([sys.executable, "-m", module, "--port", "0", *args], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        if f"{scheme}://" not in line:
            raise DemoNotStarted(f"{module} did not start (it printed {line!r}, exit code {proc.poll()})")
        yield line[line.index(f"{scheme}://") :]
    finally:
        proc.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=5)


@contextlib.contextmanager
def demo_service() -> Iterator[str]:
    """Start ``hivekeeper.local.demo_sut`` in a child process on a free port; yield its base URL."""
    with _child("hivekeeper.local.demo_sut", [], "http") as url:
        yield url


@contextlib.contextmanager
def tcp_demo_service(mode: str, end_tag: str) -> Iterator[str]:
    """Start ``hivekeeper.local.demo_tcp`` in ``mode`` (``end_tag`` for end-tag mode); yield its ``tcp://`` URL."""
    args = ["--mode", mode]
    if end_tag:
        args += ["--end-tag", end_tag.encode("unicode_escape").decode("ascii")]
    with _child("hivekeeper.local.demo_tcp", args, "tcp") as url:
        yield url


@contextlib.contextmanager
def started(swarms: Swarm | list[Swarm], flags: endpoints.SutFlags) -> Iterator[tuple[str, str | None]]:
    """The HTTP demo's URL and, when some endpoint the demo serves is TCP, the TCP demo's (else None)."""
    listed = swarms if isinstance(swarms, list) else [swarms]
    with contextlib.ExitStack() as stack:
        url = stack.enter_context(demo_service())
        tcp_url = None
        if any(endpoints.tcp_demo_names(s, flags) for s in listed):
            mode, end_tag = endpoints.tcp_mode(listed)
            tcp_url = stack.enter_context(tcp_demo_service(mode, end_tag))
        yield url, tcp_url
