"""The lean AMQP client's publish bookkeeping against a scripted broker (no network): each return fails
its own publish, confirm and blocked timeouts, publishes held while the broker blocks the connection,
the broker's size limit, what the client tells the broker it understands, and the headers a delivery hands its
consumer (the delivery count and the batch header), and the RabbitMQ output's batches on this client."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from pamqp import body as pamqp_body
from pamqp import commands, frame, header
from pamqp.base import Frame

from hivekeeper.protocol import batch
from hivekeeper.worker.inputs.rabbit import RabbitSource
from hivekeeper.worker.outputs.coalescing import BatchLimits
from hivekeeper.worker.outputs.rabbit import RabbitSink
from hivekeeper.worker.ports import OutputRefused
from hivekeeper.worker.transports.rabbit.amqp import codec
from hivekeeper.worker.transports.rabbit.amqp.connection import (
    AmqpConnection,
    BlockedTimeout,
    Channel,
    ConfirmTimeout,
    ConnectionLost,
    MessageTooLarge,
    Nacked,
    Unroutable,
)
from hivekeeper.worker.transports.rabbit.amqp.url import parse
from hivekeeper.worker.transports.rabbit.link import WorkLink
from testbench.waiting import eventually


class ScriptedBroker(asyncio.Transport):
    """The connection's transport: answers channel RPCs at once and records what the client publishes."""

    def __init__(self, connection: AmqpConnection) -> None:
        super().__init__()
        self.connection = connection
        self.frames: list[Frame] = []
        self.closing = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        raw, offset = bytes(data), 0
        while offset < len(raw):
            if raw[offset : offset + 4] == b"AMQP":
                offset += 8
                continue
            consumed, channel, value = frame.unmarshal(raw[offset:])
            offset += consumed
            self.frames.append(value)
            reply = {
                commands.Channel.Open: commands.Channel.OpenOk(),
                commands.Confirm.Select: commands.Confirm.SelectOk(),
                commands.Basic.Consume: commands.Basic.ConsumeOk(consumer_tag="ctag"),
                commands.Exchange.Declare: commands.Exchange.DeclareOk(),
                commands.Queue.Declare: commands.Queue.DeclareOk(queue="q", message_count=0, consumer_count=0),
                commands.Queue.Bind: commands.Queue.BindOk(),
                commands.Basic.Qos: commands.Basic.QosOk(),
                commands.Basic.Cancel: commands.Basic.CancelOk(consumer_tag="ctag"),
            }.get(type(value))
            if reply is not None:
                self.connection.loop.call_soon(self.connection.data_received, frame.marshal(reply, channel))

    def is_closing(self) -> bool:
        return self.closing

    def abort(self) -> None:
        self.closing = True

    def close(self) -> None:
        self.closing = True

    def published(self) -> list[bytes]:
        """Bodies of the publishes written so far, in order (one body frame each in these tests)."""
        return [f.value for f in self.frames if isinstance(f, pamqp_body.ContentBody)]

    def send(self, channel: int, *values: Frame | header.ContentHeader | pamqp_body.ContentBody) -> None:
        self.connection.data_received(b"".join(frame.marshal(v, channel) for v in values))

    def ret(self, channel: int, exchange: str, routing_key: str, body: bytes) -> None:
        """A ``Basic.Return`` of an unroutable publish, with its content, as RabbitMQ sends it."""
        self.send(
            channel,
            commands.Basic.Return(reply_code=312, reply_text="NO_ROUTE", exchange=exchange, routing_key=routing_key),
            header.ContentHeader(0, len(body), commands.Basic.Properties(delivery_mode=2)),
            pamqp_body.ContentBody(body),
        )


async def _open(url: str = "amqp://guest:guest@127.0.0.1/?heartbeat=0", **timeouts: float) -> AmqpConnection:
    loop = asyncio.get_running_loop()
    connection = AmqpConnection(loop, parse(url), **timeouts)
    broker = ScriptedBroker(connection)
    connection.connection_made(broker)
    start = commands.Connection.Start(server_properties={}, mechanisms="PLAIN EXTERNAL", locales="en_US")
    connection.data_received(frame.marshal(start, 0))
    connection.data_received(frame.marshal(commands.Connection.Tune(channel_max=0, frame_max=131072, heartbeat=60), 0))
    connection.data_received(frame.marshal(commands.Connection.OpenOk(), 0))
    return connection


