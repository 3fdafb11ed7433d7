"""The bundled RabbitMQ's least-privilege users (helm/hivekeeper/files/rabbitmq-users.sh), on a real node.

The chart runs that script in the RabbitMQ pod's postStart hook; here it runs against a node of this module
alone (it changes users and permissions), through the same rabbitmqctl, and the rights are then tried as a
worker would use them."""

from __future__ import annotations

import os
import shlex
import subprocess
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

import aio_pika
import aiormq
import pytest

from hivekeeper.protocol import envelope as env
from hivekeeper.protocol import naming
from hivekeeper.worker.transports.rabbit import control as rabbit_control
from testbench.packages import DEBIAN_PACKAGES
from testbench.rabbitmq import RabbitMQ

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "helm" / "hivekeeper" / "files" / "rabbitmq-users.sh"
NAMESPACE_SCRIPT = REPO / "hack" / "broker-namespace-user.sh"


def _with_user(url: str, user: str, password: str) -> str:
    parts = urlsplit(url)
    host = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit(parts._replace(netloc=f"{quote(user, safe='')}:{quote(password, safe='')}@{host}"))


def _run(broker: RabbitMQ, script: Path, **variables: str) -> None:
    """Run ``script`` twice (it must be idempotent: a restarted pod runs it again) against ``broker``."""
    assert broker.ports is not None
    assert broker.workdir is not None
    ctl = Path(DEBIAN_PACKAGES["rabbitmq"][1]).with_name("rabbitmqctl")
    environment = {
        **os.environ,
        "HOME": str(broker.workdir),
        "ERL_EPMD_PORT": str(broker.ports[2]),
        "RABBITMQCTL": f"{shlex.quote(str(ctl))} -n {broker.node}",
        **variables,
    }
    for _ in range(2):
        done = subprocess.run(
            ["/bin/sh", str(script)], env=environment, capture_output=True, text=True, timeout=120, check=False
        )
        assert done.returncode == 0, done.stderr + done.stdout


def _run_script(broker: RabbitMQ, worker: str, password: str, **names: str) -> None:
    operator = urlsplit(broker.url).username or "guest"
    _run(broker, SCRIPT, OPERATOR_USER=operator, WORKER_USER=worker, WORKER_PASS=password, **names)


POCKETHIVE = naming.Exchanges(naming.POCKETHIVE_CONTROL_EXCHANGE, naming.POCKETHIVE_WORK_EXCHANGE)
PATTERNS = {  # as helm/hivekeeper/templates/rabbitmq.yaml renders them from the chart's `exchanges`
    naming.DEFAULT_EXCHANGES: {},
    POCKETHIVE: {"CONTROL_EXCHANGE": "ph.control", "EXCHANGE_PATTERN": r"ph\.control|ph\.[A-Za-z0-9_-]+\.hive"},
}


@pytest.mark.parametrize("exchanges", list(PATTERNS), ids=["our-exchanges", "pockethive-exchanges"])
async def test_the_worker_user_works_its_own_queues_and_cannot_send_signals(
    own_broker: RabbitMQ, exchanges: naming.Exchanges
) -> None:
    password = uuid.uuid4().hex
    operator = urlsplit(own_broker.url).username or "guest"
    before = own_broker.ctl("list_users", "--quiet", "--no-table-headers")
    _run_script(own_broker, "hivekeeper-worker", password, **PATTERNS[exchanges])
    users = own_broker.ctl("list_users", "--quiet", "--no-table-headers")
    tags = dict(line.split("\t", 1) for line in users.strip().splitlines())
    if "administrator" in before:  # the session's own broker: give its user back what the script took
        own_broker.ctl("set_user_tags", operator, "administrator")
    assert tags[operator].strip("[] ") == "", "the operator's user is no administrator"
    assert tags["hivekeeper-worker"].strip("[] ") == ""

    swarm = f"ns_{uuid.uuid4().hex[:6]}"
    connection = await aio_pika.connect(_with_user(own_broker.url, "hivekeeper-worker", password))
    try:
        channel = await connection.channel()
        queue = await rabbit_control.declare_work_queue(
            channel, exchanges.work_exchange(swarm), naming.work_queue(swarm, "call")
        )
        control = await channel.declare_exchange(exchanges.control, aio_pika.ExchangeType.TOPIC, durable=True)
        mine = await channel.declare_queue(naming.control_queue(swarm, "caller", "c-0"), exclusive=True)
        for binding in naming.control_bindings(swarm, "caller", "c-0"):
            await mine.bind(control, binding)
        scope = env.Scope(swarmId=swarm, role="caller", instance="c-0")
        status = env.metric("status-full", scope, {}, origin="c-0")
        await control.publish(
            aio_pika.Message(status.to_json()), naming.metric_key("status-full", swarm, "caller", "c-0")
        )
        await (await channel.get_exchange(exchanges.work_exchange(swarm))).publish(aio_pika.Message(b"{}"), queue.name)
        assert (await channel.declare_queue(queue.name, passive=True)).declaration_result.message_count == 1

        signal = env.signal("config-update", scope, {"baseUrl": "http://192.0.2.1"}, origin="intruder")
        refused = await connection.channel()  # publisher confirms: the publish waits for the broker's answer
        refused_control = await refused.get_exchange(exchanges.control)
        message = aio_pika.Message(signal.to_json())
        key = naming.signal_key("config-update", swarm, "ALL", "ALL")
        with pytest.raises(aiormq.exceptions.ChannelAccessRefused, match=r"signal\.config-update"):
            await refused_control.publish(message, key)
        other = await connection.channel()
        with pytest.raises(aiormq.exceptions.ChannelAccessRefused, match=r"team-b\.private"):
            await other.declare_exchange("team-b.private", aio_pika.ExchangeType.TOPIC)
    finally:
        await connection.close()


