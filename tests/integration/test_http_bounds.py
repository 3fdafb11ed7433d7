"""The HTTP client against hostile servers on loopback: bodies bounded by maxResponseBytes, one deadline
for the whole request, informational (1xx) responses skipped, no automatic retry of unsafe methods."""

from __future__ import annotations

import ssl
import time
import tracemalloc
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from hivekeeper.worker.http.client import DroppedNotRetried, HttpClient
from hivekeeper.worker.http.connection import MAX_HEAD_BYTES
from hivekeeper.worker.http_port import HttpProtocolError, HttpTimeout, Origin, Response
from testbench.pki import make_pki
from testbench.scripted_http import (
    DROP_SLOWLY_SECONDS,
    HUGE_BYTES,
    TRICKLE_SECONDS,
    ScriptedServer,
    scripted_server,
)
from testbench.waiting import eventually

pytestmark = pytest.mark.integration

LIMIT = 64 * 1024
SLACK = 0.15
"""What a deadline may overrun by on a busy two-core machine: the 10 ms sweep plus scheduling."""


@pytest.fixture
async def server() -> AsyncIterator[ScriptedServer]:
    async with scripted_server() as running:
        yield running


@pytest.fixture
async def client() -> AsyncIterator[HttpClient]:
    http = HttpClient()
    yield http
    http.close()


@pytest.fixture
def traced() -> Iterator[None]:
    """Python allocations are traced (bytes read off a socket included) so a test can read the peak."""
    tracemalloc.start()
    yield
    tracemalloc.stop()


def _peak_since_reset() -> int:
    return tracemalloc.get_traced_memory()[1]


async def _get(client: HttpClient, server: ScriptedServer, path: str, timeout: float = 5.0) -> Response:
    return await client.request(Origin.parse(server.url), "GET", path, {}, None, timeout, limit=LIMIT)


# -- bounded bodies ---------------------------------------------------------------------------------------
@pytest.mark.usefixtures("traced")
async def test_a_huge_body_is_read_to_its_end_keeping_only_the_limit_and_the_connection_is_reused(
    client: HttpClient, server: ScriptedServer
) -> None:
    tracemalloc.reset_peak()
    response = await _get(client, server, "/huge")
    peak = _peak_since_reset()
    assert (response.status, len(response.body), response.body_bytes) == (200, LIMIT, HUGE_BYTES)
    assert response.truncated
    assert response.body == b"h" * LIMIT
    assert peak < 8 * 1024 * 1024, f"{peak:,} bytes allocated at the peak for a {HUGE_BYTES:,}-byte body"
    after = await _get(client, server, "/")
    assert (after.status, after.body) == (200, b"ok"), "the framed body was read to its end"
    assert (client.opened, server.connections) == (1, 1)


@pytest.mark.usefixtures("traced")
async def test_an_endless_body_ends_at_the_deadline_with_memory_bounded_and_the_connection_closed(
    client: HttpClient, server: ScriptedServer
) -> None:
    tracemalloc.reset_peak()
    started = time.monotonic()
    with pytest.raises(HttpTimeout) as failure:
        await _get(client, server, "/endless", timeout=0.5)
    elapsed = time.monotonic() - started
    peak = _peak_since_reset()
    message = str(failure.value)
    assert message.startswith("no complete response within 500 ms (the whole-request deadline, timeoutMs)")
    assert f"only the first {LIMIT:,} were kept, maxResponseBytes" in message
    assert failure.value.truncated
    assert 0.5 <= elapsed < 0.5 + SLACK, f"took {elapsed:.3f}s"
    assert peak < 8 * 1024 * 1024, f"{peak:,} bytes allocated at the peak"
    assert client.idle_connections() == 0

    async def server_saw_the_close() -> bool:
        return server.hung_up == 1

    await eventually(server_saw_the_close, timeout=5, interval=0.02, what="the server to see the connection closed")


async def test_a_trickling_body_is_cut_off_by_the_deadline(client: HttpClient, server: ScriptedServer) -> None:
    started = time.monotonic()
    with pytest.raises(HttpTimeout, match=r"status 200 arrived, but its body had not ended after \d+ bytes$"):
        await _get(client, server, "/trickle", timeout=0.5)
    elapsed = time.monotonic() - started
    assert 0.5 <= elapsed < 0.5 + SLACK, f"took {elapsed:.3f}s (one byte every {TRICKLE_SECONDS}s)"


async def test_an_endless_header_is_refused_at_the_head_limit(client: HttpClient, server: ScriptedServer) -> None:
    started = time.monotonic()
    with pytest.raises(HttpProtocolError, match=f"response head exceeded {MAX_HEAD_BYTES:,} bytes"):
        await _get(client, server, "/endless-header", timeout=5)
    assert time.monotonic() - started < 2, "refused at the limit, not at the deadline"


