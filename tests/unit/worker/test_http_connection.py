"""The HTTP/1.1 connection's response state machine, fed bytes directly (no socket): informational
responses, the body limit, the head limit, stray bytes, the timeout's message; and which methods may
be retried."""

from __future__ import annotations

import asyncio

import pytest

from hivekeeper.worker.http.connection import MAX_HEAD_BYTES, HeaderlessConnection, HttpConnection, TurnWrites
from hivekeeper.worker.http_port import IDEMPOTENT, HttpProtocolError, HttpTimeout, Response, is_idempotent

HINTS = b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n"
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
FINAL = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-Final: yes\r\n\r\nhello"


class FakeTransport:
    """What the connection writes and whether it closed the transport."""

    def __init__(self) -> None:
        self.written: list[bytes] = []
        self.closed = False
        self.aborted = False

    def write(self, data: bytes) -> None:
        self.written.append(data)

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.aborted = True

    def is_closing(self) -> bool:
        return self.closed or self.aborted


def _open(kind: type[HttpConnection] = HttpConnection) -> tuple[HttpConnection, FakeTransport]:
    connection = kind(asyncio.get_running_loop())
    transport = FakeTransport()
    connection.connection_made(transport)  # type: ignore[arg-type]
    return connection, transport


def _send(connection: HttpConnection, limit: int = 1 << 20, *, head: bool = False) -> asyncio.Future[Response]:
    loop = asyncio.get_running_loop()
    return connection.send(b"GET / HTTP/1.1\r\n\r\n", loop.time() + 60, 60, limit, head)


def _feed(connection: HttpConnection, data: bytes, piece: int) -> None:
    for start in range(0, len(data), piece):
        connection.data_received(data[start : start + piece])


# -- writes of one loop turn ------------------------------------------------------------------------
async def test_requests_sent_in_one_loop_turn_are_written_together_after_it_and_a_closed_one_is_skipped() -> None:
    loop = asyncio.get_running_loop()
    writes = TurnWrites(loop)
    opened = []
    for _ in range(3):
        connection = HttpConnection(loop, writes=writes)
        transport = FakeTransport()
        connection.connection_made(transport)  # type: ignore[arg-type]
        opened.append((connection, transport))
    order: list[int] = []
    for index, (connection, transport) in enumerate(opened):
        transport.write = lambda data, index=index: order.append(index)  # type: ignore[method-assign]
        _send(connection)
    assert order == [], "nothing is written before the turn ends"
    opened[1][1].closed = True  # closed before the end of the turn: its request is not written
    await asyncio.sleep(0)
    assert order == [0, 2]


# -- informational responses --------------------------------------------------------------------------
async def test_the_final_response_after_informational_ones_is_the_answer_wherever_the_reads_split() -> None:
    stream = CONTINUE + HINTS + FINAL
    for split in range(1, len(stream)):
        connection, _ = _open()
        answer = _send(connection)
        connection.data_received(stream[:split])
        connection.data_received(stream[split:])
        response = answer.result()
        assert (response.status, response.body) == (200, b"hello"), f"split at {split}"
        assert response.header_map() == {"content-length": ["5"], "x-final": ["yes"]}, f"split at {split}"


async def test_a_header_less_connection_skips_informational_responses_too() -> None:
    connection, _ = _open(HeaderlessConnection)
    answer = _send(connection)
    _feed(connection, HINTS + FINAL, 3)
    assert (answer.result().status, answer.result().body) == (200, b"hello")


async def test_101_switching_protocols_is_a_protocol_error() -> None:
    connection, transport = _open()
    answer = _send(connection)
    connection.data_received(b"HTTP/1.1 101 Switching Protocols\r\n\r\n")
    with pytest.raises(HttpProtocolError, match="switched protocols"):
        answer.result()
    assert transport.aborted


async def test_the_answer_s_headers_are_its_own_after_the_next_request_starts() -> None:
    connection, _ = _open()
    first = _send(connection)
    connection.data_received(FINAL)
    second = _send(connection)
    connection.data_received(b"HTTP/1.1 204 No Content\r\nX-Second: 1\r\n\r\n")
    assert first.result().header_map() == {"content-length": ["5"], "x-final": ["yes"]}
    assert second.result().header_map() == {"x-second": ["1"]}


