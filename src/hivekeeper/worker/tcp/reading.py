"""How each TCP behaviour reads its reply from an asyncio stream, with ``max_bytes`` a hard cap on what is held.

Every reader returns ``(reply, clean)``: ``clean`` says the stream is exactly at the end of the reply, so the
connection may carry the next call. A reply followed by bytes nobody asked for (a second message, a longer
stream) is not clean: those bytes would be read as the next call's reply, so the connection is closed instead.
Failures raise :class:`~hivekeeper.worker.tcp_port.TcpError` subclasses; the caller closes the connection.
Deadlines are the caller's (``asyncio.timeout_at`` around these); STREAMING alone turns its read bound into the
end of its reply (``stream_until``).
"""

from __future__ import annotations

import asyncio

from hivekeeper.worker.tcp_port import TcpCall, TcpClosed, TcpEchoMismatch, TcpFrameTooLarge, TcpTooLarge

CHUNK = 64 * 1024
"""Bytes asked of the stream per read (less when the cap is nearer)."""


def pending(reader: asyncio.StreamReader) -> bool:
    """Whether bytes nobody read sit in the stream's buffer (StreamReader has no public way to ask)."""
    return bool(getattr(reader, "_buffer", b""))


async def until_tag(reader: asyncio.StreamReader, call: TcpCall) -> tuple[bytes, bool]:
    """REQUEST_RESPONSE: bytes up to and including the end tag; at most ``max_bytes`` of them."""
    tag, cap = call.end_tag, call.max_bytes
    buffer = bytearray()
    while True:
        start = max(0, len(buffer) - len(tag) + 1)
        room = cap - len(buffer)
        if room <= 0:
            too_large = TcpTooLarge(
                f"no end tag {tag!r} within the first {cap:,} bytes of the reply (maxBytes); the reply was "
                "discarded and the connection closed"
            )
            too_large.received = len(buffer)
            raise too_large
        chunk = await reader.read(min(CHUNK, room))
        if not chunk:
            error = TcpClosed(
                f"the server closed the connection after {len(buffer):,} bytes, before the end tag {tag!r}"
            )
            error.received = len(buffer)
            raise error
        buffer += chunk
        found = buffer.find(tag, start)
        if found >= 0:
            end = found + len(tag)
            return bytes(buffer[:end]), end == len(buffer) and not pending(reader)


async def echo(reader: asyncio.StreamReader, call: TcpCall) -> tuple[bytes, bool]:
    """ECHO: exactly as many bytes as were written; a difference is :class:`TcpEchoMismatch`."""
    data = await exactly(reader, len(call.payload), "the echo")
    if data != call.payload:
        raise TcpEchoMismatch(
            f"the echo differs from the {len(call.payload):,} bytes written (first difference at byte "
            f"{next(i for i, (a, b) in enumerate(zip(data, call.payload, strict=True)) if a != b)})"
        )
    return data, not pending(reader)


async def length_prefixed(reader: asyncio.StreamReader, call: TcpCall) -> tuple[bytes, bool]:
    """LENGTH_PREFIX_2B: a two-byte big-endian length, then that many bytes (the frame's body is returned)."""
    size = int.from_bytes(await exactly(reader, 2, "the length prefix"), "big")
    if size > call.max_bytes:
        raise TcpFrameTooLarge(
            f"the length prefix announces a {size:,}-byte frame, over maxBytes {call.max_bytes:,}; it was not read "
            "and the connection was closed"
        )
    return await exactly(reader, size, f"the {size:,}-byte frame"), not pending(reader)


async def stream_until(reader: asyncio.StreamReader, call: TcpCall, deadline: float) -> tuple[bytes, bool]:
    """STREAMING: what arrives until ``max_bytes`` did, the server closed, or ``deadline`` (loop time) passed.

    Never clean: where a stream ends is not known, so its connection is not reused."""
    buffer = bytearray()
    try:
        async with asyncio.timeout_at(deadline):
            while len(buffer) < call.max_bytes:
                chunk = await reader.read(min(CHUNK, call.max_bytes - len(buffer)))
                if not chunk:
                    break
                buffer += chunk
    except TimeoutError:
        if not buffer:
            raise
    return bytes(buffer), False


async def exactly(reader: asyncio.StreamReader, size: int, what: str) -> bytes:
    try:
        return await reader.readexactly(size)
    except asyncio.IncompleteReadError as exc:
        error = TcpClosed(
            f"the server closed the connection after {len(exc.partial):,} of the {size:,} bytes of {what}"
        )
        error.received = len(exc.partial)
        raise error from exc


def check_echo_fits(call: TcpCall) -> None:
    """An ECHO of more than ``max_bytes`` is refused before it is sent (its reply would break the cap)."""
    if call.behavior == "ECHO" and len(call.payload) > call.max_bytes:
        raise TcpTooLarge(
            f"the echo of a {len(call.payload):,}-byte request would exceed maxBytes {call.max_bytes:,}; raise "
            "maxBytes or send less"
        )