def _broker(connection: AmqpConnection) -> ScriptedBroker:
    assert isinstance(connection._transport, ScriptedBroker)
    return connection._transport


@pytest.fixture
async def connection() -> AsyncIterator[AmqpConnection]:
    opened = await _open(confirm_timeout=0.2, blocked_timeout=0.2)
    yield opened
    opened._lose("test over")


async def _flushed(connection: AmqpConnection) -> None:
    """Let the connection's one-write-per-iteration flush run (it is scheduled with call_soon)."""
    if connection._flush_scheduled:
        connection._flush()


def _ack(tag: int, multiple: bool = False) -> commands.Basic.Ack:
    return commands.Basic.Ack(delivery_tag=tag, multiple=multiple)


async def _outcomes(futures: list[asyncio.Future[None]]) -> list[BaseException | None]:
    return list(await asyncio.wait_for(asyncio.gather(*futures, return_exceptions=True), 5))


# -- returns -----------------------------------------------------------------------------------------------


async def test_each_return_fails_only_its_own_publish_when_one_multiple_ack_confirms_them_all(
    connection: AmqpConnection,
) -> None:
    channel = await connection.channel(confirms=True)
    broker = _broker(connection)
    bodies = [f"item-{n}".encode() for n in range(20)]
    futures = [channel.publish("work", "routed", body) for body in bodies]
    await _flushed(connection)
    unroutable = {3, 9, 15}
    for n in sorted(unroutable):  # RabbitMQ sends each return before the confirm covering it
        broker.ret(channel.number, "work", "routed", bodies[n])
    broker.send(channel.number, _ack(20, multiple=True))

    outcomes = await _outcomes(futures)
    failed = {n for n, outcome in enumerate(outcomes) if outcome is not None}
    assert failed == unroutable
    assert all(isinstance(outcomes[n], Unroutable) and "312 NO_ROUTE" in str(outcomes[n]) for n in unroutable)
    assert not channel.publishes.unconfirmed
    assert not channel.publishes.returned


async def test_identical_bodies_are_told_apart_by_routing_key_and_publish_order(connection: AmqpConnection) -> None:
    channel = await connection.channel(confirms=True)
    broker = _broker(connection)
    same = b'{"same": true}'
    futures = [
        channel.publish("work", "routed", same),
        channel.publish("work", "nowhere", same),
        channel.publish("work", "nowhere", same),
        channel.publish("work", "routed", same),
    ]
    await _flushed(connection)
    broker.ret(channel.number, "work", "nowhere", same)  # the first of the two to "nowhere": tag 2
    broker.send(channel.number, _ack(2, multiple=True))
    broker.send(channel.number, _ack(4, multiple=True))

    outcomes = await _outcomes(futures)
    assert [type(o).__name__ if o else "ok" for o in outcomes] == ["ok", "Unroutable", "ok", "ok"]


async def test_a_return_for_a_single_ack_fails_that_publish_only(connection: AmqpConnection) -> None:
    channel = await connection.channel(confirms=True)
    broker = _broker(connection)
    first, second = channel.publish("work", "a", b"one"), channel.publish("work", "b", b"two")
    await _flushed(connection)
    broker.ret(channel.number, "work", "b", b"two")
    broker.send(channel.number, _ack(2), _ack(1))
    first_outcome, second_outcome = await _outcomes([first, second])
    assert first_outcome is None
    assert isinstance(second_outcome, Unroutable)


async def test_a_nack_fails_the_publish_as_transient(connection: AmqpConnection) -> None:
    channel = await connection.channel(confirms=True)
    future = channel.publish("work", "full", b"x")
    await _flushed(connection)
    _broker(connection).send(channel.number, commands.Basic.Nack(delivery_tag=1))
    [outcome] = await _outcomes([future])
    assert isinstance(outcome, Nacked)
    assert "reject-publish" in str(outcome)


# -- confirm timeout ----------------------------------------------------------------------------------------