async def test_a_namespace_user_works_its_own_swarms_and_cannot_touch_another_teams(own_broker: RabbitMQ) -> None:
    """hack/broker-namespace-user.sh, as docs/operations.md tells a platform team to run it."""
    password = uuid.uuid4().hex
    _run(own_broker, NAMESPACE_SCRIPT, NAMESPACE="team-a", PASSWORD=password)
    mine, theirs = f"team-a_{uuid.uuid4().hex[:6]}", f"team-b_{uuid.uuid4().hex[:6]}"
    admin = await aio_pika.connect(own_broker.url)
    team = await aio_pika.connect(_with_user(own_broker.url, "hk-team-a", password))
    try:
        setup = await admin.channel()
        await rabbit_control.declare_work_queue(setup, naming.work_exchange(theirs), naming.work_queue(theirs, "call"))
        await setup.declare_exchange(naming.CONTROL_EXCHANGE, aio_pika.ExchangeType.TOPIC, durable=True)

        channel = await team.channel()
        queue = await rabbit_control.declare_work_queue(
            channel, naming.work_exchange(mine), naming.work_queue(mine, "call")
        )
        await (await channel.get_exchange(naming.work_exchange(mine))).publish(aio_pika.Message(b"{}"), queue.name)
        control = await channel.get_exchange(naming.CONTROL_EXCHANGE)
        scope = env.Scope(swarmId=mine, role="caller", instance="c-0")
        status = env.metric("status-full", scope, {}, origin="c-0").to_json()
        await control.publish(aio_pika.Message(status), naming.metric_key("status-full", mine, "caller", "c-0"))
        inbox = await channel.declare_queue(naming.control_queue(mine, "caller", "c-0"), exclusive=True)
        for binding in naming.control_bindings(mine, "caller", "c-0"):
            await inbox.bind(control, binding)

        async def refused(attempt: Callable[[aio_pika.abc.AbstractChannel], Awaitable[object]], what: str) -> None:
            with pytest.raises(aiormq.exceptions.ChannelAccessRefused):
                await attempt(await team.channel())
            assert not team.is_closed, f"{what}: only the channel closes"

        async def inject(ch: aio_pika.abc.AbstractChannel) -> object:
            return await (await ch.get_exchange(naming.work_exchange(theirs), ensure=False)).publish(
                aio_pika.Message(b"{}"), naming.work_queue(theirs, "call")
            )

        async def forge_status(ch: aio_pika.abc.AbstractChannel) -> object:
            key = naming.metric_key("status-full", theirs, "caller", "c-0")
            return await (await ch.get_exchange(naming.CONTROL_EXCHANGE)).publish(aio_pika.Message(status), key)

        async def send_signal(ch: aio_pika.abc.AbstractChannel) -> object:
            key = naming.signal_key("config-update", mine, "ALL", "ALL")
            return await (await ch.get_exchange(naming.CONTROL_EXCHANGE)).publish(aio_pika.Message(status), key)

        async def read_theirs(ch: aio_pika.abc.AbstractChannel) -> object:
            queue = await ch.declare_queue(naming.work_queue(theirs, "call"), passive=True)  # no right needed
            return await queue.get(fail=False)  # basic.get needs read on the queue

        await refused(inject, "an item into team-b's work exchange")
        await refused(forge_status, "a status event for team-b's swarm")
        await refused(send_signal, "a signal, even to its own swarm")
        await refused(read_theirs, "team-b's work queue")
    finally:
        await team.close()
        await admin.close()
