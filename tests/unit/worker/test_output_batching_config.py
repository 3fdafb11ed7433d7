"""``outputs.batching`` reaches a sink that batches: at start and on a live config-update; off means one item per
message; bounds out of range are refused naming the field."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from hivekeeper.api.roles.outputs import OutputBatching, Outputs
from hivekeeper.protocol import envelope as env
from hivekeeper.protocol import naming
from hivekeeper.worker.identity import Identity
from hivekeeper.worker.inputs.memory import MemorySource
from hivekeeper.worker.outputs.memory import MemoryDeadLetters
from hivekeeper.worker.ports import ControlMessage
from hivekeeper.worker.runtime.parts import configure_batching
from hivekeeper.worker.runtime.worker import Worker
from hivekeeper.worker.transports.memory import MemoryBroker, MemoryControlBus
from testbench.waiting import eventually

SWARM = "unit"


class BatchingSink:
    """Records the bounds it is given (as ``RabbitSink.configure_batching`` takes them)."""

    def __init__(self) -> None:
        self.bounds: list[tuple[int, int]] = []
        self.messages = 0
        self.items = 0

    def configure_batching(self, max_items: int, max_bytes: int) -> None:
        self.bounds.append((max_items, max_bytes))

    async def publish(self, body: bytes) -> None:
        return None

    def state(self) -> str:
        return "ok"

    async def close(self) -> None:
        return None


class Transports:
    def __init__(self) -> None:
        self.broker = MemoryBroker()
        self._control = MemoryControlBus(self.broker, naming.CONTROL_EXCHANGE)
        self.output = BatchingSink()

    @property
    def control(self) -> MemoryControlBus:
        return self._control

    def source(self, identity: Identity, prefetch: int) -> MemorySource:
        assert identity.work_in is not None
        return MemorySource(self.broker.declare_queue(identity.work_in))

    def sink(self, identity: Identity) -> BatchingSink:
        return self.output

    def dead_letters(self, identity: Identity) -> MemoryDeadLetters:
        return MemoryDeadLetters()

    async def queue_depth(self, queue: str) -> int:
        return self.broker.queues[queue].depth


def test_the_defaults_batch_up_to_128_items_and_256_kib() -> None:
    sink = BatchingSink()
    configure_batching(sink, Outputs().batching)
    assert sink.bounds == [(128, 262144)]


def test_batching_disabled_gives_the_sink_one_item_per_message() -> None:
    sink = BatchingSink()
    configure_batching(sink, OutputBatching(enabled=False, maxItems=50))
    assert sink.bounds == [(1, 262144)]


@pytest.mark.parametrize(
    ("field", "value"), [("maxItems", 0), ("maxItems", 1025), ("maxBytes", 1023), ("maxBytes", 16 * 1024 * 1024 + 1)]
)
def test_bounds_out_of_range_are_refused_naming_the_field(field: str, value: int) -> None:
    with pytest.raises(ValidationError, match=field):
        OutputBatching.model_validate({field: value})


async def test_a_worker_configures_its_sink_at_start_and_again_on_a_live_config_update() -> None:
    transports = Transports()
    identity = Identity(
        swarm=SWARM,
        role="builder",
        kind="request-builder",
        instance="builder-0",
        work_in=naming.work_queue(SWARM, "in"),
        work_out=naming.work_routing_key(SWARM, "out"),
    )
    base = {"serviceId": "x", "passThroughOnMissingTemplate": True}
    worker = Worker(identity, base, transports, status_interval=60)
    events: list[env.Envelope] = []

    async def record(message: ControlMessage) -> None:
        events.append(env.parse(message.body))

    await transports.control.listen("events", [naming.events_binding(SWARM)], record)
    await worker.start()
    try:
        assert transports.output.bounds == [(128, 262144)]
        config: dict[str, Any] = {"outputs": {"batching": {"maxItems": 16, "maxBytes": 4096}}, "enabled": True}
        signal = env.signal("config-update", worker.identity.scope, config, origin="test")
        await transports.control.publish(
            naming.signal_key("config-update", SWARM, "builder", "builder-0"), signal.to_json()
        )

        async def applied() -> bool:
            return any(e.kind == "outcome" and e.data["status"] == "Applied" for e in events)

        await eventually(applied, timeout=5, what="the config-update applied")
        assert transports.output.bounds[-1] == (16, 4096)
    finally:
        await worker.stop()
        await transports.control.close()


async def test_the_buffer_guard_reads_its_own_output_queue_in_items_and_another_queue_in_messages() -> None:
    transports = Transports()
    out, other = naming.work_queue(SWARM, "out"), naming.work_queue(SWARM, "later")
    for queue in (out, other):
        for n in range(10):
            await transports.broker.declare_queue(queue).queue.put(b"%d" % n)  # 10 messages each
    identity = Identity(swarm=SWARM, role="feeder", kind="generator", instance="feeder-0", work_out=out)
    worker = Worker(identity, {"inputs": {"scheduler": {"ratePerSec": 1}}}, transports, status_interval=60)
    assert await worker._guarded_depth(out) == 10, "nothing sent yet: no mean to apply"
    transports.output.messages, transports.output.items = 4, 100  # 25 items per message on average

    assert await worker._guarded_depth(out) == 250
    assert await worker._guarded_depth(other) == 10