async def test_a_publish_without_a_confirm_fails_after_the_confirm_timeout_and_a_late_confirm_is_ignored(
    connection: AmqpConnection,
) -> None:
    channel = await connection.channel(confirms=True)
    began = connection.loop.time()
    future = channel.publish("work", "slow", b"x")
    [outcome] = await _outcomes([future])
    waited = connection.loop.time() - began
    assert isinstance(outcome, ConfirmTimeout)
    assert "confirm timeout of 0.2 s" in str(outcome)
    assert 0.2 <= waited < 0.5, f"failed after {waited:.2f}s: between one and one and a half timeouts (+ a tick)"
    _broker(connection).send(channel.number, _ack(1))  # the broker confirms after all: nothing to do
    assert not channel.publishes.unconfirmed
    confirmed = channel.publish("work", "fast", b"y")
    await _flushed(connection)
    _broker(connection).send(channel.number, _ack(2))
    assert await _outcomes([confirmed]) == [None], "later publishes are tracked as before"


# -- connection.blocked --------------------------------------------------------------------------------------


async def test_the_client_says_it_understands_connection_blocked_and_sends_the_urls_name() -> None:
    connection = await _open("amqp://u:p@127.0.0.1/?heartbeat=0&name=caller-0")
    try:
        [start_ok] = [f for f in _broker(connection).frames if isinstance(f, commands.Connection.StartOk)]
        assert start_ok.client_properties["capabilities"]["connection.blocked"] is True
        assert start_ok.client_properties["capabilities"]["publisher_confirms"] is True
        assert start_ok.client_properties["connection_name"] == "caller-0"
    finally:
        connection._lose("test over")
    unnamed = await _open()
    try:
        [start_ok] = [f for f in _broker(unnamed).frames if isinstance(f, commands.Connection.StartOk)]
        assert start_ok.client_properties["connection_name"] == "hivekeeper-work-plane"
    finally:
        unnamed._lose("test over")


async def test_while_blocked_publishes_are_held_then_sent_in_order_and_confirmed_after_unblocked() -> None:
    connection = await _open(confirm_timeout=0.2, blocked_timeout=5)
    try:
        channel = await connection.channel(confirms=True)
        broker = _broker(connection)
        broker.send(0, commands.Connection.Blocked(reason="low on memory"))
        assert connection.blocked == "low on memory"
        futures = [channel.publish("work", "k", f"held-{n}".encode()) for n in range(5)]
        await _flushed(connection)
        assert broker.published() == [], "nothing is written while the broker reads nothing"
        blocked_at = connection.loop.time()
        while connection.loop.time() - blocked_at < 0.5:  # two confirm timeouts pass while blocked...
            await _watchdog_ticks(connection, 1)
        assert not any(f.done() for f in futures), "...and held publishes do not time out"

        broker.send(0, commands.Connection.Unblocked())
        await _flushed(connection)
        assert connection.blocked is None
        assert broker.published() == [f"held-{n}".encode() for n in range(5)]
        broker.send(channel.number, _ack(5, multiple=True))
        assert await _outcomes(futures) == [None] * 5
    finally:
        connection._lose("test over")


async def test_a_publish_blocked_longer_than_the_blocked_timeout_fails_as_transient_naming_the_bound() -> None:
    connection = await _open(confirm_timeout=5, blocked_timeout=0.2)
    try:
        channel = await connection.channel(confirms=True)
        sent = channel.publish("work", "k", b"sent before the alarm")
        await _flushed(connection)
        _broker(connection).send(0, commands.Connection.Blocked(reason="low on memory"))
        held = channel.publish("work", "k", b"held")
        outcomes = await _outcomes([sent, held])
        assert all(isinstance(o, BlockedTimeout) for o in outcomes), outcomes
        assert "blocked timeout of 0.2 s" in str(outcomes[1])
        assert "connection.blocked: low on memory" in str(outcomes[1])
        assert _broker(connection).published() == [b"sent before the alarm"], "a held publish that failed is never sent"
        with pytest.raises(BlockedTimeout, match=r"blocked timeout of 0\.2 s"):
            await connection.wait_unblocked()
    finally:
        connection._lose("test over")


