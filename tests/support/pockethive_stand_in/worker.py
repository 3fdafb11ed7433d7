"""A stand-in for one of PocketHive's own worker images, speaking exactly what was measured from a real one.

It runs in the test's process on aio-pika against the real broker, and knows nothing of hivekeeper's code: the
names, bindings and message shapes are written out here from the facts (issue 16, item 9; the spec in
shared/reference), so a test that passes against it checks our side against those facts, not against itself.

- It reads its broker as ``SPRING_RABBITMQ_HOST/PORT/USERNAME/PASSWORD/VIRTUAL_HOST`` and its identity and wiring
  as ``POCKETHIVE_*`` variables, and refuses to start, naming every one that is missing.
- Its control queue ``<prefix>.<swarm>.<role>.<instance>`` binds ``signal.config-update`` and
  ``signal.status-request`` only for ``<swarm>.ALL.ALL``, ``ALL.<role>.ALL``, ``<swarm>.<role>.ALL`` and
  ``<swarm>.<role>.<instance>``.
- A config-update is deep-merged into its config (unknown keys kept and echoed, ``configGeneration`` among them);
  it answers ``Applied`` (with ``enabled``, no generation) or ``Failed`` (``context.exception``, no
  ``requestedGeneration``, plus an alert), then a status-full that carries no ``configGeneration`` either. A
  signal without ``correlationId`` or ``idempotencyKey`` gets no outcome.
- As a generator (an output routing key and no input queue) it publishes, while enabled, up to
  ``inputs.scheduler.maxMessages`` WorkItems at ``inputs.scheduler.ratePerSec`` whose hops carry epoch
  milliseconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import time
import uuid
from collections.abc import Mapping
from typing import Any

import aio_pika
import orjson

REQUIRED = (
    "SPRING_RABBITMQ_HOST",
    "SPRING_RABBITMQ_PORT",
    "SPRING_RABBITMQ_USERNAME",
    "SPRING_RABBITMQ_PASSWORD",
    "SPRING_RABBITMQ_VIRTUAL_HOST",
    "POCKETHIVE_CONTROL_PLANE_EXCHANGE",
    "POCKETHIVE_CONTROL_PLANE_SWARM_ID",
    "POCKETHIVE_CONTROL_PLANE_INSTANCE_ID",
    "POCKETHIVE_CONTROL_PLANE_WORKER_ROLE",
    "POCKETHIVE_CONTROL_PLANE_CONTROL_QUEUE_PREFIX",
    "POCKETHIVE_OUTPUT_RABBIT_EXCHANGE",
    "POCKETHIVE_TEMPLATE_ID",
    "POCKETHIVE_JOURNAL_RUN_ID",
)


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _merge(into: dict[str, Any], patch: Mapping[str, Any]) -> dict[str, Any]:
    """Deep merge: maps merge, lists and scalars replace, nulls are dropped."""
    merged = dict(into)
    for key, value in patch.items():
        if value is None:
            continue
        held = merged.get(key)
        merged[key] = _merge(held, value) if isinstance(held, dict) and isinstance(value, Mapping) else value
    return merged


def _bind_check(config: Mapping[str, Any]) -> None:
    """Binding the merged config to the worker's typed config: the failures a real one reports."""
    scheduler = (config.get("inputs") or {}).get("scheduler") or {}
    rate = scheduler.get("ratePerSec", 0)
    if not isinstance(rate, int | float) or rate < 0:
        raise ValueError(f"IllegalArgumentException: inputs.scheduler.ratePerSec must be >= 0, got {rate}")


