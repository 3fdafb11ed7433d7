"""Poison items and broker backpressure on a real RabbitMQ (issue 13, items 3 and 4).

- an output over the broker's ``max_message_size`` is dead-lettered once (no loop), in a real worker
  process whose memory is measured;
- an item that keeps coming back is poison after ``maxRedeliveries``;
- many publishes in flight, some unroutable, confirmed by ``multiple`` acks: exactly those fail;
- a real memory alarm blocks publishing: the output reports ``blocked``, publishes wait, and nothing is
  lost once it clears;
- the broker URL's options mean the same to aio-pika and to the lean client (name, heartbeat, TLS with a
  private CA and a client certificate, connect timeout).

Tests that change the broker at run time (alarm, limits, policies) use a node of this module alone and
put back what they changed.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import ssl
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aio_pika
import orjson
import pytest

from hivekeeper.protocol import envelope as env
from hivekeeper.protocol import naming
from hivekeeper.protocol.workitem import new_item
from hivekeeper.worker import deadletter
from hivekeeper.worker.outputs.rabbit import RabbitSink
from hivekeeper.worker.ports import OutputRefused
from hivekeeper.worker.runtime.worker import Worker
from hivekeeper.worker.transports.rabbit import control as rabbit_control
from hivekeeper.worker.transports.rabbit.amqp import codec
from hivekeeper.worker.transports.rabbit.amqp.connection import AmqpConnection, Unroutable
from hivekeeper.worker.transports.rabbit.link import WorkLink
from testbench.pki import make_pki
from testbench.procs import free_port
from testbench.rabbit_swarm import RabbitSwarm
from testbench.rabbitmq import RabbitMQ
from testbench.waiting import eventually
from testbench.work_messages import all_items

pytestmark = pytest.mark.integration

DEFAULT_MAX_MESSAGE_SIZE = 134217728  # RabbitMQ 3.x (3.10.8 on the bench): `rabbitmqctl eval` printed it
DEFAULT_WATERMARK = "0.4"


class Swarm(RabbitSwarm):
    """The shared harness, with what poison tests add: fast status, queues by name, draining, cleanup."""

    prefix = "p"
    status_interval = 0.2

    @property
    def name(self) -> str:
        return self.swarm

    async def enable(self, worker: Worker | env.Scope) -> None:
        outcome = await self.configure(worker, {"enabled": True}, timeout=15)
        assert outcome.data["status"] == "Applied", outcome.data

    async def depth(self, queue: str) -> int | None:  # type: ignore[override]  # a queue name; None: not declared
        channel = await self.connection.channel()
        try:
            declared = await channel.declare_queue(queue, passive=True)
        except aio_pika.exceptions.ChannelNotFoundEntity:
            return None
        await channel.close()
        return declared.declaration_result.message_count or 0

    async def drain(self, queue: str) -> list[aio_pika.abc.AbstractIncomingMessage]:
        declared = await self.channel.get_queue(queue)
        taken = []
        while (message := await declared.get(no_ack=False, fail=False)) is not None:
            await message.ack()
            taken.append(message)
        return taken

    async def stop(self) -> None:
        for worker in self.workers:
            await worker.stop()
        for transports in self.transports:
            await transports.close()
        self.workers, self.transports = [], []
        for queue in [*(naming.work_queue(self.name, a) for a in ("in", "out")), naming.dead_letter_queue(self.name)]:
            with contextlib.suppress(Exception):
                await (await self.connection.channel()).queue_delete(queue)
        await super().stop()


@pytest.fixture
async def swarm(own_broker: RabbitMQ) -> AsyncIterator[Swarm]:
    running = Swarm(own_broker.url)
    await running.start()
    yield running
    await running.stop()


def _item(swarm: str, size: int = 0) -> bytes:
    """A WorkItem of about ``size`` bytes of JSON (its payload padded)."""
    headers = {"x-ph-call-id": "x"}
    body = new_item('{"n": 1}', swarm=swarm, service="t", instance="t-0", headers=headers).to_json()
    if size > len(body):
        padding = "x" * (size - len(body) + 8)
        body = new_item(padding, swarm=swarm, service="t", instance="t-0", headers=headers).to_json()
    return body


PASS_THROUGH = {"serviceId": "x", "passThroughOnMissingTemplate": True}


# -- poison items --------------------------------------------------------------------------------------------


def _memory_kb(pid: int) -> tuple[int, int]:
    """(VmRSS, VmHWM) of a process, in kB: its resident memory now and at its peak."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return int(fields["VmRSS"].split()[0]), int(fields["VmHWM"].split()[0])