async def _watchdog_ticks(connection: AmqpConnection, ticks: int) -> None:
    """Run the connection's watchdog ``ticks`` times (as its timer would), advancing the loop's clock."""
    for _ in range(ticks):
        handle = connection._watch
        assert handle is not None
        await asyncio.sleep(max(handle.when() - connection.loop.time(), 0) + 0.001)


# -- size limits ----------------------------------------------------------------------------------------------


async def test_an_item_above_max_message_size_is_refused_before_sending_naming_the_bound() -> None:
    connection = await _open("amqp://u:p@127.0.0.1/?heartbeat=0&max_message_size=4096")
    try:
        channel = await connection.channel(confirms=True)
        with pytest.raises(MessageTooLarge, match="4097 bytes, more than the broker's max_message_size of 4096"):
            channel.publish("work", "k", b"x" * 4097)
        await _flushed(connection)
        assert _broker(connection).published() == []
        assert channel.publish("work", "k", b"x" * 4096) is not None
    finally:
        connection._lose("test over")


async def test_a_406_for_size_refuses_only_the_larger_publishes_and_lowers_the_limit(
    connection: AmqpConnection,
) -> None:
    channel: Channel = await connection.channel(confirms=True)
    small, large, other = (channel.publish("work", "k", b"s" * n) for n in (100, 3000, 200))
    await _flushed(connection)
    close = commands.Channel.Close(
        reply_code=406,
        reply_text="PRECONDITION_FAILED - message size 3000 is larger than configured max size 2048",
        class_id=60,
        method_id=40,
    )
    _broker(connection).send(channel.number, close)
    outcomes = await _outcomes([small, large, other])
    assert [type(o).__name__ for o in outcomes] == ["ConnectionLost", "MessageTooLarge", "ConnectionLost"]
    assert "max_message_size is 2048 bytes" in str(outcomes[1])
    assert "set max_message_size=2048 in the broker URL" in str(outcomes[1])
    assert connection.max_message_size == 2048
    again = await connection.channel(confirms=True)
    with pytest.raises(MessageTooLarge):
        again.publish("work", "k", b"s" * 3000)
    assert isinstance(outcomes[0], ConnectionLost)


def test_basic_return_names_its_exchange_and_routing_key() -> None:
    raw = frame.marshal(commands.Basic.Return(reply_code=312, reply_text="NO_ROUTE", exchange="x", routing_key="y"), 1)
    parsed = codec.split_frame(raw, 0)
    assert parsed is not None
    assert codec.returned(parsed[2]) == (312, "NO_ROUTE", "x", "y")


# -- deliveries ----------------------------------------------------------------------------------------------


async def test_a_delivery_hands_its_consumer_the_batch_header_and_a_redelivered_ones_delivery_count(
    connection: AmqpConnection,
) -> None:
    from hivekeeper.protocol import batch

    channel = await connection.channel()
    got: list[tuple[int, bool, bytes, int | None, object]] = []
    await channel.consume("q", lambda *args: got.append(args))
    body = batch.encode([b"a", b"b"])

    def deliver(tag: int, redelivered: bool, properties: commands.Basic.Properties, payload: bytes) -> None:
        _broker(connection).send(
            channel.number,
            commands.Basic.Deliver(
                consumer_tag="ctag", delivery_tag=tag, redelivered=redelivered, exchange="e", routing_key="q"
            ),
            header.ContentHeader(0, len(payload), properties),
            pamqp_body.ContentBody(payload),
        )

    deliver(1, False, commands.Basic.Properties(delivery_mode=2), b"plain")
    deliver(2, False, commands.Basic.Properties(headers={batch.BATCH_HEADER: 2}), body)
    deliver(3, True, commands.Basic.Properties(headers={batch.BATCH_HEADER: 2, "x-delivery-count": 4}), body)
    deliver(4, False, commands.Basic.Properties(headers={"x-delivery-count": 4}), b"not redelivered: no count")
    assert got == [
        (1, False, b"plain", None, None),
        (2, False, body, None, 2),
        (3, True, body, 4, 2),
        (4, False, b"not redelivered: no count", None, None),
    ]


# -- the RabbitMQ output's batches ---------------------------------------------------------------------------


