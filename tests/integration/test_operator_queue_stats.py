"""The operator's queue depths on a real RabbitMQ: one channel for every passive declare, a missing queue left out
(its closed channel replaced for the next question), an answer reused only within its second."""

from __future__ import annotations

import asyncio
import uuid

import aio_pika
import pytest

from hivekeeper.operator.queue_stats import FRESH_SECONDS, QueueStats
from hivekeeper.worker.transports.rabbit import control as rabbit_control
from hivekeeper.worker.transports.rabbit.amqp.url import parse

pytestmark = pytest.mark.integration


async def test_depths_of_existing_queues_missing_ones_left_out_and_fresh_answers_reused(rabbitmq_url: str) -> None:
    names = [f"qs-{uuid.uuid4().hex[:8]}-{n}" for n in range(2)]
    missing = f"qs-{uuid.uuid4().hex[:8]}-missing"
    connection = await aio_pika.connect(rabbitmq_url)
    channel = await connection.channel()
    for n, name in enumerate(names):
        await channel.declare_queue(name, auto_delete=False)
        for _ in range(n + 2):
            await channel.default_exchange.publish(aio_pika.Message(b"x"), routing_key=name)
    now = [0.0]
    stats = QueueStats(lambda: rabbit_control.connect_plain(parse(rabbitmq_url), "qs-test"), clock=lambda: now[0])
    try:
        found = await stats.stats([names[0], missing, names[1]])
        assert [(q.name, q.depth, q.messages, q.consumers) for q in found] == [(names[0], 2, 2, 0), (names[1], 3, 3, 0)]

        await channel.default_exchange.publish(aio_pika.Message(b"x"), routing_key=names[0])
        assert [q.depth for q in await stats.stats(names)] == [2, 3], "within a second: the answer given again"
        now[0] += FRESH_SECONDS
        assert [q.depth for q in await stats.stats(names)] == [3, 3], "later: asked again"
    finally:
        await stats.close()
        for name in names:
            await channel.queue_delete(name)
        await connection.close()


async def test_many_roll_ups_asking_at_once_all_get_their_answers(rabbitmq_url: str) -> None:
    name = f"qs-{uuid.uuid4().hex[:8]}"
    connection = await aio_pika.connect(rabbitmq_url)
    channel = await connection.channel()
    await channel.declare_queue(name)
    now = [0.0]
    stats = QueueStats(lambda: rabbit_control.connect_plain(parse(rabbitmq_url), "qs-test"), clock=lambda: now[0])

    async def one(n: int) -> list[str]:
        now[0] += FRESH_SECONDS  # every question is asked of the broker, none answered from memory
        return [q.name for q in await stats.stats([name, f"{name}-missing-{n}"])]

    try:
        answers = await asyncio.gather(*(one(n) for n in range(40)))
        assert answers == [[name]] * 40, "a missing queue closing the shared channel must not fail the others"
    finally:
        await stats.close()
        await channel.queue_delete(name)
        await connection.close()