# -- informational responses ---------------------------------------------------------------------------
@pytest.mark.parametrize("path", ["/early-hints", "/early-hints-apart"], ids=["same read", "separate reads"])
async def test_early_hints_are_skipped_and_nothing_reaches_the_next_request(
    client: HttpClient, server: ScriptedServer, path: str
) -> None:
    response = await _get(client, server, path)
    assert (response.status, response.body) == (200, b"final")
    assert response.header("x-final") == "yes"
    assert response.header("link") is None, "the 103's headers are not the answer's"
    following = await _get(client, server, "/")
    assert (following.status, following.body, following.header("x-server")) == (200, b"ok", "scripted")
    assert (client.opened, server.connections) == (1, 1), "the keep-alive connection stayed in step"


async def test_100_continue_and_102_processing_before_the_answer_are_skipped(
    client: HttpClient, server: ScriptedServer
) -> None:
    origin = Origin.parse(server.url)
    response = await client.request(origin, "POST", "/continue", {}, b"{}", 5)
    assert (response.status, response.body, response.header("x-progress")) == (201, b"created", None)
    assert (await _get(client, server, "/")).body == b"ok"
    assert server.connections == 1


async def test_a_head_answer_does_not_swallow_the_next_response(client: HttpClient, server: ScriptedServer) -> None:
    """A HEAD answer announces the length of a body it does not send; the next response on the connection
    must not be read as that body."""
    origin = Origin.parse(server.url)
    head = await client.request(origin, "HEAD", "/", {}, None, 5)
    assert (head.status, head.body, head.header("content-length")) == (200, b"", "2")
    following = await _get(client, server, "/")
    assert (following.status, following.body) == (200, b"ok")
    assert server.connections == 1


async def test_an_answer_nobody_asked_for_drops_the_connection_instead_of_answering_the_next_request(
    client: HttpClient, server: ScriptedServer
) -> None:
    first = await _get(client, server, "/twice")
    assert first.body == b"first"
    following = await _get(client, server, "/")
    assert following.body == b"ok", "not the unasked second answer"
    assert (client.opened, server.connections) == (2, 2)


# -- retries ---------------------------------------------------------------------------------------------
async def test_a_post_is_not_retried_when_the_server_drops_a_reused_connection(
    client: HttpClient, server: ScriptedServer
) -> None:
    origin = Origin.parse(server.url)
    await _get(client, server, "/then-drop")
    with pytest.raises(DroppedNotRetried, match=r"POST is not idempotent \(RFC 9110 §9\.2\.2\), so it was not retried"):
        await client.request(origin, "POST", "/orders", {}, b'{"qty": 1}', 5)
    assert sum(r.startswith(b"POST /orders ") for r in server.requests) == 1, "the server got it exactly once"
    assert (server.dropped, client.opened) == (1, 1)


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
async def test_an_idempotent_request_is_retried_once_on_a_fresh_connection_when_a_reused_one_drops(
    client: HttpClient, server: ScriptedServer, method: str
) -> None:
    origin = Origin.parse(server.url)
    await _get(client, server, "/then-drop")
    response = await client.request(origin, method, "/item", {}, None, 5)
    assert (response.status, response.body) == (200, b"ok")
    assert sum(r.startswith(f"{method} /item ".encode()) for r in server.requests) == 2
    assert (server.dropped, client.opened) == (1, 2)


# -- one deadline ----------------------------------------------------------------------------------------
async def test_the_deadline_covers_a_dropped_attempt_and_its_retry(client: HttpClient, server: ScriptedServer) -> None:
    """The first attempt spends 0.3 s before the server drops it; the retry gets what is left of the
    0.6 s, not a fresh 0.6 s (which would end at ~0.9 s)."""
    await _get(client, server, "/then-drop-slowly")
    started = time.monotonic()
    with pytest.raises(HttpTimeout, match="within 600 ms \\(the whole-request deadline"):
        await _get(client, server, "/trickle", timeout=0.6)
    elapsed = time.monotonic() - started
    assert server.dropped == 1, "the first attempt was dropped, the retry timed out"
    assert DROP_SLOWLY_SECONDS < elapsed < 0.6 + SLACK, f"took {elapsed:.3f}s"


@pytest.fixture
def tls_context(tmp_path: Path) -> ssl.SSLContext:
    pki = make_pki(tmp_path / "pki")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(pki.serving_cert, pki.serving_key)
    return context


async def test_the_deadline_covers_a_slow_tls_handshake_and_the_body(tls_context: ssl.SSLContext) -> None:
    http = HttpClient(ssl_verify=False)
    try:
        async with scripted_server(tls=tls_context, handshake_delay=0.3) as slow:
            started = time.monotonic()
            with pytest.raises(HttpTimeout, match="status 200 arrived"):
                await _get(http, slow, "/trickle", timeout=0.6)
            elapsed = time.monotonic() - started
            assert 0.3 < elapsed < 0.6 + SLACK, f"took {elapsed:.3f}s: connecting and the body share one budget"

            started = time.monotonic()
            with pytest.raises(HttpTimeout, match=r"within 200 ms .*: connecting to 127\.0\.0\.1:\d+ had not finished"):
                await _get(http, slow, "/", timeout=0.2)
            assert time.monotonic() - started < 0.2 + SLACK
    finally:
        http.close()