def _sink(connection: AmqpConnection, limits: BatchLimits | None = None) -> RabbitSink:
    link = WorkLink("amqp://guest:guest@127.0.0.1/", "unit")
    link._connection = connection  # the scripted connection stands in for the one the link would open
    return RabbitSink(link, "hivekeeper.unit.out", limits)


def _messages(broker: ScriptedBroker) -> list[tuple[object, bytes]]:
    """``(batch header or None, body)`` of each message published so far."""
    headers = [f.properties.headers for f in broker.frames if isinstance(f, header.ContentHeader)]
    return [((h or {}).get(batch.BATCH_HEADER), body) for h, body in zip(headers, broker.published(), strict=True)]


async def _sent(broker: ScriptedBroker, n: int) -> None:
    async def published() -> bool:
        if broker.connection._flush_scheduled:
            broker.connection._flush()
        return len(broker.published()) >= n

    await eventually(published, timeout=5, interval=0.001, what=f"{n} messages published")


async def test_publishes_of_one_loop_turn_go_as_one_batch_and_each_returns_with_its_confirm(
    connection: AmqpConnection,
) -> None:
    broker, sink = _broker(connection), _sink(connection)
    await _first(broker, sink)  # opens the channel; a lone item goes plain
    bodies = [f"item-{n}".encode() for n in range(5)]
    publishes = [asyncio.ensure_future(sink.publish(body)) for body in bodies]
    await _sent(broker, 2)
    assert _messages(broker) == [(None, b"first"), (5, batch.encode(bodies))]
    assert not any(p.done() for p in publishes), "nobody returns before the broker confirms"
    broker.send(1, _ack(2))
    assert await _outcomes(publishes) == [None] * 5
    assert (sink.messages, sink.items) == (2, 6)


async def test_a_nacked_batch_fails_every_publish_in_it_as_transient(connection: AmqpConnection) -> None:
    broker, sink = _broker(connection), _sink(connection)
    await _first(broker, sink)
    publishes = [asyncio.ensure_future(sink.publish(f"{n}".encode())) for n in range(3)]
    await _sent(broker, 2)
    broker.send(1, commands.Basic.Nack(delivery_tag=2))
    outcomes = await _outcomes(publishes)
    assert all(isinstance(o, Nacked) for o in outcomes)
    assert sink.state() == "downstream-error"


async def test_an_unroutable_batch_is_sent_again_once_after_declaring_and_then_refused_item_by_item(
    connection: AmqpConnection,
) -> None:
    broker, sink = _broker(connection), _sink(connection)
    await _first(broker, sink)
    bodies = [b"a", b"b"]
    publishes = [asyncio.ensure_future(sink.publish(body)) for body in bodies]
    await _sent(broker, 2)
    broker.ret(1, "hivekeeper.unit.work", "hivekeeper.unit.out", batch.encode(bodies))
    broker.send(1, _ack(2))
    await _sent(broker, 3)  # declared again, then the same batch once more
    assert _messages(broker)[2] == (2, batch.encode(bodies))
    broker.ret(1, "hivekeeper.unit.work", "hivekeeper.unit.out", batch.encode(bodies))
    broker.send(1, _ack(3))
    outcomes = await _outcomes(publishes)
    assert all(isinstance(o, OutputRefused) and "NO_ROUTE" in str(o) for o in outcomes)


async def test_a_batch_goes_as_soon_as_it_is_full_and_never_passes_max_items(connection: AmqpConnection) -> None:
    broker, sink = _broker(connection), _sink(connection, BatchLimits(max_items=4, max_bytes=1024))
    await _first(broker, sink)
    bodies = [f"{n}".encode() for n in range(10)]
    publishes = [asyncio.ensure_future(sink.publish(body)) for body in bodies]
    await _sent(broker, 4)
    assert [count for count, _ in _messages(broker)[1:]] == [4, 4, 2]
    broker.send(1, _ack(4, multiple=True))
    assert await _outcomes(publishes) == [None] * 10


async def _first(broker: ScriptedBroker, sink: RabbitSink) -> None:
    """One confirmed publish: the sink's channel is open and its tag 1 is used."""
    first = asyncio.ensure_future(sink.publish(b"first"))
    await _sent(broker, 1)
    broker.send(1, _ack(1))
    await first


# -- the RabbitMQ input's batches ----------------------------------------------------------------------------

