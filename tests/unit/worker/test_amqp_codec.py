"""The hand-rolled AMQP frames agree with pamqp (the reference codec) byte for byte in meaning."""

from __future__ import annotations

import pytest
from pamqp import body as pamqp_body
from pamqp import commands, frame, header

from hivekeeper.worker.transports.rabbit.amqp import codec


def _frames(data: bytes) -> list[object]:
    out, offset = [], 0
    while offset < len(data):
        consumed, _, value = frame.unmarshal(data[offset:])
        out.append(value)
        offset += consumed
    return out


def test_a_publish_reads_back_as_publish_header_and_body_frames() -> None:
    body = b'{"x": 1}' * 10
    method, content, payload = _frames(codec.publish(3, "hivekeeper.s.work", "hivekeeper.s.call", body, 131072))
    assert isinstance(method, commands.Basic.Publish)
    assert (method.exchange, method.routing_key, method.mandatory) == ("hivekeeper.s.work", "hivekeeper.s.call", True)
    assert isinstance(content, header.ContentHeader)
    assert content.body_size == len(body)
    assert content.properties.content_type == "application/json"
    assert content.properties.delivery_mode == 2
    assert isinstance(payload, pamqp_body.ContentBody)
    assert payload.value == body


def test_a_body_larger_than_a_frame_is_split() -> None:
    body = bytes(range(256)) * 100
    frames = _frames(codec.publish(1, "e", "k", body, frame_max=4096))
    bodies = [f for f in frames if isinstance(f, pamqp_body.ContentBody)]
    assert len(bodies) == 7
    assert b"".join(b.value for b in bodies) == body


def test_acks_and_nacks_read_back() -> None:
    [ack] = _frames(codec.ack(2, 123456789012))
    assert isinstance(ack, commands.Basic.Ack)
    assert (ack.delivery_tag, ack.multiple) == (123456789012, False)
    [nack] = _frames(codec.nack(2, 7, requeue=True))
    assert isinstance(nack, commands.Basic.Nack)
    assert (nack.delivery_tag, nack.requeue, nack.multiple) == (7, True, False)


def test_deliveries_confirms_and_returns_are_read_from_pamqp_frames() -> None:
    raw = frame.marshal(
        commands.Basic.Deliver(consumer_tag="ctag-1", delivery_tag=42, redelivered=True, exchange="e", routing_key="r"),
        5,
    )
    kind, channel, payload, end = codec.split_frame(raw, 0) or (0, 0, memoryview(b""), 0)
    assert (kind, channel, end) == (codec.FRAME_METHOD, 5, len(raw))
    assert codec.method_id(payload) == codec.BASIC_DELIVER
    assert codec.deliver(payload) == ("ctag-1", 42, True)
    confirm = codec.split_frame(frame.marshal(commands.Basic.Ack(delivery_tag=9, multiple=True), 1), 0)
    assert confirm is not None
    assert codec.confirm(confirm[2]) == (9, True)
    returned = codec.split_frame(
        frame.marshal(commands.Basic.Return(reply_code=312, reply_text="NO_ROUTE", exchange="e", routing_key="r"), 1), 0
    )
    assert returned is not None
    assert codec.returned(returned[2]) == (312, "NO_ROUTE", "e", "r")
    content = codec.split_frame(frame.marshal(header.ContentHeader(0, 1234, commands.Basic.Properties()), 1), 0)
    assert content is not None
    assert codec.body_size(content[2]) == 1234


def test_an_incomplete_frame_waits_for_more_bytes_and_a_bad_end_octet_is_an_error() -> None:
    raw = codec.ack(1, 1)
    assert codec.split_frame(raw[:-1], 0) is None
    with pytest.raises(codec.CodecError, match="does not end with 0xCE"):
        codec.split_frame(raw[:-1] + b"\x00", 0)


def test_a_routing_key_longer_than_a_short_string_is_refused() -> None:
    with pytest.raises(codec.CodecError, match="longer than 255 bytes"):
        codec.publish(1, "e", "k" * 256, b"", 131072)


def test_a_batch_publish_carries_the_batch_content_type_and_header_and_reads_back_with_pamqp() -> None:
    from hivekeeper.protocol import batch

    body = batch.encode([b"one", b"two"])
    method, content, payload = _frames(codec.publish(3, "e", "k", body, 131072, batch=2))
    assert isinstance(method, commands.Basic.Publish)
    assert isinstance(content, header.ContentHeader)
    assert content.properties.content_type == batch.CONTENT_TYPE
    assert content.properties.headers == {batch.BATCH_HEADER: 2}
    assert content.properties.delivery_mode == 2
    assert isinstance(payload, pamqp_body.ContentBody)
    assert batch.split(payload.value, content.properties.headers[batch.BATCH_HEADER]) == [b"one", b"two"]


def test_has_headers_tells_a_batch_from_a_single_item_by_the_content_headers_flags() -> None:
    single = codec.publish(1, "e", "k", b"x", 131072)
    batched = codec.publish(1, "e", "k", b"\x00\x00\x00\x01x", 131072, batch=1)
    for raw, expected in ((single, False), (batched, True)):
        method = codec.split_frame(raw, 0)
        assert method is not None
        content = codec.split_frame(raw, method[3])
        assert content is not None
        assert content[0] == codec.FRAME_HEADER
        assert codec.has_headers(content[2]) is expected
