"""A SUT host name that does not resolve is its own error kind (``dns``), not a refused connection.

The resolver is replaced on the test's event loop (no DNS query leaves the machine)."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import pytest

from hivekeeper.worker.http.client import HttpClient
from hivekeeper.worker.http_port import HttpConnectError, HttpNameError, Origin


async def test_an_unresolvable_host_fails_as_dns_naming_the_host(monkeypatch: pytest.MonkeyPatch) -> None:
    loop = asyncio.get_running_loop()

    async def no_such_name(host: str, port: int, **_: Any) -> list[Any]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(loop, "getaddrinfo", no_such_name)
    http = HttpClient()
    try:
        with pytest.raises(
            HttpNameError, match=r"cannot resolve 'cards-api\.perf\.svc': Name or service not known"
        ) as err:
            await http.request(Origin.parse("http://cards-api.perf.svc:8080"), "GET", "/x", {}, None, timeout=1.0)
    finally:
        http.close()
    assert err.value.kind == "dns"
    assert isinstance(err.value, HttpConnectError), "still a connect failure for code that catches those"
