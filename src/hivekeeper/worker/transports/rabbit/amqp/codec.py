"""AMQP 0-9-1 frames on the hot path, encoded and decoded with ``struct`` (pure; no I/O).

pamqp is correct and complete but spends ~9 µs to marshal one publish and ~11 µs to read one
delivery (``bench/amqp_codecs.py``; this codec ~2 µs each); the work plane does both for every item.
The handful of frames that occur per item (Basic.Publish + content header + body, Basic.Ack/Nack,
Basic.Deliver, Basic.Return) are done here by hand; everything else (handshake, declarations) goes
through pamqp in ``connection``.
"""

from __future__ import annotations

import struct

from hivekeeper.errors import InvalidInput
from hivekeeper.protocol import batch as batches

FRAME_METHOD = 1
FRAME_HEADER = 2
FRAME_BODY = 3
FRAME_HEARTBEAT = 8
FRAME_END = b"\xce"
PROTOCOL_HEADER = b"AMQP\x00\x00\x09\x01"

BASIC = 60
BASIC_PUBLISH = (60, 40)
BASIC_RETURN = (60, 50)
BASIC_DELIVER = (60, 60)
BASIC_ACK = (60, 80)
BASIC_NACK = (60, 120)

_FRAME_HEAD = struct.Struct(">BHI")
_METHOD_ID = struct.Struct(">HH")
_ACK = struct.Struct(">BHIHHQB")  # a whole Basic.Ack frame minus the end octet
_HEADER_FIXED = struct.Struct(">HHQH")
_U64 = struct.Struct(">Q")
_U16 = struct.Struct(">H")
_U32 = struct.Struct(">I")
_FLAGS = struct.Struct(">H")
_I32 = struct.Struct(">i")

HEARTBEAT_FRAME = _FRAME_HEAD.pack(FRAME_HEARTBEAT, 0, 0) + FRAME_END

# Content properties we send: content-type (bit 15), headers (bit 13, batches only) and delivery-mode (bit 12),
# in that order.
_FLAG_CONTENT_TYPE = 0x8000
_FLAG_HEADERS = 0x2000
_FLAG_DELIVERY_MODE = 0x1000
_BATCH_KEY = bytes((len(batches.BATCH_HEADER),)) + batches.BATCH_HEADER.encode() + b"I"
"""The one entry of a batch's header table, up to its value: ``hivekeeper-batch``, a signed 32-bit integer."""


class CodecError(InvalidInput, ValueError):
    """A frame that does not follow AMQP 0-9-1."""


def shortstr(value: str) -> bytes:
    raw = value.encode()
    if len(raw) > 255:
        raise CodecError(f"short string {value[:40]!r}... is longer than 255 bytes")
    return bytes((len(raw),)) + raw


def frame(kind: int, channel: int, payload: bytes) -> bytes:
    return _FRAME_HEAD.pack(kind, channel, len(payload)) + payload + FRAME_END


def publish(
    channel: int,
    exchange: str,
    routing_key: str,
    body: bytes,
    frame_max: int,
    *,
    content_type: str = "application/json",
    persistent: bool = True,
    mandatory: bool = True,
    batch: int = 0,
) -> bytes:
    """Basic.Publish + content header + body frame(s), as one buffer ready to write.

    ``batch`` > 0: ``body`` is a batch of that many items (``protocol.batch``): it goes with the batch content type
    and the ``hivekeeper-batch`` header."""
    method = (
        _METHOD_ID.pack(*BASIC_PUBLISH)
        + b"\x00\x00"
        + shortstr(exchange)
        + shortstr(routing_key)
        + (b"\x01" if mandatory else b"\x00")
    )
    mode = b"\x02" if persistent else b"\x01"
    if batch:
        table = _BATCH_KEY + _I32.pack(batch)
        properties = shortstr(batches.CONTENT_TYPE) + _U32.pack(len(table)) + table + mode
        flags = _FLAG_CONTENT_TYPE | _FLAG_HEADERS | _FLAG_DELIVERY_MODE
    else:
        properties = shortstr(content_type) + mode
        flags = _FLAG_CONTENT_TYPE | _FLAG_DELIVERY_MODE
    header = _HEADER_FIXED.pack(BASIC, 0, len(body), flags) + properties
    parts = [frame(FRAME_METHOD, channel, method), frame(FRAME_HEADER, channel, header)]
    chunk = frame_max - 8
    for start in range(0, len(body), chunk):
        parts.append(frame(FRAME_BODY, channel, body[start : start + chunk]))
    return b"".join(parts)


def ack(channel: int, delivery_tag: int, multiple: bool = False) -> bytes:
    return _ACK.pack(FRAME_METHOD, channel, 13, *BASIC_ACK, delivery_tag, 1 if multiple else 0) + FRAME_END


def nack(channel: int, delivery_tag: int, *, requeue: bool, multiple: bool = False) -> bytes:
    bits = (1 if multiple else 0) | (2 if requeue else 0)
    return _ACK.pack(FRAME_METHOD, channel, 13, *BASIC_NACK, delivery_tag, bits) + FRAME_END


def split_frame(buffer: bytes | bytearray | memoryview, offset: int) -> tuple[int, int, memoryview, int] | None:
    """``(kind, channel, payload, next_offset)`` of the frame at ``offset``, or None if incomplete."""
    if len(buffer) - offset < 7:
        return None
    kind, channel, size = _FRAME_HEAD.unpack_from(buffer, offset)
    end = offset + 7 + size
    if len(buffer) < end + 1:
        return None
    if buffer[end] != 0xCE:
        raise CodecError(f"frame of type {kind} on channel {channel} does not end with 0xCE")
    return kind, channel, memoryview(buffer)[offset + 7 : end], end + 1


def method_id(payload: memoryview) -> tuple[int, int]:
    class_id, method = _METHOD_ID.unpack_from(payload, 0)
    return class_id, method


def _shortstr_at(payload: memoryview, offset: int) -> tuple[str, int]:
    length = payload[offset]
    return bytes(payload[offset + 1 : offset + 1 + length]).decode(), offset + 1 + length


def deliver(payload: memoryview) -> tuple[str, int, bool]:
    """Basic.Deliver arguments: consumer tag, delivery tag, redelivered."""
    consumer_tag, offset = _shortstr_at(payload, 4)
    (tag,) = _U64.unpack_from(payload, offset)
    return consumer_tag, tag, bool(payload[offset + 8] & 1)


def confirm(payload: memoryview) -> tuple[int, bool]:
    """Basic.Ack/Nack from the broker (publisher confirms): delivery tag, multiple."""
    (tag,) = _U64.unpack_from(payload, 4)
    return tag, bool(payload[12] & 1)


def returned(payload: memoryview) -> tuple[int, str, str, str]:
    """Basic.Return: reply code, reply text, exchange and routing key of the returned (unroutable) item."""
    (code,) = _U16.unpack_from(payload, 4)
    text, offset = _shortstr_at(payload, 6)
    exchange, offset = _shortstr_at(payload, offset)
    routing_key, _ = _shortstr_at(payload, offset)
    return code, text, exchange, routing_key


def has_headers(payload: memoryview) -> bool:
    """True when a content header frame carries a headers table (a batch does; our single items do not)."""
    (flags,) = _FLAGS.unpack_from(payload, 12)
    return bool(flags & _FLAG_HEADERS)


def body_size(payload: memoryview) -> int:
    """The body size announced by a content header frame."""
    (size,) = _U64.unpack_from(payload, 4)
    return int(size)
