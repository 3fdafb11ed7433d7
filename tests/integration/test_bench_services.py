"""The bench's RabbitMQ and Redis are real servers that tests can use."""

from __future__ import annotations

import uuid

import aio_pika
import pytest
import redis.asyncio as aioredis

pytestmark = pytest.mark.integration


async def test_rabbitmq_routes_a_published_message_to_a_bound_queue(rabbitmq_url: str) -> None:
    connection = await aio_pika.connect(rabbitmq_url)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        name = f"bench-check-{uuid.uuid4().hex[:8]}"
        exchange = await channel.declare_exchange(name, aio_pika.ExchangeType.TOPIC, auto_delete=True)
        queue = await channel.declare_queue(name, exclusive=True)
        await queue.bind(exchange, routing_key=name)
        await exchange.publish(aio_pika.Message(b"hello"), routing_key=name)
        message = await queue.get(timeout=10)
        await message.ack()
        assert message.body == b"hello"


async def test_redis_stores_and_pops_list_items(redis_url: str) -> None:
    client = aioredis.from_url(redis_url)
    try:
        key = f"bench-check-{uuid.uuid4().hex[:8]}"
        await client.rpush(key, "a", "b")
        assert await client.lpop(key) == b"a"
        assert await client.llen(key) == 1
        await client.delete(key)
    finally:
        await client.aclose()


def test_services_listen_on_loopback_only(rabbitmq_url: str, redis_url: str) -> None:
    assert "@127.0.0.1:" in rabbitmq_url
    assert redis_url.startswith("redis://127.0.0.1:")
