"""The TCP demo SUT (``hivekeeper.local.demo_tcp``) on loopback for tests: plain or TLS (a certificate for
127.0.0.1 signed by a throwaway CA from :mod:`testbench.pki`)."""

from __future__ import annotations

import contextlib
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from hivekeeper.local.demo_tcp import TcpDemo, serve
from testbench.pki import make_pki


@dataclass(frozen=True)
class TcpSut:
    """A running TCP demo: its URL (``tcp://127.0.0.1:<port>`` or ``tcps://``) and, for TLS, the CA to trust."""

    url: str
    port: int
    ca_file: Path | None = None


@contextlib.asynccontextmanager
async def tcp_sut(demo: TcpDemo, *, tls_dir: Path | None = None) -> AsyncIterator[TcpSut]:
    """Serve ``demo`` on a free loopback port until the block ends; with ``tls_dir``, over TLS (certificates
    written there)."""
    context = None
    ca = None
    if tls_dir is not None:
        pki = make_pki(tls_dir)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(str(pki.serving_cert), str(pki.serving_key))
        ca = pki.ca_cert
    server = await serve("127.0.0.1", 0, demo, ssl=context)
    port = server.sockets[0].getsockname()[1]
    try:
        yield TcpSut(f"{'tcps' if context else 'tcp'}://127.0.0.1:{port}", port, ca)
    finally:
        server.close()
        await server.wait_closed()