class PocketHiveWorker:
    """One worker instance; ``start()`` connects and reports, ``stop()`` disconnects."""

    def __init__(self, environ: Mapping[str, str], *, delta_interval: float = 1.0) -> None:
        missing = [name for name in REQUIRED if not environ.get(name)]
        if missing:
            raise RuntimeError(f"the worker cannot start, missing: {', '.join(missing)}")
        self.env = dict(environ)
        self.swarm = environ["POCKETHIVE_CONTROL_PLANE_SWARM_ID"]
        self.role = environ["POCKETHIVE_CONTROL_PLANE_WORKER_ROLE"]
        self.instance = environ["POCKETHIVE_CONTROL_PLANE_INSTANCE_ID"]
        self.control_queue = ".".join(
            (environ["POCKETHIVE_CONTROL_PLANE_CONTROL_QUEUE_PREFIX"], self.swarm, self.role, self.instance)
        )
        self.delta_interval = delta_interval
        self.enabled = False
        self.config: dict[str, Any] = {}
        self.started_at = _now()
        self.received: list[str] = []
        """Routing keys of every signal that reached the control queue."""
        self.sent: list[dict[str, Any]] = []
        """Every control message it published."""
        self.published = 0
        self._tasks: list[asyncio.Task[None]] = []

    def bindings(self) -> list[str]:
        scopes = (
            f"{self.swarm}.ALL.ALL",
            f"ALL.{self.role}.ALL",
            f"{self.swarm}.{self.role}.ALL",
            f"{self.swarm}.{self.role}.{self.instance}",
        )
        return [f"signal.{kind}.{scope}" for kind in ("config-update", "status-request") for scope in scopes]

    async def start(self) -> None:
        env = self.env
        self.connection = await aio_pika.connect(
            host=env["SPRING_RABBITMQ_HOST"],
            port=int(env["SPRING_RABBITMQ_PORT"]),
            login=env["SPRING_RABBITMQ_USERNAME"],
            password=env["SPRING_RABBITMQ_PASSWORD"],
            virtualhost=env["SPRING_RABBITMQ_VIRTUAL_HOST"],
        )
        self.channel = await self.connection.channel()
        self.control = await self.channel.declare_exchange(
            env["POCKETHIVE_CONTROL_PLANE_EXCHANGE"], aio_pika.ExchangeType.TOPIC, durable=True
        )
        queue = await self.channel.declare_queue(self.control_queue, exclusive=True)
        for key in self.bindings():
            await queue.bind(self.control, key)
        await queue.consume(self._on_signal)
        await self._status("status-full")
        self._tasks.append(asyncio.create_task(self._deltas()))
        if env.get("POCKETHIVE_OUTPUT_RABBIT_ROUTING_KEY") and not env.get("POCKETHIVE_INPUT_RABBIT_QUEUE"):
            self._tasks.append(asyncio.create_task(self._generate()))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.connection.close()

    async def _send(self, kind: str, type_: str, data: dict[str, Any], key: str, **ids: str | None) -> None:
        message = {
            "timestamp": _now(),
            "version": "1",
            "kind": kind,
            "type": type_,
            "origin": self.instance,
            "scope": {"swarmId": self.swarm, "role": self.role, "instance": self.instance},
            "correlationId": ids.get("correlationId"),
            "idempotencyKey": ids.get("idempotencyKey"),
            "data": data,
            "runtime": {
                "templateId": self.env["POCKETHIVE_TEMPLATE_ID"],
                "runId": self.env["POCKETHIVE_JOURNAL_RUN_ID"],
                "containerId": None,
                "image": None,
                "stackName": None,
            },
        }
        self.sent.append(message)
        await self.control.publish(
            aio_pika.Message(orjson.dumps(message), content_type="application/json"),
            f"{key}.{self.swarm}.{self.role}.{self.instance}",
        )

    async def _status(self, type_: str) -> None:
        data: dict[str, Any] = {
            "enabled": self.enabled,
            "tps": 0,
            "ioState": {"work": {"input": "ok", "output": "ok"}},
            "context": {"published": self.published},
        }
        if type_ == "status-full":
            out = self.env.get("POCKETHIVE_OUTPUT_RABBIT_ROUTING_KEY")
            data |= {
                "startedAt": self.started_at,
                "config": self.config,
                "io": {
                    "work": {"queues": {"out": [out] if out else []}},
                    "control": {"queues": {"in": [self.control_queue]}},
                },
            }
        await self._send("metric", type_, data, f"event.metric.{type_}")

    async def _deltas(self) -> None:
        while True:
            await asyncio.sleep(self.delta_interval)
            await self._status("status-delta")

    async def _on_signal(self, message: aio_pika.abc.AbstractIncomingMessage) -> None:
        async with message.process():
            self.received.append(message.routing_key or "")
            signal = orjson.loads(message.body)
            ids = {"correlationId": signal.get("correlationId"), "idempotencyKey": signal.get("idempotencyKey")}
            if signal.get("type") == "status-request":
                await self._status("status-full")
                return
            if signal.get("type") != "config-update":
                return
            patch = dict(signal.get("data") or {})
            enabled = patch.pop("enabled", None)
            try:
                merged = _merge(self.config, patch)
                _bind_check(merged)
            except ValueError as exc:
                if all(ids.values()):
                    context = {"worker": f"{self.role}Worker", "exception": str(exc)}
                    failed = {"status": "Failed", "retryable": False, "context": context}
                    await self._send("outcome", "config-update", failed, "event.outcome.config-update", **ids)
                alert = {"level": "error", "code": "IllegalArgumentException", "message": str(exc)}
                await self._send("event", "alert", {**alert, "context": {"phase": "apply"}}, "event.alert.alert")
                return
            self.config = merged
            if isinstance(enabled, bool):
                self.enabled = enabled
            if all(ids.values()):
                context = {"worker": f"{self.role}Worker", "config": merged, "data": {"enabled": self.enabled}}
                applied = {"status": "Applied", "enabled": self.enabled, "context": context}
                await self._send("outcome", "config-update", applied, "event.outcome.config-update", **ids)
            await self._status("status-full")

    async def _generate(self) -> None:
        exchange = await self.channel.get_exchange(self.env["POCKETHIVE_OUTPUT_RABBIT_EXCHANGE"], ensure=False)
        key = self.env["POCKETHIVE_OUTPUT_RABBIT_ROUTING_KEY"]
        while True:
            scheduler = (self.config.get("inputs") or {}).get("scheduler") or {}
            rate, limit = float(scheduler.get("ratePerSec") or 0), int(scheduler.get("maxMessages") or 0)
            if not self.enabled or rate <= 0 or (limit and self.published >= limit):
                await asyncio.sleep(0.05)
                continue
            await exchange.publish(
                aio_pika.Message(
                    self._item(str((self.config.get("message") or {}).get("body", ""))),
                    content_type="application/json",
                    delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                ),
                key,
            )
            self.published += 1
            await asyncio.sleep(1 / rate)

    def _item(self, body: str) -> bytes:
        message_id, stamp = str(uuid.uuid4()), int(time.time() * 1000)
        step_headers = {"ph.step.service": self.role, "ph.step.instance": self.instance}
        return orjson.dumps(
            {
                "version": "1",
                "headers": {"swarmId": self.swarm, "instanceId": self.instance, "x-ph-seq": self.published},
                "messageId": message_id,
                "contentType": "application/json",
                "steps": [{"index": 0, "payload": body, "payloadEncoding": "utf-8", "headers": step_headers}],
                "observability": {
                    "traceId": message_id.replace("-", ""),
                    "swarmId": self.swarm,
                    "hops": [
                        {"service": self.role, "instance": self.instance, "receivedAt": stamp, "processedAt": stamp}
                    ],
                },
            }
        )