def _scrape(port: int) -> dict[str, float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as response:
        text = response.read().decode()
    found = re.findall(r"^(hivekeeper_[a-z_]+?)(?:_total)?\{[^}]*\} ([0-9.e+]+)$", text, re.MULTILINE)
    return {name: float(value) for name, value in found}


async def test_an_output_over_the_brokers_max_message_size_is_dead_lettered_once_and_memory_stays_bounded(
    own_broker: RabbitMQ, tmp_path: Path
) -> None:
    limit = 1024 * 1024
    own_broker.ctl("eval", f"application:set_env(rabbit, max_message_size, {limit}).")
    running = Swarm(own_broker.url)  # the worker's URL does not know the limit: the broker's 406 teaches it
    await running.start()
    metrics_port = free_port()
    config = {**PASS_THROUGH, "deadLetter": {"enabled": True}}
    base = {k: v for k, v in os.environ.items() if not k.startswith("HIVEKEEPER_")}
    with (tmp_path / "worker.log").open("w") as log:
        process = subprocess.Popen(  # noqa: ASYNC220 - started once; /proc gives its memory by pid
            [sys.executable, "-m", "hivekeeper.cli", "worker"],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={
                **base,
                "HIVEKEEPER_SWARM_ID": running.name,
                "HIVEKEEPER_ROLE": "builder",
                "HIVEKEEPER_ROLE_KIND": "request-builder",
                "HIVEKEEPER_INSTANCE": "builder-0",
                "HIVEKEEPER_AMQP_URL": own_broker.url,
                "HIVEKEEPER_WORK_IN": "in",
                "HIVEKEEPER_WORK_OUT": "out",
                "HIVEKEEPER_CONFIG": orjson.dumps(config).decode(),
                "HIVEKEEPER_METRICS_PORT": str(metrics_port),
                "HIVEKEEPER_STATUS_INTERVAL": "1",
            },
        )
    try:
        scope = env.Scope(swarmId=running.name, role="builder", instance="builder-0")
        await eventually(
            lambda: _found(e for e in running.events if e.type == "status-full"), timeout=30, what="the worker started"
        )
        await running.queue("out")
        await running.enable(scope)
        rss_before, _ = _memory_kb(process.pid)

        poison = [_item(running.name, limit - 64) for _ in range(24)]  # + one hop: over the limit on the way out
        good = [_item(running.name) for _ in range(40)]
        assert all(len(b) <= limit for b in poison), "the broker takes every input"
        mixed = [body for pair in zip(poison, good[:24], strict=True) for body in pair] + good[24:]
        started = time.monotonic()
        await running.publish("in", mixed)

        in_queue, out_queue = naming.work_queue(running.name, "in"), naming.work_queue(running.name, "out")
        dead = naming.dead_letter_queue(running.name)

        out: list[bytes] = []

        async def settled() -> bool:  # items out, not messages: good items may travel several in one (batches)
            out.extend(all_items(await running.drain(out_queue)))
            return (await running.depth(dead), len(out), await running.depth(in_queue)) == (len(poison), len(good), 0)

        await eventually(settled, timeout=60, what="every poison item dead-lettered and every good item out")
        elapsed = time.monotonic() - started
        metrics = await asyncio.to_thread(_scrape, metrics_port)
        rss_after, peak = _memory_kb(process.pid)

        assert metrics["hivekeeper_items_refused"] == len(poison), "each poison item is refused once"
        assert metrics["hivekeeper_items_processed"] == len(good)
        assert metrics["hivekeeper_items_given_back"] == 0, "nothing went back to the queue: no loop"
        assert metrics["hivekeeper_items_poisoned"] == 0
        retries = metrics["hivekeeper_publish_retries"]
        assert retries <= len(good), "only good items in flight when the broker closed the channel are sent again"
        kept = await running.drain(dead)
        assert {m.body for m in kept} == set(poison), "the inputs are kept as they came in"
        reason = str(kept[0].headers[deadletter.HEADER_REASON])
        assert kept[0].headers[deadletter.HEADER_CODE] == "io.output-refused"
        assert f"max_message_size is {limit} bytes" in reason or f"max_message_size of {limit} bytes" in reason
        alerts = [e.data for e in running.events if e.type == "alert" and e.data["code"] == "io.output-refused"]
        assert alerts, "refusals are alerted"
        assert peak - rss_before < 200 * 1024, f"peak RSS grew {(peak - rss_before) // 1024} MB"
        print(
            f"\n[poison] {len(poison)} outputs of ~{limit // 1024} KiB over the broker's limit among {len(good)} good "
            f"items: settled in {elapsed:.2f}s, refused {metrics['hivekeeper_items_refused']:.0f} (1 attempt each), "
            f"publish retries {retries:.0f}, given back 0; worker RSS {rss_before // 1024} MB before, "
            f"{rss_after // 1024} MB after, peak {peak // 1024} MB"
        )
    finally:
        process.terminate()
        await asyncio.to_thread(process.wait, 30)
        own_broker.ctl("eval", f"application:set_env(rabbit, max_message_size, {DEFAULT_MAX_MESSAGE_SIZE}).")
        await running.stop()


async def test_an_output_over_the_urls_max_message_size_is_refused_before_it_is_sent(swarm: Swarm) -> None:
    url = f"{swarm.url}?max_message_size=65536"
    link = WorkLink(url, swarm.name)
    sink = RabbitSink(link, naming.work_routing_key(swarm.name, "out"))
    try:
        await swarm.queue("out")
        with pytest.raises(OutputRefused) as caught:
            await sink.publish(b"x" * 65537)
        assert "65537 bytes, more than the broker's max_message_size of 65536 bytes; it was not sent" in str(
            caught.value
        )
        await sink.publish(b"x" * 65536)
        assert await swarm.depth(naming.work_queue(swarm.name, "out")) == 1
        assert sink.state() == "ok"
    finally:
        await link.close()


async def test_an_item_that_keeps_coming_back_is_poison_after_max_redeliveries(
    own_broker: RabbitMQ, swarm: Swarm
) -> None:
    out_queue = naming.work_queue(swarm.name, "out")
    # The output queue refuses everything (full, reject-publish): every publish is nacked, a transient failure.
    own_broker.ctl(
        "set_policy", "--apply-to", "queues", swarm.name, f"^{re.escape(out_queue)}$",
        '{"max-length": 0, "overflow": "reject-publish"}',
    )  # fmt: skip
    try:
        config = {
            **PASS_THROUGH,
            "deadLetter": {"enabled": True},
            "inputs": {"rabbitmq": {"maxRedeliveries": 2}},
            "outputs": {"retry": {"maxAttempts": 2, "initialBackoffMs": 1, "maxBackoffMs": 5}},
        }
        worker = await swarm.worker("builder", "request-builder", config, work_in="in", work_out="out")
        await swarm.enable(worker)
        body = _item(swarm.name)
        await swarm.publish("in", [body])
        dead = naming.dead_letter_queue(swarm.name)
        await eventually(lambda: _equal(swarm.depth(dead), 1), timeout=30, what="the poison item dead-lettered")

        # deliveries 1, 2 and 3 (redelivered 0, 1, 2 times): 2 attempts each, then given back; the 4th is poison
        assert worker.output.snapshot() == {"refused": 0, "poisoned": 1, "publishRetries": 3, "givenBack": 3}
        assert await swarm.depth(naming.work_queue(swarm.name, "in")) == 0
        [kept] = await swarm.drain(dead)
        assert kept.body == body
        assert kept.headers[deadletter.HEADER_CODE] == "work.poison"
        assert "came back 3 times, more than inputs.rabbitmq.maxRedeliveries (2)" in str(
            kept.headers[deadletter.HEADER_REASON]
        )
        nacked = [e.data for e in swarm.events if e.type == "alert" and e.data["code"] == "io.downstream-error"]
        assert nacked, "the failed publishes were alerted"
        assert "the broker nacked the item" in nacked[0]["message"]
    finally:
        own_broker.ctl("clear_policy", swarm.name)


# -- returns -----------------------------------------------------------------------------------------------


async def test_many_publishes_in_flight_with_some_unroutable_fail_exactly_those_under_multiple_acks(
    rabbitmq_url: str,
) -> None:
    connection = await AmqpConnection.open(rabbitmq_url)
    try:
        name = f"returns-{uuid.uuid4().hex[:8]}"
        channel = await connection.channel(confirms=True)
        await channel.exchange_declare(name)
        await channel.queue_declare(name)
        await channel.queue_bind(name, name, "routed")
        multiple_acks = 0
        on_method = channel.on_method

        def counting(payload: memoryview) -> None:  # sees every method frame the broker sends on the channel
            nonlocal multiple_acks
            if codec.method_id(payload) == codec.BASIC_ACK:
                multiple_acks += codec.confirm(payload)[1]
            on_method(payload)

        channel.on_method = counting  # type: ignore[method-assign]
        unroutable = {n for n in range(3000) if n % 7 == 3}
        futures = [
            channel.publish(name, "nowhere" if n in unroutable else "routed", f'{{"n": {n}}}'.encode())
            for n in range(3000)
        ]
        outcomes = await asyncio.wait_for(asyncio.gather(*futures, return_exceptions=True), 60)

        assert multiple_acks > 0, "the broker confirmed with `multiple` acks (else this test proves nothing)"
        failed = {n for n, outcome in enumerate(outcomes) if outcome is not None}
        assert failed == unroutable
        assert all(isinstance(outcomes[n], Unroutable) for n in unroutable)
        assert await channel.queue_declare(name, passive=True) == 3000 - len(unroutable)
        print(f"\n[returns] 3000 in flight, {len(unroutable)} unroutable, {multiple_acks} multiple acks: exact")
    finally:
        await connection.close()


# -- connection.blocked ----------------------------------------------------------------------------------


async def test_a_memory_alarm_blocks_publishing_reports_blocked_and_loses_nothing_once_cleared(
    own_broker: RabbitMQ, swarm: Swarm
) -> None:
    # 8 s of work at 300/s: on a loaded machine rabbitmqctl can take seconds to set the alarm, and with 600 items
    # the generator had sometimes finished before the broker blocked it, leaving no publish to hold.
    total = 2400
    config = {"inputs": {"scheduler": {"ratePerSec": 300, "maxMessages": total}}, "message": {"body": '{"n": 1}'}}
    feeder = await swarm.worker("feeder", "generator", config, work_out="out")
    await swarm.queue("out")
    await swarm.enable(feeder)
    out_queue = naming.work_queue(swarm.name, "out")
    assert feeder.sink is not None
    link = swarm.transports[-1].link

    await eventually(lambda: _true(feeder.stats.processed >= 100), timeout=30, what="100 items through")
    own_broker.ctl("set_vm_memory_high_watermark", "0.0000001")
    alarm_at = time.monotonic()  # measured from when rabbitmqctl returned: the alarm is set by then
    try:
        await eventually(lambda: _true(feeder.sink.state() == "blocked"), timeout=30, what="the output blocked")
        blocked_after = time.monotonic() - alarm_at
        assert feeder.status_data(full=False)["ioState"]["work"]["output"] == "blocked"

        def held() -> int:
            connection = link._connection
            assert connection is not None
            return sum(len(c.publishes.held) for c in connection._channels.values())

        await eventually(lambda: _true(held() > 0), timeout=30, what="publishes held while blocked")
        during = feeder.stats.processed
        depth_during = await swarm.depth(out_queue)
        assert during < total, "the generator is waiting, not finished"
    finally:
        own_broker.ctl("set_vm_memory_high_watermark", DEFAULT_WATERMARK)
        cleared_at = time.monotonic()
    await eventually(lambda: _true(feeder.sink.state() == "ok"), timeout=30, what="the output unblocked")
    unblocked_after = time.monotonic() - cleared_at
    await eventually(lambda: _true(feeder.stats.processed > during), timeout=30, what="work resumed")
    resumed_after = time.monotonic() - cleared_at

    taken: list[str] = []

    async def all_out() -> bool:  # messages may carry several items each (batches): count the items
        taken.extend(orjson.loads(body)["messageId"] for body in all_items(await swarm.drain(out_queue)))
        return len(taken) >= total and feeder.stats.processed >= total

    await eventually(all_out, timeout=60, what=f"all {total} items out")
    taken.extend(orjson.loads(body)["messageId"] for body in all_items(await swarm.drain(out_queue)))
    assert len(set(taken)) == len(taken) == total, "nothing lost, nothing doubled"
    assert feeder.stats.errors == 0
    assert feeder.output.retries == 0, "held publishes went out once the alarm cleared: none had to be retried"

    async def reported_blocked() -> list[env.Envelope]:
        return [
            e for e in swarm.events if e.type == "status-delta" and e.data["ioState"]["work"]["output"] == "blocked"
        ]

    await eventually(reported_blocked, timeout=15, what="a status-delta reporting output blocked")
    print(
        f"\n[blocked] alarm -> output blocked in {blocked_after:.2f}s ({depth_during} messages out, {during} published "
        f"before the wait); cleared -> unblocked in {unblocked_after:.2f}s, work resumed in {resumed_after:.2f}s; "
        f"{total}/{total} items out, none lost or doubled"
    )


# -- one meaning of the broker URL ---------------------------------------------------------------------------


async def _both(url: str) -> list[BaseException | None]:
    """Open aio-pika's connection and the lean client's with ``url``; what each one raised (None: connected)."""

    async def lean() -> None:
        connection = await AmqpConnection.open(url)
        await connection.close()

    async def pika() -> None:
        connection = await rabbit_control.connect_plain(url, "url-test")
        await connection.close()

    return list(await asyncio.gather(lean(), pika(), return_exceptions=True))


async def test_name_and_heartbeat_from_the_url_reach_the_broker_from_both_connections(own_broker: RabbitMQ) -> None:
    name = f"url-{uuid.uuid4().hex[:6]}"
    url = f"{own_broker.url}?heartbeat=17&name={name}"
    lean = await AmqpConnection.open(url)
    pika = await rabbit_control.connect_plain(url, "ignored: the URL names it")
    try:

        async def listed() -> list[str]:
            lines = (
                await asyncio.to_thread(own_broker.ctl, "list_connections", "client_properties", "timeout")
            ).splitlines()
            return [line for line in lines if name in line]

        rows = await eventually(lambda: _at_least(listed(), 2), timeout=15, what="both connections listed")
        assert len(rows) == 2
        assert all(row.rstrip().endswith("\t17") for row in rows), rows
    finally:
        await lean.close()
        await pika.close()


async def _tls_relay(broker_port: int, context: ssl.SSLContext) -> tuple[asyncio.Server, Callable[[], Awaitable[None]]]:
    """A TLS listener on loopback that forwards to the broker's plain AMQP port (a TLS-terminating proxy)."""
    tasks: set[asyncio.Task[None]] = set()

    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        writer.close()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection("127.0.0.1", broker_port)
        except OSError:
            writer.close()
            return
        for task in (
            asyncio.create_task(pipe(reader, upstream_writer)),
            asyncio.create_task(pipe(upstream_reader, writer)),
        ):
            tasks.add(task)
            task.add_done_callback(tasks.discard)

    server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=context)

    async def stop() -> None:
        server.close()
        for task in list(tasks):
            task.cancel()

    return server, stop


