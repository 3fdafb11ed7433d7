"""The processor's HTTP client against a real server doing the awkward things real servers do."""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from hivekeeper.worker.http.client import RESOLVER, HttpClient
from hivekeeper.worker.http_port import (
    ConnectionDropped,
    HttpConnectError,
    HttpProtocolError,
    HttpTimeout,
    Origin,
    Response,
)
from testbench.procs import free_port
from testbench.scripted_http import ScriptedServer, scripted_server
from testbench.waiting import eventually

pytestmark = pytest.mark.integration


@pytest.fixture
async def server() -> AsyncIterator[ScriptedServer]:
    async with scripted_server() as running:
        yield running


@pytest.fixture
async def client() -> AsyncIterator[HttpClient]:
    http = HttpClient()
    yield http
    http.close()


async def _get(client: HttpClient, server: ScriptedServer, path: str, timeout: float = 5.0) -> Response:
    return await client.request(Origin.parse(server.url), "GET", path, {}, None, timeout)


async def test_keep_alive_reuses_one_connection(client: HttpClient, server: ScriptedServer) -> None:
    for _ in range(20):
        response = await client.request(Origin.parse(server.url), "GET", "/", {}, None, 5)
        assert response.status == 200
        assert response.body == b"ok"
    assert server.connections == 1
    assert client.opened == 1


async def test_repeated_headers_are_all_kept(client: HttpClient, server: ScriptedServer) -> None:
    response = await client.request(Origin.parse(server.url), "GET", "/", {}, None, 5)
    assert response.header_map()["set-cookie"] == ["a=1", "b=2"]
    assert response.header("x-server") == "scripted"


async def test_a_chunked_body_is_reassembled(client: HttpClient, server: ScriptedServer) -> None:
    response = await client.request(Origin.parse(server.url), "GET", "/chunked", {}, None, 5)
    assert response.body == b"hello world"
    assert response.keep_alive


async def test_a_body_delimited_by_close_is_read_to_the_end(client: HttpClient, server: ScriptedServer) -> None:
    response = await client.request(Origin.parse(server.url), "GET", "/until-close", {}, None, 5)
    assert response.body == b"streamed until close"
    assert not response.keep_alive


async def test_connection_close_opens_a_fresh_connection_next_time(client: HttpClient, server: ScriptedServer) -> None:
    origin = Origin.parse(server.url)
    assert (await client.request(origin, "GET", "/close", {}, None, 5)).body == b"bye"
    assert (await client.request(origin, "GET", "/", {}, None, 5)).status == 200
    assert server.connections == 2


async def test_a_stale_keep_alive_connection_is_retried_once_on_a_new_one(
    client: HttpClient, server: ScriptedServer
) -> None:
    origin = Origin.parse(server.url)
    await client.request(origin, "GET", "/", {}, None, 5)
    for connection in client._idle[origin]:
        connection._transport.close()  # type: ignore[union-attr]  # what an idle timeout on the server does
    await asyncio.sleep(0.05)
    response = await client.request(origin, "GET", "/", {}, None, 5)
    assert response.status == 200


async def test_any_status_is_a_response(client: HttpClient, server: ScriptedServer) -> None:
    origin = Origin.parse(server.url)
    assert (await client.request(origin, "GET", "/status/503", {}, None, 5)).status == 503
    no_content = await client.request(origin, "GET", "/no-content", {}, None, 5)
    assert (no_content.status, no_content.body) == (204, b"")
    assert (await client.request(origin, "HEAD", "/", {}, None, 5)).status == 200


async def test_the_timeout_is_enforced_on_a_server_that_never_answers(
    client: HttpClient, server: ScriptedServer
) -> None:
    started = time.monotonic()
    with pytest.raises(HttpTimeout, match="no complete response within 200 ms"):
        await client.request(Origin.parse(server.url), "GET", "/silence", {}, None, 0.2)
    assert time.monotonic() - started < 2


async def test_a_reset_and_a_truncated_body_are_transport_errors(client: HttpClient, server: ScriptedServer) -> None:
    origin = Origin.parse(server.url)
    with pytest.raises(ConnectionDropped):
        await client.request(origin, "GET", "/reset", {}, None, 5)
    with pytest.raises(HttpProtocolError, match="closed mid-response"):
        await client.request(origin, "GET", "/half", {}, None, 5)
    assert (await client.request(origin, "GET", "/", {}, None, 5)).status == 200, "the client keeps working"


async def test_a_refused_connection_is_a_connect_error(client: HttpClient) -> None:
    with pytest.raises(HttpConnectError, match=r"cannot connect to 127\.0\.0\.1"):
        await client.request(Origin.parse(f"http://127.0.0.1:{free_port()}"), "GET", "/", {}, None, 5)


