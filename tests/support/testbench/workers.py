"""Workers on the in-memory work and control transports (as ``hivekeeper run`` wires them), with every
control event they publish recorded: the harness of the runtime's unit tests and of the integration
tests that put real Redis stores or real HTTP services behind a worker."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from pathlib import Path
from typing import Any

import jsonschema
import orjson

import pockethive_wire
from hivekeeper.local.transports import MemoryTransports
from hivekeeper.protocol import envelope as env
from hivekeeper.protocol import naming
from hivekeeper.protocol.schemas import schemas
from hivekeeper.worker.identity import Identity
from hivekeeper.worker.ports import ControlMessage, DataStore
from hivekeeper.worker.runtime.worker import Worker
from hivekeeper.worker.transports.memory import MemoryBroker
from testbench.waiting import eventually


def first_instance(swarm: str, role: str, kind: str, *, in_queue: str | None, out_alias: str | None) -> Identity:
    """The identity of instance ``<role>-0``: consuming ``in_queue``, publishing to the ``out_alias`` queue."""
    return Identity(
        swarm=swarm,
        role=role,
        kind=kind,
        instance=f"{role}-0",
        work_in=in_queue,
        work_out=naming.work_routing_key(swarm, out_alias) if out_alias else None,
    )


class WorkerHarness:
    """A memory broker, the transports, the workers started on them, and every event they publish.

    With ``check_schema``, every event is validated against the control-envelope schema as it arrives, and
    checked against PocketHive's wire format (``pockethive_wire``): what does not conform is kept in
    ``nonconforming``, and :meth:`stop` fails on it.
    """

    def __init__(self, swarm: str, store: DataStore | None = None, *, check_schema: bool = False) -> None:
        self.swarm = swarm
        self.broker = MemoryBroker()
        self.transports = MemoryTransports(self.broker, swarm)
        self.store = store
        self.events: list[env.Envelope] = []
        self.workers: list[Worker] = []
        self._schema = schemas()["control-envelope.schema.json"] if check_schema else None
        self.nonconforming: list[str] = []

    async def start(self) -> None:
        async def record(message: ControlMessage) -> None:
            if self._schema is not None:
                jsonschema.validate(orjson.loads(message.body), self._schema)
                self.nonconforming.extend(pockethive_wire.problems(message.body))
            self.events.append(env.parse(message.body))

        await self.transports.control.listen("events", [naming.events_binding(self.swarm)], record)

    async def worker(
        self,
        role: str,
        kind: str,
        config: dict[str, Any],
        *,
        work_in: str | None = None,
        work_out: str | None = None,
        status_interval: float = 0.2,
        index: int = 0,
        datasets: Path | None = None,
    ) -> Worker:
        """A started (still disabled) worker ``<role>-<index>``; its queues are declared; ``datasets`` is where
        it reads relative dataset files."""
        in_queue = self.transports.declare_work_queue(work_in) if work_in else None
        identity = first_instance(self.swarm, role, kind, in_queue=in_queue, out_alias=work_out)
        identity = dataclasses.replace(identity, instance=f"{role}-{index}")
        if work_out:
            self.transports.declare_work_queue(work_out)
        worker = Worker(
            identity, config, self.transports, status_interval=status_interval, store=self.store, datasets=datasets
        )
        await worker.start()
        self.workers.append(worker)
        return worker

    async def signal(
        self,
        worker: Worker,
        type_: str,
        data: dict[str, Any] | None = None,
        *,
        raw: bytes | None = None,
        idempotency_key: str | None = None,
        timeout: float = 15,
    ) -> env.Envelope | None:
        """Send a signal (or ``raw`` bytes in its place) and return its outcome (``None`` for raw bytes)."""
        ident = worker.identity
        sig = env.signal(
            type_, ident.scope, data or {}, origin="test", idempotency_key=idempotency_key or uuid.uuid4().hex
        )
        key = naming.signal_key(type_, self.swarm, ident.role, ident.instance)
        await self.transports.control.publish(key, raw if raw is not None else sig.to_json())
        if raw is not None:
            return None

        async def answered() -> env.Envelope | None:
            return next((e for e in self.events if e.kind == "outcome" and e.correlationId == sig.correlationId), None)

        return await eventually(answered, timeout=timeout, what=f"the outcome of {type_}")

    async def configure(self, worker: Worker, data: dict[str, Any]) -> env.Envelope:
        """A config-update's outcome."""
        outcome = await self.signal(worker, "config-update", data)
        assert outcome is not None
        return outcome

    async def enable(self, *workers: Worker) -> None:
        for worker in workers:
            outcome = await self.configure(worker, {"enabled": True})
            assert outcome.data["status"] == "Applied", outcome.data

    def of(self, kind: str, type_: str) -> list[env.Envelope]:
        return [e for e in self.events if e.kind == kind and e.type == type_]

    def alerts(self, code: str) -> list[env.Envelope]:
        return [e for e in self.of("event", "alert") if e.data["code"] == code]

    def queue(self, alias: str) -> asyncio.Queue[bytes]:
        return self.broker.queues[naming.work_queue(self.swarm, alias)].queue

    def drain(self, alias: str) -> list[dict[str, Any]]:
        """Take every item waiting in a queue, parsed."""
        queue, items = self.queue(alias), []
        while queue.qsize():
            items.append(orjson.loads(queue.get_nowait()))
        return items

    async def stop(self) -> None:
        for worker in self.workers:
            await worker.stop()
        await self.transports.control.close()
        assert not self.nonconforming, f"events not in PocketHive's wire format: {self.nonconforming[:5]}"
