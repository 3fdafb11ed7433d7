"""The TCP client against the TCP demo SUT on loopback: every behaviour, the pool, TLS with a generated
certificate, connect retries, one deadline, and each bad reply (no end tag, too large, closed mid-frame, a length
prefix over the cap) failing with its own kind while the next call on the same endpoint succeeds."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from hivekeeper.local.demo_tcp import BIG_ANSWER, TcpDemo
from hivekeeper.worker.tcp.client import TcpClient
from hivekeeper.worker.tcp_port import (
    TcpCall,
    TcpClosed,
    TcpConnectError,
    TcpEndpoint,
    TcpError,
    TcpFrameTooLarge,
    TcpSettings,
    TcpTimeout,
    TcpTooLarge,
)
from testbench.tcp_sut import tcp_sut

pytestmark = pytest.mark.integration

FAST = TcpSettings(connect_timeout=1.0, read_timeout=1.0)
SLACK = 0.3
"""What a deadline may overrun by on a busy two-core machine."""


@pytest.fixture
async def client() -> AsyncIterator[TcpClient]:
    tcp = TcpClient()
    yield tcp
    tcp.close()


def _line(text: str, max_bytes: int = 8192) -> TcpCall:
    return TcpCall("REQUEST_RESPONSE", text.encode() + b"\n", max_bytes, b"\n")


def _iso(text: str, max_bytes: int = 8192) -> TcpCall:
    return TcpCall("LENGTH_PREFIX_2B", text.encode(), max_bytes)


async def test_request_response_reads_up_to_the_end_tag_and_reuses_the_connection(client: TcpClient) -> None:
    async with tcp_sut(TcpDemo("end-tag")) as sut:
        endpoint = TcpEndpoint.parse(sut.url)
        first = await client.send(endpoint, _line("hello"), 2.0, FAST)
        second = await client.send(endpoint, _line("again"), 2.0, FAST)
    assert (first.data, second.data) == (b"ACK hello\n", b"ACK again\n")
    assert (first.reused, second.reused) == (False, True)
    assert client.opened == 1, "one connection carried both calls"
    assert first.connect_seconds > 0
    assert second.connect_seconds == 0


async def test_length_prefix_frames_the_request_and_reads_one_frame(client: TcpClient) -> None:
    async with tcp_sut(TcpDemo("length-prefix")) as sut:
        reply = await client.send(TcpEndpoint.parse(sut.url), _iso("0200CARD=42"), 2.0, FAST)
    assert reply.data == b"0210CARD=42", "the frame's body, without its prefix: the ISO 8583 response type"


async def test_echo_reads_back_what_it_wrote(client: TcpClient) -> None:
    async with tcp_sut(TcpDemo("echo")) as sut:
        endpoint = TcpEndpoint.parse(sut.url)
        reply = await client.send(endpoint, TcpCall("ECHO", b"ping-1234", 64), 2.0, FAST)
        again = await client.send(endpoint, TcpCall("ECHO", b"ping-5678", 64), 2.0, FAST)
    assert (reply.data, again.data) == (b"ping-1234", b"ping-5678")
    assert client.opened == 1


async def test_streaming_ends_at_max_bytes_and_its_connection_is_not_reused(client: TcpClient) -> None:
    async with tcp_sut(TcpDemo("echo")) as sut:
        endpoint = TcpEndpoint.parse(sut.url)
        reply = await client.send(endpoint, TcpCall("STREAMING", b"0123456789", 4), 2.0, FAST)
        assert reply.data == b"0123"
        assert client.idle_connections() == 0, "where a stream ends is unknown: its connection is closed"


async def test_streaming_ends_at_the_read_timeout_with_what_arrived(client: TcpClient) -> None:
    async with tcp_sut(TcpDemo("echo")) as sut:
        settings = TcpSettings(read_timeout=0.3)
        started = time.monotonic()
        reply = await client.send(TcpEndpoint.parse(sut.url), TcpCall("STREAMING", b"abc", 1024), 5.0, settings)
    assert reply.data == b"abc"
    assert 0.3 <= time.monotonic() - started < 0.3 + SLACK


async def test_fire_forget_writes_and_reads_nothing(client: TcpClient) -> None:
    async with tcp_sut(TcpDemo("sink")) as sut:
        endpoint = TcpEndpoint.parse(sut.url)
        replies = [await client.send(endpoint, TcpCall("FIRE_FORGET", b"event\n", 64), 2.0, FAST) for _ in range(3)]
    assert [r.data for r in replies] == [b"", b"", b""]
    assert client.opened == 1


BAD_END_TAG = [
    ("NO-END", TcpTimeout, "tcp-timeout"),
    ("TOO-BIG", TcpTooLarge, "tcp-too-large"),
    ("CLOSE-MID", TcpClosed, "tcp-closed"),
]


@pytest.mark.parametrize(("word", "error", "kind"), BAD_END_TAG)
async def test_a_bad_end_tag_reply_fails_with_its_kind_and_the_next_call_succeeds(
    client: TcpClient, word: str, error: type[TcpError], kind: str
) -> None:
    async with tcp_sut(TcpDemo("end-tag")) as sut:
        endpoint = TcpEndpoint.parse(sut.url)
        await client.send(endpoint, _line("warm"), 2.0, FAST)
        with pytest.raises(error) as raised:
            await client.send(endpoint, _line(word, max_bytes=4096), 2.0, TcpSettings(read_timeout=0.3))
        assert raised.value.kind == kind
        assert raised.value.received <= 4096, "never more than maxBytes held"
        assert client.idle_connections() == 0, "the failed connection is not back in the pool"
        assert (await client.send(endpoint, _line("next"), 2.0, FAST)).data == b"ACK next\n"
    assert BIG_ANSWER > 4096


BAD_FRAMES = [
    ("NO-END", TcpTimeout, "tcp-timeout"),
    ("BIG-FRAME", TcpFrameTooLarge, "tcp-frame-too-large"),
    ("CLOSE-MID", TcpClosed, "tcp-closed"),
]


@pytest.mark.parametrize(("word", "error", "kind"), BAD_FRAMES)
async def test_a_bad_frame_fails_with_its_kind_and_the_next_call_succeeds(
    client: TcpClient, word: str, error: type[TcpError], kind: str
) -> None:
    async with tcp_sut(TcpDemo("length-prefix")) as sut:
        endpoint = TcpEndpoint.parse(sut.url)
        with pytest.raises(error) as raised:
            await client.send(endpoint, _iso(f"0200{word}", max_bytes=1024), 2.0, TcpSettings(read_timeout=0.3))
        assert raised.value.kind == kind
        assert client.idle_connections() == 0
        assert (await client.send(endpoint, _iso("0200OK"), 2.0, FAST)).data == b"0210OK"


async def test_the_whole_call_deadline_bounds_a_slow_server(client: TcpClient) -> None:
    async with tcp_sut(TcpDemo("end-tag", delay=2.0)) as sut:
        started = time.monotonic()
        with pytest.raises(TcpTimeout, match="whole-call deadline"):
            await client.send(TcpEndpoint.parse(sut.url), _line("slow"), 0.4, TcpSettings())
    assert time.monotonic() - started < 0.4 + SLACK


async def test_a_refused_connect_is_retried_max_retries_times_then_fails(client: TcpClient) -> None:
    async with tcp_sut(TcpDemo("end-tag")) as sut:
        port = sut.port
    # the port was just freed: nothing listens there now
    started = time.monotonic()
    with pytest.raises(TcpConnectError, match="3 attempts"):
        await client.send(TcpEndpoint("127.0.0.1", port), _line("x"), 5.0, TcpSettings(max_retries=2))
    assert 0.3 <= time.monotonic() - started < 0.3 + SLACK, "100 ms then 200 ms between the attempts"


async def test_a_connect_retry_reaches_a_server_that_started_late(client: TcpClient) -> None:
    async with tcp_sut(TcpDemo("end-tag")) as sut:
        port = sut.port
    demo = TcpDemo("end-tag")
    from hivekeeper.local.demo_tcp import serve

    async def start_late() -> asyncio.Server:
        await asyncio.sleep(0.05)
        return await serve("127.0.0.1", port, demo)

    starting = asyncio.create_task(start_late())
    reply = await client.send(TcpEndpoint("127.0.0.1", port), _line("late"), 5.0, TcpSettings(max_retries=3))
    server = await starting
    server.close()
    assert reply.data == b"ACK late\n"


async def test_tcps_verifies_the_server_against_the_given_ca(client: TcpClient, tmp_path: Path) -> None:
    async with tcp_sut(TcpDemo("end-tag"), tls_dir=tmp_path) as sut:
        endpoint = TcpEndpoint.parse(sut.url)
        assert endpoint.tls
        trusted = TcpSettings(ca_file=str(sut.ca_file))
        assert (await client.send(endpoint, _line("secure"), 3.0, trusted)).data == b"ACK secure\n"
        assert (await client.send(endpoint, _line("again"), 3.0, trusted)).reused
        with pytest.raises(TcpConnectError, match="TLS handshake"):
            await client.send(endpoint, _line("unknown CA"), 3.0, TcpSettings())
        unverified = TcpSettings(ssl_verify=False)
        assert (await client.send(endpoint, _line("test only"), 3.0, unverified)).data == b"ACK test only\n"