async def test_request_framing_headers_and_bodies_reach_the_server(client: HttpClient, server: ScriptedServer) -> None:
    response = await client.request(
        Origin.parse(server.url + "/api"),
        "POST",
        "/api/echo",
        {"X-Correlation-Id": "c-1", "Content-Length": "999"},
        b'{"a":1}',
        5,
    )
    echoed = response.body
    assert echoed.startswith(b"POST /api/echo HTTP/1.1\r\n")
    assert b"X-Correlation-Id: c-1\r\n" in echoed
    assert b"Content-Length: 7\r\n" in echoed, "we frame the body ourselves"
    assert echoed.endswith(b'{"a":1}')
    assert f"Host: 127.0.0.1:{server.port}".encode() in echoed


async def test_a_large_body_arrives_whole(client: HttpClient, server: ScriptedServer) -> None:
    response = await client.request(Origin.parse(server.url), "GET", "/big", {}, None, 5)
    assert len(response.body) == 1_000_000


async def test_a_header_with_a_line_break_is_refused(client: HttpClient, server: ScriptedServer) -> None:
    with pytest.raises(ValueError, match="contains a line break"):
        await client.request(Origin.parse(server.url), "GET", "/", {"X-Evil": "a\r\nInjected: 1"}, None, 5)


async def test_a_long_timeout_is_enforced_by_the_shared_sweep_within_its_granularity(
    client: HttpClient, server: ScriptedServer
) -> None:
    started = time.monotonic()
    with pytest.raises(HttpTimeout, match="no complete response within 300 ms"):
        await client.request(Origin.parse(server.url), "GET", "/silence", {}, None, 0.3)
    elapsed = time.monotonic() - started
    assert 0.29 <= elapsed < 0.5, f"took {elapsed:.3f}s"
    assert (await client.request(Origin.parse(server.url), "GET", "/", {}, None, 0.3)).status == 200


async def test_a_connection_busy_when_the_client_closes_is_closed_when_its_request_ends(
    client: HttpClient, server: ScriptedServer
) -> None:
    """A config change replaces the worker's client while requests are in flight: they finish, and
    their connections must then be closed, not parked in the closed client's idle pool (a leak)."""
    busy = asyncio.create_task(_get(client, server, "/slow"))

    async def sent() -> bool:
        return any(r.startswith(b"GET /slow ") for r in server.requests)

    await eventually(sent, timeout=5, what="the slow request at the server")
    client.close()
    response = await busy
    assert response.status == 200
    assert client.idle_connections() == 0
    await _get(client, server, "/")
    assert (client.opened, server.connections) == (2, 2), "the busy connection was not reused"


async def test_a_request_cancelled_in_flight_aborts_its_connection(client: HttpClient, server: ScriptedServer) -> None:
    """A stopping worker cancels its requests; their connections are mid-exchange and must be closed,
    not left open until garbage collection."""
    busy = asyncio.create_task(_get(client, server, "/slow"))

    async def sent() -> bool:
        return any(r.startswith(b"GET /slow ") for r in server.requests)

    await eventually(sent, timeout=5, what="the slow request at the server")
    busy.cancel()
    with pytest.raises(asyncio.CancelledError):
        await busy
    assert client.idle_connections() == 0

    async def hung_up() -> bool:
        return server.hung_up == 1

    await eventually(hung_up, timeout=5, what="the server to see the connection closed")


def test_a_name_that_does_not_resolve_is_a_dns_error_and_leaves_no_unretrieved_futures(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Under uvloop (as workers run), a connect timed out mid-lookup used to leave the lookup's failure
    unretrieved: asyncio logged "Future exception was never retrieved" for every attempt."""
    import gc

    import uvloop

    async def unknown_name(loop: asyncio.AbstractEventLoop, host: str, port: int) -> list[Any]:
        await asyncio.sleep(0.002)  # a lookup takes a while: a connect timeout can fall in the middle of it
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    async def attempts() -> list[str]:
        kinds = []
        for connect_timeout in (5.0, 0.0005):  # the lookup's own failure, then a timeout in the middle of it
            http = HttpClient(connect_timeout=connect_timeout)
            nowhere = Origin.parse("http://nothing.invalid:8080")
            for result in await asyncio.gather(
                *(http.request(nowhere, "GET", "/", {}, None, 5) for _ in range(20)), return_exceptions=True
            ):
                kinds.append(type(result).__name__)
            http.close()

        async def only_this_task_left() -> bool:
            return len(asyncio.all_tasks()) == 1

        await eventually(only_this_task_left, timeout=10, interval=0.05, what="lookups that outlived their timeout")
        return kinds

    monkeypatch.setitem(RESOLVER, "getaddrinfo", unknown_name)  # no DNS query leaves the machine
    with caplog.at_level(logging.ERROR, logger="asyncio"):
        kinds = uvloop.run(attempts())
        gc.collect()
    assert set(kinds[:20]) == {"HttpNameError"}, kinds[:20]  # kind "dns", a subclass of HttpConnectError
    assert set(kinds[20:]) <= {"HttpNameError", "HttpTimeout"}, kinds[20:]
    assert [r.getMessage() for r in caplog.records if r.name == "asyncio"] == []
