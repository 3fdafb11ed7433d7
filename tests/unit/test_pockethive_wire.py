"""Every kind of control message we emit is in PocketHive's wire format (tests/support/pockethive_wire), and the
schemas written from its facts refuse what those facts forbid."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest

from hivekeeper.local.controller import LocalController
from hivekeeper.operator.effects import signal_message
from hivekeeper.protocol import envelope as env
from hivekeeper.protocol import naming
from hivekeeper.protocol.signing import SIGNATURE_HEADER, Signer
from hivekeeper.worker.ports import ControlMessage
from hivekeeper.worker.transports.memory import MemoryBroker, MemoryControlBus
from pockethive_wire import problems
from testbench.waiting import eventually
from testbench.workers import WorkerHarness

SWARM = "wire"
SCOPE = env.Scope(swarmId=SWARM, role="feeder", instance="feeder-0")
RUNTIME = {"templateId": SWARM, "runId": "r-1"}
GENERATOR = {"inputs": {"scheduler": {"ratePerSec": 50}}, "message": {"body": "{}"}}


def _conforming(body: bytes) -> dict[str, Any]:
    assert problems(body) == [], orjson.loads(body)
    loaded: dict[str, Any] = orjson.loads(body)
    return loaded


def _status(kind: str, data: dict[str, Any]) -> bytes:
    return env.metric(kind, SCOPE, data, origin="feeder-0", runtime=RUNTIME).to_json()


FULL = {"enabled": True, "config": {}, "tps": 3, "startedAt": "t", "io": {}, "ioState": {}, "context": {}}


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ({**orjson.loads(env.signal("config-update", SCOPE, {}, origin="op").to_json()), "runtime": None}, "runtime"),
        (
            {**orjson.loads(env.signal("config-update", SCOPE, {}, origin="op").to_json()), "signature": "x"},
            "signature",
        ),
        (
            orjson.loads(env.metric("status-delta", SCOPE, {"enabled": True, "ioState": {}}, origin="i").to_json()),
            "runtime",
        ),
        (orjson.loads(_status("status-full", {**FULL, "tps": 2.5})), "data.tps: 2.5 is not of type 'integer'"),
        (orjson.loads(_status("status-full", {**FULL, "tps": -1})), "data.tps: -1 is less than the minimum of 0"),
        (orjson.loads(_status("status-full", {**FULL, "configGeneration": 1})), "'configGeneration' was unexpected"),
        (orjson.loads(_status("status-full", {"enabled": True, "ioState": {}})), "'config' is a required property"),
        (orjson.loads(_status("status-delta", {**FULL})), "'config', 'io', 'startedAt' were unexpected"),
        (orjson.loads(_status("status-delta", {"enabled": True})), "'ioState' is a required property"),
    ],
)
def test_the_schemas_refuse_what_pockethives_facts_forbid(body: dict[str, Any], problem: str) -> None:
    found = problems(orjson.dumps(body))
    assert any(problem in p for p in found), found


def test_a_status_full_and_delta_of_only_the_protocols_keys_conform() -> None:
    _conforming(_status("status-full", FULL))
    _conforming(_status("status-delta", {"enabled": False, "tps": 0, "ioState": {"work": {}}, "context": {"x": 1}}))


def test_the_operators_config_update_and_status_request_conform_signed_or_not() -> None:
    push = {"ratePerSec": 5, "replace": True, "enabled": True, "configGeneration": 3}
    everyone = env.Scope(swarmId=naming.ALL, role=naming.ALL, instance=naming.ALL)
    for signer in (None, Signer.generate()):
        for signal in (
            env.signal(
                "config-update", env.Scope(swarmId="ns_s", role="caller", instance=naming.ALL), push, origin="o"
            ),
            env.signal("status-request", everyone, {}, origin="hivekeeper-operator"),
        ):
            message = signal_message(signal, signer)
            assert _conforming(message.body)["data"] == signal.data
            assert (SIGNATURE_HEADER in (message.headers or {})) is (signer is not None), "signed beside the body"


async def test_the_local_controllers_signals_conform() -> None:
    bus = MemoryControlBus(MemoryBroker(), naming.CONTROL_EXCHANGE)
    sent: list[bytes] = []

    async def record(message: ControlMessage) -> None:
        sent.append(message.body)

    await bus.listen("signals", ["signal.#"], record)
    controller = LocalController(bus, SWARM)
    with pytest.raises(Exception, match="did not answer"):  # nobody answers: only what it sends matters here
        await controller.send("config-update", "feeder", "feeder-0", {"enabled": True}, timeout=0.2)
    await bus.close()
    assert [_conforming(body)["type"] for body in sent] == ["config-update"]


@pytest.fixture
async def harness() -> AsyncIterator[WorkerHarness]:
    """Checks every event against PocketHive's wire format as it arrives; its stop fails on any that is not."""
    h = WorkerHarness(SWARM, check_schema=True)
    await h.start()
    yield h
    await h.stop()


async def test_every_kind_a_worker_emits_conforms(harness: WorkerHarness) -> None:
    worker = await harness.worker("feeder", "generator", GENERATOR, work_out="out", status_interval=0.1)
    applied = await harness.configure(worker, {"enabled": True, "configGeneration": 1})
    failed = await harness.configure(worker, {"inputs": {"scheduler": {"ratePerSec": -1}}})
    answered = await harness.signal(worker, "status-request")
    unknown = await harness.signal(worker, "self-destruct")
    assert answered is not None
    assert unknown is not None
    assert [o.data["status"] for o in (applied, failed, answered, unknown)] == [
        "Applied",
        "Failed",
        "Applied",
        "Failed",
    ]

    async def every_kind() -> bool:
        kinds = {(e.kind, e.type) for e in harness.events}
        return {("metric", "status-full"), ("metric", "status-delta"), ("event", "alert")} <= kinds

    await eventually(every_kind, timeout=5, what="a status-full, a status-delta and an alert")
    for event in harness.events:
        _conforming(event.to_json())
    delta = harness.of("metric", "status-delta")[-1].data
    assert set(delta) == {"enabled", "tps", "ioState", "context"}
    assert isinstance(delta["tps"], int)
    assert delta["context"]["configGeneration"] == 1, "ours, in the context"
    assert isinstance(delta["context"]["processedPerSec"], float | int)
    assert harness.nonconforming == []