QUEUE = "hivekeeper.unit.out"


async def _source(connection: AmqpConnection) -> RabbitSource:
    link = WorkLink("amqp://guest:guest@127.0.0.1/", "unit")
    link._connection = connection
    source = RabbitSource(link, QUEUE, prefetch=10)
    await source.resume()
    return source


def _deliver(broker: ScriptedBroker, tag: int, body: bytes, headers: dict[str, object] | None = None) -> None:
    broker.send(
        1,
        commands.Basic.Deliver(consumer_tag="ctag", delivery_tag=tag, exchange="e", routing_key=QUEUE),
        header.ContentHeader(0, len(body), commands.Basic.Properties(headers=headers)),
        pamqp_body.ContentBody(body),
    )


def _settlements(broker: ScriptedBroker) -> list[tuple[str, int, bool]]:
    """``(ack|nack, delivery tag, requeue)`` the client sent on the input's channel, in order."""
    broker.connection._flush()
    out = []
    for f in broker.frames:
        if isinstance(f, commands.Basic.Ack):
            out.append(("ack", f.delivery_tag, False))
        elif isinstance(f, commands.Basic.Nack):
            out.append(("nack", f.delivery_tag, f.requeue))
    return out


async def test_a_batch_becomes_one_delivery_per_item_and_is_acknowledged_once_all_are_settled(
    connection: AmqpConnection,
) -> None:
    broker, source = _broker(connection), await _source(connection)
    items = [b"one", b"two", b"three"]
    _deliver(broker, 7, batch.encode(items), {batch.BATCH_HEADER: 3})
    _deliver(broker, 8, b"plain")
    deliveries = [await asyncio.wait_for(source.get(), 5) for _ in range(4)]
    assert [d.body for d in deliveries] == [*items, b"plain"]
    await deliveries[3].ack()
    await deliveries[0].ack()
    await deliveries[2].ack()
    assert _settlements(broker) == [("ack", 8, False)], "the batch waits for its last item"
    given_back = asyncio.ensure_future(deliveries[1].requeue())
    await _sent(broker, 1)
    assert _messages(broker) == [(None, b"two")], "the item given back is published alone"
    assert not given_back.done(), "settled only once the broker confirmed the item given back"
    assert _settlements(broker) == [("ack", 8, False)]
    broker.send(2, _ack(1))  # the confirm, on the channel the item went back on
    await asyncio.wait_for(given_back, 5)
    assert _settlements(broker) == [("ack", 8, False), ("ack", 7, False)], "then the batch is acknowledged, once"
    await source.close()


async def test_a_malformed_batch_is_nacked_without_requeue_and_the_next_message_is_delivered(
    connection: AmqpConnection,
) -> None:
    broker, source = _broker(connection), await _source(connection)
    _deliver(broker, 1, b"\x00\x00\x00\x09short", {batch.BATCH_HEADER: 1})
    _deliver(broker, 2, b"good")
    delivery = await asyncio.wait_for(source.get(), 5)
    assert delivery.body == b"good"
    assert _settlements(broker) == [("nack", 1, False)]
    assert source.malformed == 1
    await source.close()


async def test_pausing_gives_back_an_untaken_batch_whole_and_the_untaken_rest_of_a_started_one_item_by_item(
    connection: AmqpConnection,
) -> None:
    broker, source = _broker(connection), await _source(connection)
    _deliver(broker, 1, batch.encode([b"a", b"b", b"c"]), {batch.BATCH_HEADER: 3})
    _deliver(broker, 2, batch.encode([b"x", b"y"]), {batch.BATCH_HEADER: 2})
    taken = await asyncio.wait_for(source.get(), 5)
    assert taken.body == b"a"
    pausing = asyncio.ensure_future(source.pause())
    for n in (1, 2):  # b and c go back alone, each confirmed
        await _sent(broker, n)
        broker.send(2, _ack(n))
    await asyncio.wait_for(pausing, 5)
    assert [body for _, body in _messages(broker)] == [b"b", b"c"]
    assert _settlements(broker) == [("nack", 2, True)], "the untaken batch went back whole, once"
    await taken.ack()
    assert _settlements(broker) == [("nack", 2, True), ("ack", 1, False)]
    await source.close()
