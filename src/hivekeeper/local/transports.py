"""The in-memory transports ``hivekeeper run`` gives every worker of a local swarm."""

from __future__ import annotations

from hivekeeper.protocol import naming
from hivekeeper.worker.memory import MemoryBroker, MemoryControlBus, MemorySink, MemorySource
from hivekeeper.worker.ports import WorkSink, WorkSource
from hivekeeper.worker.runtime import Identity


class MemoryTransports:
    def __init__(self, broker: MemoryBroker, swarm: str) -> None:
        self.broker = broker
        self.swarm = swarm
        self.control = MemoryControlBus(broker, naming.CONTROL_EXCHANGE)

    def declare_work_queue(self, alias: str) -> str:
        name = naming.work_queue(self.swarm, alias)
        self.broker.declare_queue(name)
        self.broker.bind(naming.work_exchange(self.swarm), name, naming.work_routing_key(self.swarm, alias))
        return name

    def source(self, identity: Identity, prefetch: int) -> WorkSource:
        assert identity.work_in is not None, f"role {identity.role} has no work.in queue"
        return MemorySource(self.broker.declare_queue(identity.work_in))

    def sink(self, identity: Identity) -> WorkSink:
        assert identity.work_out is not None, f"role {identity.role} has no work.out queue"
        return MemorySink(self.broker, naming.work_exchange(self.swarm), identity.work_out)
