"""A real run's control traffic is in PocketHive's wire format, on PocketHive's exchange names.

The quickstart runs as `hivekeeper run --broker --control-exchange ph.control --work-exchange 'ph.{swarm}.hive'`
runs it (``runner.run`` on the real RabbitMQ), and the operator's own broker code (``AmqpBroker``, signing)
sends a status-request and a config-update into it meanwhile. Bound to ``ph.control`` and ``ph.<swarm>.hive``
as a PocketHive tool would be, the test captures every control message and every item, and checks each control
message against the schemas written from PocketHive's facts (tests/support/pockethive_wire); ``hivekeeper tap``
given the work exchange's name reads the items too.
"""

from __future__ import annotations

import asyncio
import io
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aio_pika
import orjson
import pytest

from hivekeeper.api.manifests import load_swarm
from hivekeeper.api.swarm import Swarm
from hivekeeper.local import demo_sut
from hivekeeper.local.endpoints import DEFAULT, aimed
from hivekeeper.local.runner import RunOptions, run
from hivekeeper.local.tap import TapOptions, tap
from hivekeeper.operator.effects import AmqpBroker
from hivekeeper.operator.observations import Observations
from hivekeeper.protocol import naming
from hivekeeper.protocol.signing import Signer
from hivekeeper.protocol.workitem import parse as parse_item
from pockethive_wire import problems
from testbench.waiting import eventually
from testbench.work_messages import items as carried

pytestmark = pytest.mark.integration
QUICKSTART = Path(__file__).resolve().parents[2] / "examples" / "quickstart.yaml"
POCKETHIVE = naming.Exchanges(naming.POCKETHIVE_CONTROL_EXCHANGE, naming.POCKETHIVE_WORK_EXCHANGE)
ALIASES = ("build", "call", "results")


@pytest.fixture
async def sut_url() -> AsyncIterator[str]:
    server = await demo_sut.serve("127.0.0.1", 0)
    yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    server.close()
    await server.wait_closed()


def _quickstart(name: str, url: str) -> Swarm:
    data = aimed(load_swarm(QUICKSTART), {DEFAULT: url}).model_dump(mode="json", by_alias=True)
    data["metadata"]["name"] = name
    data["spec"]["roles"][0]["config"]["inputs"]["scheduler"] = {"ratePerSec": 50, "maxMessages": 0}
    return Swarm.model_validate(data)


async def test_every_control_message_of_a_quickstart_run_conforms_on_pockethives_exchanges(
    rabbitmq_url: str, sut_url: str
) -> None:
    name = f"wire-{uuid.uuid4().hex[:6]}"
    connection = await aio_pika.connect(rabbitmq_url)
    channel = await connection.channel()
    control: list[bytes] = []
    items: list[bytes] = []
    # What a PocketHive tool binds to: the control exchange and the swarm's work exchange, by their names.
    for exchange_name, into in ((POCKETHIVE.control, control), (POCKETHIVE.work_exchange(name), items)):
        exchange = await channel.declare_exchange(exchange_name, aio_pika.ExchangeType.TOPIC, durable=True)
        copy = await channel.declare_queue("", exclusive=True)
        await copy.bind(exchange, "#")

        async def keep(message: aio_pika.abc.AbstractIncomingMessage, into: list[bytes] = into) -> None:
            async with message.process():
                into.extend(carried(message) if into is items else [message.body])

        await copy.consume(keep)

    def ours() -> list[dict[str, Any]]:
        loaded = [orjson.loads(body) for body in control]
        return [m for m in loaded if m["scope"]["swarmId"] in (name, naming.ALL)]

    operator = AmqpBroker(rabbitmq_url, Observations(), Signer.generate(), POCKETHIVE)
    await operator.start()
    options = RunOptions(duration=7.0, broker_url=rabbitmq_url, exchanges=POCKETHIVE, out=io.StringIO())
    running = asyncio.create_task(run(_quickstart(name, sut_url), options))
    try:

        async def every_worker_reported() -> bool:
            reported = {m["scope"]["instance"] for m in ours() if m["type"] == "status-full"}
            return reported >= {"feeder-0", "builder-0", "caller-0", "stats-0"}

        await eventually(every_worker_reported, timeout=30, what="each worker's start-up status-full on ph.control")
        await operator.request_status(naming.ALL, naming.ALL, naming.ALL)
        await operator.signal(name, "caller", naming.ALL, {"enabled": True, "configGeneration": 1})
        tapped = io.StringIO()
        options = TapOptions(swarm=name, alias="call", url=rabbitmq_url, count=3, work_exchange=POCKETHIVE.work)
        shown = await asyncio.wait_for(tap(options, tapped, io.StringIO()), 30)
        result = await asyncio.wait_for(running, 60)
    finally:
        await operator.close()
        for alias in ALIASES:
            await channel.queue_delete(naming.work_queue(name, alias))
        await channel.exchange_delete(POCKETHIVE.work_exchange(name))
        await connection.close()

    messages = ours()
    assert len(messages) >= 20, "four workers' start, enable, status-request and config-update traffic at least"
    kinds = {(m["kind"], m["type"]) for m in messages}
    assert kinds >= {
        ("signal", "config-update"),
        ("signal", "status-request"),
        ("outcome", "config-update"),
        ("outcome", "status-request"),
        ("metric", "status-full"),
        ("metric", "status-delta"),
    }, kinds
    nonconforming = [(m["kind"], m["type"], found) for m in messages if (found := problems(orjson.dumps(m)))]
    assert nonconforming == [], f"{len(nonconforming)} of {len(messages)} control messages do not conform"
    applied = [m for m in messages if m["kind"] == "outcome" and m["scope"]["role"] == "caller"]
    assert any(m["data"]["status"] == "Applied" for m in applied), "the operator's signed config-update was obeyed"
    assert len(items) >= 4, "the items travelled on ph.<swarm>.hive"
    assert all(parse_item(body).messageId for body in items)
    assert (shown.shown, len(tapped.getvalue().splitlines())) == (3, 3), "hivekeeper tap reads ph.<swarm>.hive too"
    caller = next(r for r in result["roles"] if r["name"] == "caller")
    assert caller["processed"] > 0
    assert caller["errors"] == 0