# -- stray bytes ---------------------------------------------------------------------------------------
async def test_bytes_that_arrive_with_no_request_in_flight_abort_the_connection() -> None:
    connection, transport = _open()
    answer = _send(connection)
    connection.data_received(FINAL)
    assert answer.result().status == 200
    connection.data_received(FINAL)  # an answer nobody asked for
    assert transport.aborted
    assert connection.closed


async def test_a_second_answer_in_the_same_read_aborts_the_connection_and_spares_the_first() -> None:
    connection, transport = _open()
    answer = _send(connection)
    connection.data_received(FINAL + FINAL.replace(b"X-Final", b"X-Stray"))
    response = answer.result()
    assert (response.status, response.header("x-stray")) == (200, None)
    assert transport.aborted
    assert connection.closed


async def test_a_head_answer_leaves_a_fresh_parser_for_the_next_request() -> None:
    connection, _ = _open()
    head = _send(connection, head=True)
    connection.data_received(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n")
    assert (head.result().status, head.result().body) == (200, b"")
    following = _send(connection)
    connection.data_received(FINAL)
    assert following.result().body == b"hello"


# -- bounds --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("limit", [0, 1, 100, 9_999, 10_000, 20_000])
@pytest.mark.parametrize("piece", [7, 4096])
async def test_body_bytes_beyond_the_limit_are_counted_and_dropped(limit: int, piece: int) -> None:
    body = bytes(range(256)) * 40  # 10,240 bytes
    connection, transport = _open()
    answer = _send(connection, limit)
    _feed(connection, b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body), piece)
    response = answer.result()
    assert response.body == body[:limit]
    assert response.body_bytes == len(body)
    assert response.truncated is (limit < len(body))
    assert (response.keep_alive, transport.closed) == (True, False), "the framed body was read to its end"


async def test_a_chunked_body_is_cut_at_the_limit_across_chunks() -> None:
    connection, _ = _open()
    answer = _send(connection, 8)
    connection.data_received(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
    )
    response = answer.result()
    assert (response.body, response.body_bytes, response.truncated) == (b"hello wo", 11, True)


async def test_a_head_longer_than_the_head_limit_fails_the_request() -> None:
    connection, transport = _open()
    answer = _send(connection)
    connection.data_received(b"HTTP/1.1 200 OK\r\nX-Endless: ")
    piece = b"a" * 65536
    for _ in range(MAX_HEAD_BYTES // len(piece) + 1):
        if answer.done():
            break
        connection.data_received(piece)
    with pytest.raises(HttpProtocolError, match=f"response head exceeded {MAX_HEAD_BYTES:,} bytes"):
        answer.result()
    assert transport.aborted


@pytest.mark.parametrize(
    ("received", "expected", "truncated"),
    [
        (b"", "no response byte arrived", False),
        (b"HTTP/1.1 200 OK\r\nContent-", "the response headers had not ended", False),
        (
            b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n" + b"x" * 30,
            "status 200 arrived, but its body had not ended after 30 bytes (only the first 10 were kept, "
            "maxResponseBytes)",
            True,
        ),
        (
            b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n" + b"x" * 3,
            "status 200 arrived, but its body had not ended after 3 bytes",
            False,
        ),
    ],
    ids=["silence", "in the head", "in a long body", "in a trickle"],
)
async def test_a_timeout_says_how_far_the_response_got(received: bytes, expected: str, truncated: bool) -> None:
    connection, transport = _open()
    answer = _send(connection, 10)
    if received:
        connection.data_received(received)
    connection.expire()
    with pytest.raises(HttpTimeout) as failure:
        answer.result()
    assert str(failure.value) == (
        f"no complete response within 60000 ms (the whole-request deadline, timeoutMs): {expected}"
    )
    assert failure.value.truncated is truncated
    assert transport.aborted


# -- retries -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("method", ["GET", "HEAD", "PUT", "DELETE", "OPTIONS", "TRACE"])
def test_rfc_9110_idempotent_methods_may_be_retried(method: str) -> None:
    assert is_idempotent(method)


@pytest.mark.parametrize("method", ["POST", "PATCH", "CONNECT", "PROPFIND", "get", ""])
def test_every_other_method_is_never_retried_automatically(method: str) -> None:
    assert not is_idempotent(method)
    assert method not in IDEMPOTENT