async def test_tls_options_mean_the_same_to_both_connections(own_broker: RabbitMQ, tmp_path: Path) -> None:
    pki = make_pki(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(pki.ca_cert))
    context.load_cert_chain(pki.serving_cert, pki.serving_key)
    context.verify_mode = ssl.CERT_OPTIONAL  # a client certificate, when sent, must be ours
    server, stop = await _tls_relay(own_broker.amqp_port, context)
    port = server.sockets[0].getsockname()[1]
    base = f"amqps://guest:guest@localhost:{port}/"
    try:
        assert await _both(f"{base}?cafile={pki.ca_cert}") == [None, None], "our CA verifies the relay on both"
        assert await _both(f"{base}?no_verify_ssl=1") == [None, None]
        unverified = await _both(base)
        assert all(outcome is not None for outcome in unverified), "the system CAs do not know ours: both refuse"
        assert all("CERTIFICATE_VERIFY_FAILED" in repr(o) or "certificate verify failed" in str(o) for o in unverified)

        context.verify_mode = ssl.CERT_REQUIRED  # now a client certificate is required
        with_cert = f"{base}?cafile={pki.ca_cert}&certfile={pki.admin_cert}&keyfile={pki.admin_key}"
        assert await _both(with_cert) == [None, None], "both present the client certificate"
        without = await _both(f"{base}?cafile={pki.ca_cert}")
        assert all(outcome is not None for outcome in without), "without certfile both are refused"
    finally:
        await stop()


async def test_connection_timeout_bounds_both_connections() -> None:
    silent: list[asyncio.StreamWriter] = []

    async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        silent.append(writer)  # accepts TCP, never answers AMQP

    server = await asyncio.start_server(accept, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        began = time.monotonic()
        outcomes = await _both(f"amqp://guest:guest@127.0.0.1:{port}/?connection_timeout=0.5")
        took = time.monotonic() - began
        assert all(outcome is not None for outcome in outcomes), outcomes
        assert took < 3, f"both gave up after {took:.1f}s"
    finally:
        server.close()
        for writer in silent:
            writer.close()


# -- helpers ----------------------------------------------------------------------------------------------


async def _true(value: bool) -> bool:
    return value


async def _equal(value: Awaitable[Any], expected: Any) -> bool:
    return bool(await value == expected)


async def _at_least(value: Awaitable[list[str]], n: int) -> list[str] | None:
    found = await value
    return found if len(found) >= n else None


async def _found(values: Any) -> Any:
    return next(iter(values), None)
