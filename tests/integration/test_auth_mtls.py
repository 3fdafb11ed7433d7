"""An mtls auth profile over loopback: a TLS server that requires a client certificate signed by its CA answers
the processor that presents the profile's certificate, and refuses the handshake of the one that does not."""

from __future__ import annotations

import asyncio
import io
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from hivekeeper.api.swarm import Swarm
from hivekeeper.local.runner import RunOptions, run
from testbench.pki import Pki, make_pki

pytestmark = pytest.mark.integration


@asynccontextmanager
async def _tls_server(pki: Pki, seen: list[str]) -> AsyncIterator[int]:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(pki.ca_cert))
    context.load_cert_chain(str(pki.serving_cert), str(pki.serving_key))
    context.verify_mode = ssl.CERT_REQUIRED

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peercert") or {}
        subject = dict(item for rdn in peer.get("subject", ()) for item in rdn)
        try:
            while await reader.readuntil(b"\r\n\r\n"):
                seen.append(str(subject.get("commonName")))
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0, ssl=context)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        await server.wait_closed()


def _swarm(port: int, pki: Pki, *, with_cert: bool) -> Swarm:
    endpoint: dict[str, Any] = {"baseUrl": f"https://localhost:{port}"}
    spec: dict[str, Any] = {"sut": {"endpoints": {"default": endpoint}}}
    if with_cert:
        endpoint["auth"] = "client-cert"
        spec["auth"] = {
            "client-cert": {
                "type": "mtls",
                "cert": {"file": str(pki.admin_cert)},
                "key": {"file": str(pki.admin_key)},
                "ca": {"file": str(pki.ca_cert)},
            }
        }
    spec["roles"] = [
        {
            "name": "caller",
            "role": "processor",
            "config": {
                "baseUrl": "{{ sut.endpoints.default.baseUrl }}",
                "inputs": {"type": "SCHEDULER", "scheduler": {"ratePerSec": 20}},
                "request": {"path": "/whoami"},
                # Without the profile the server is not verified either: the handshake fails for the missing
                # client certificate alone.
                "sslVerify": with_cert,
            },
        }
    ]
    return Swarm.model_validate({"metadata": {"name": "mtls"}, "spec": spec})


async def test_the_profiles_client_certificate_is_presented_and_without_it_the_handshake_fails(tmp_path: Path) -> None:
    pki = make_pki(tmp_path / "pki")
    seen: list[str] = []
    async with _tls_server(pki, seen) as port:
        with_cert = await run(_swarm(port, pki, with_cert=True), RunOptions(duration=1.5, out=io.StringIO()))
        [caller] = with_cert["roles"]
        assert caller["errors"] == 0
        assert caller["statusCodes"]["200"] == len(seen) > 10
        assert set(seen) == {"hivekeeper-test-admin"}, "the profile's certificate, verified by the server's CA"
        seen.clear()
        without = await run(_swarm(port, pki, with_cert=False), RunOptions(duration=1.0, out=io.StringIO()))
        [caller] = without["roles"]
        assert caller["statusCodes"] == {}
        assert caller["errors"] > 0, "no client certificate: the server refuses the handshake"
        assert seen == []
