"""The operator's event consumer on a real RabbitMQ, under rogue traffic: thousands of status events for swarms
it does not manage, malformed bodies, wrong field types and bodies that lie about their routing key. Its memory
stays bounded, each bad message is counted as malformed, and it goes on hearing the workers it manages."""

from __future__ import annotations

import uuid

import aio_pika
import pytest

from hivekeeper.operator import metrics
from hivekeeper.operator.effects import AmqpBroker
from hivekeeper.operator.observations import Observations
from hivekeeper.protocol import envelope as env
from hivekeeper.protocol import naming
from testbench.waiting import eventually

pytestmark = pytest.mark.integration
FORGED = 5000


def _count(kind: str) -> float:
    return metrics.REGISTRY.get_sample_value("hivekeeper_operator_events_total", {"kind": kind}) or 0.0


async def test_rogue_events_keep_the_operators_memory_bounded_and_it_keeps_hearing_its_workers(
    rabbitmq_url: str,
) -> None:
    observations = Observations()
    broker = AmqpBroker(rabbitmq_url, observations)
    await broker.start()
    mine = f"ns_{uuid.uuid4().hex[:6]}"
    observations.manage(mine, "caller")
    connection = await aio_pika.connect(rabbitmq_url)
    try:
        channel = await connection.channel()
        control = await channel.get_exchange(naming.CONTROL_EXCHANGE)
        malformed_before, metric_before = _count("malformed"), _count("metric")

        async def send(body: bytes, key: str) -> None:
            await control.publish(aio_pika.Message(body), key)

        for n in range(FORGED):
            scope = env.Scope(swarmId=f"fake_{n}", role="caller", instance=f"pod-{n}")
            status = env.metric(
                "status-full", scope, {"enabled": True, "context": {"configGeneration": 1}}, origin="pod"
            )
            await send(status.to_json(), naming.metric_key("status-full", f"fake_{n}", "caller", f"pod-{n}"))
        key = naming.metric_key("status-full", mine, "caller", "c-0")
        scope = env.Scope(swarmId=mine, role="caller", instance="c-0")
        bad = [
            b"not json at all",
            b'{"kind": "metric"}',
            env.metric("status-full", scope, {"context": {"configGeneration": "three"}}, origin="c-0").to_json(),
            env.metric("status-full", scope, {"context": ["x"]}, origin="c-0").to_json(),
        ]
        for body in bad:
            await send(body, key)
        lying = env.metric("status-full", env.Scope(swarmId=mine, role="caller", instance="c-9"), {}, origin="x")
        await send(lying.to_json(), naming.metric_key("status-full", "fake_1", "caller", "pod-1"))
        honest = env.metric("status-full", scope, {"enabled": True, "context": {"configGeneration": 4}}, origin="c-0")
        await send(honest.to_json(), key)

        async def heard_everything() -> bool:
            return _count("metric") - metric_before >= FORGED + 1 and _count("malformed") - malformed_before >= 5

        await eventually(heard_everything, timeout=60, what=f"{FORGED} forged events and 5 malformed ones consumed")
        assert _count("malformed") - malformed_before == len(bad) + 1
        assert observations.kept() <= 1 + Observations.MAX_UNMANAGED, "forged swarms cost a bounded memory"
        [report] = observations.instances(mine, "caller")
        assert (report.name, report.config_generation) == ("c-0", 4), "the managed worker is still heard"
    finally:
        await connection.close()
        await broker.close()
