"""How each TCP behaviour reads a reply from a stream (fed by hand: no sockets), the cap on what it holds, when a
connection is left clean enough to reuse, and what a tcp:// URL may be."""

from __future__ import annotations

import asyncio

import pytest

from hivekeeper.worker.tcp import reading
from hivekeeper.worker.tcp_port import (
    TcpCall,
    TcpClosed,
    TcpEchoMismatch,
    TcpEndpoint,
    TcpEndpointError,
    TcpFrameError,
    TcpFrameTooLarge,
    TcpTooLarge,
    frame,
)


def _stream(*chunks: bytes, eof: bool = False) -> asyncio.StreamReader:
    reader = asyncio.StreamReader()
    for chunk in chunks:
        reader.feed_data(chunk)
    if eof:
        reader.feed_eof()
    return reader


LINE = TcpCall("REQUEST_RESPONSE", b"x", 64, b"\r\n")


async def test_an_end_tag_split_across_reads_ends_the_reply_and_leaves_the_stream_clean() -> None:
    reader = _stream(b"ACK 12\r")
    reading_task = asyncio.ensure_future(reading.until_tag(reader, LINE))
    await asyncio.sleep(0)
    reader.feed_data(b"\n")
    assert await reading_task == (b"ACK 12\r\n", True)


async def test_bytes_after_the_end_tag_make_the_connection_unfit_for_reuse() -> None:
    assert await reading.until_tag(_stream(b"one\r\ntwo\r\n"), LINE) == (b"one\r\n", False)


async def test_no_end_tag_within_max_bytes_is_too_large_and_never_more_than_the_cap_is_held() -> None:
    with pytest.raises(TcpTooLarge) as raised:
        await reading.until_tag(_stream(b"x" * 1000), LINE)
    assert raised.value.received == 64
    assert raised.value.limit == "maxBytes"


async def test_a_reply_closed_before_its_end_tag_is_closed() -> None:
    with pytest.raises(TcpClosed, match="after 4 bytes, before the end tag"):
        await reading.until_tag(_stream(b"half", eof=True), LINE)


async def test_a_length_prefixed_frame_is_read_whole_and_its_body_returned() -> None:
    call = TcpCall("LENGTH_PREFIX_2B", b"0200", 64)
    assert call.wire() == b"\x00\x040200"
    assert await reading.length_prefixed(_stream(frame(b"0210")), call) == (b"0210", True)


async def test_a_length_prefix_over_max_bytes_is_refused_before_the_frame_is_read() -> None:
    with pytest.raises(TcpFrameTooLarge, match="65,535-byte frame, over maxBytes 64"):
        await reading.length_prefixed(_stream(b"\xff\xff" + b"x" * 10), TcpCall("LENGTH_PREFIX_2B", b"", 64))


async def test_a_frame_cut_short_by_a_close_is_closed() -> None:
    with pytest.raises(TcpClosed, match="after 3 of the 10 bytes"):
        await reading.length_prefixed(_stream(b"\x00\x0aabc", eof=True), TcpCall("LENGTH_PREFIX_2B", b"", 64))


def test_a_body_over_65535_bytes_cannot_be_length_prefixed() -> None:
    with pytest.raises(TcpFrameError, match="two-byte length prefix"):
        frame(b"x" * 65536)


async def test_an_echo_must_match_what_was_written() -> None:
    call = TcpCall("ECHO", b"abcd", 64)
    assert await reading.echo(_stream(b"abcd"), call) == (b"abcd", True)
    with pytest.raises(TcpEchoMismatch, match="first difference at byte 2"):
        await reading.echo(_stream(b"abXd"), call)
    with pytest.raises(TcpTooLarge):
        reading.check_echo_fits(TcpCall("ECHO", b"x" * 65, 64))


async def test_a_stream_ends_at_max_bytes_or_at_its_deadline_and_is_never_clean() -> None:
    call = TcpCall("STREAMING", b"", 5)
    loop = asyncio.get_running_loop()
    assert await reading.stream_until(_stream(b"0123456789"), call, loop.time() + 1) == (b"01234", False)
    assert await reading.stream_until(_stream(b"012"), call, loop.time() + 0.05) == (b"012", False)
    with pytest.raises(TimeoutError):
        await reading.stream_until(_stream(), call, loop.time() + 0.05)


@pytest.mark.parametrize(
    ("url", "endpoint"),
    [
        ("tcp://switch:9000", TcpEndpoint("switch", 9000)),
        ("tcps://10.0.0.1:9443/", TcpEndpoint("10.0.0.1", 9443, True)),
    ],
)
def test_a_tcp_url_names_host_port_and_tls(url: str, endpoint: TcpEndpoint) -> None:
    assert TcpEndpoint.parse(url) == endpoint


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("tcp://switch", "no port"),
        ("tcp://switch:99999", "invalid port"),
        ("tcp://:9000", "no host"),
        ("tcp://switch:9000/path", "no path"),
        ("udp://switch:9000", "tcp:// or tcps://"),
    ],
)
def test_a_tcp_url_the_client_cannot_use_is_refused_naming_the_fix(url: str, problem: str) -> None:
    with pytest.raises(TcpEndpointError, match=problem):
        TcpEndpoint.parse(url)
