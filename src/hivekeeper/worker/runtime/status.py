"""Status: ``status-full`` and ``status-delta`` reports (stats, input and output states), and alerts."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from hivekeeper.protocol import envelope as env
from hivekeeper.protocol import naming
from hivekeeper.protocol.workitem import WorkItem
from hivekeeper.worker.inputs.csv_dataset import CsvDatasetSource
from hivekeeper.worker.inputs.redis_dataset import RedisDatasetSource
from hivekeeper.worker.inputs.scheduler import SchedulerSource
from hivekeeper.worker.ports import Batching, Blockable
from hivekeeper.worker.runtime.parts import WorkerParts

log = logging.getLogger("hivekeeper.worker")


class StatusReports(WorkerParts):
    """What a worker says about itself on the control exchange: status reports, every ``status_interval``
    seconds and on request, and alerts (repeats of a code within a window folded into one)."""

    def _time(self) -> float:
        return self._clock() if self._clock else asyncio.get_running_loop().time()

    def status_data(self, full: bool) -> dict[str, Any]:
        """A status report's ``data``: exactly the keys PocketHive's ``status-full`` / ``status-delta`` allow
        (docs/architecture.md §9); everything else of ours (the config generation, counters, latencies, the
        exact rate) lives in ``context``."""
        now_s = self._time()
        last_t, last_n = self._last_delta
        elapsed = now_s - last_t if last_t else 0.0
        rate = max(0.0, (self.stats.processed - last_n) / elapsed) if elapsed > 0 else 0.0
        io_state = {"work": {"input": self._input_state(), "output": self._output_state()}}
        context = {
            "configGeneration": self.state.generation,
            "processedPerSec": round(rate, 2),
            **self.stats.snapshot(recent=self.stats.latency.since(self._latency_mark)),
            **self.role.context(),
        }
        if isinstance(self.source, SchedulerSource):
            context["scheduler"] = self.source.context()
        elif isinstance(self.source, RedisDatasetSource):
            context["redisDataset"] = self.source.context()  # its state() gives ioState input out-of-data
        elif isinstance(self.source, CsvDatasetSource):
            context["csvDataset"] = self.source.context()
        guard = self.guard.context()
        if guard is not None:
            context["bufferGuard"] = guard
        if self.redis_output is not None:
            context["redisOutput"] = self.redis_output.context()
        if self.uploader is not None:
            context["redisUploader"] = self.uploader.context()
        if self.engine.budget_exceeded:  # renders refused by the template budget, by limit (items dropped)
            context["templateBudgetExceeded"] = dict(self.engine.budget_exceeded)
        sink = self.sink
        if isinstance(sink, Batching) and sink.messages:
            context["workOut"] = {"messages": sink.messages, "items": sink.items}
        output = self.output
        if output.refused or output.poisoned or output.retries or output.given_back:
            context["output"] = output.snapshot()
        data: dict[str, Any] = {
            "enabled": self.state.enabled,
            "tps": round(rate),  # the protocol's tps is a whole number; processedPerSec keeps the fraction
            "ioState": io_state,
            "context": context,
        }
        if full:
            data.update(
                {
                    "startedAt": self._started_at,
                    "config": self.state.config.model_dump(mode="json"),
                    "io": {
                        "work": {
                            "queues": {
                                "in": [self.identity.work_in] if self.identity.work_in else [],
                                "out": [self.identity.work_out] if self.identity.work_out else [],
                            }
                        },
                        "control": {"queues": {"in": [self.control_queue]}},
                    },
                }
            )
        return data

    def _input_state(self) -> str:
        """The input's state; ``backpressure`` while the buffer guard slows a healthy input."""
        state = self.source.state()
        return "backpressure" if state == "ok" and self.guard.throttled else state

    def _output_state(self) -> str:
        """The output's state; ``blocked`` also when the broker blocked it since the last status-delta and
        has unblocked it since: the block also held that status-delta back, so this is the first report."""
        sink = self.sink
        if sink is None:
            return "ok"
        state = sink.state()
        if state == "ok" and isinstance(sink, Blockable) and sink.blocks() != self._blocks_reported:
            return "blocked"
        return state

    async def emit_status(self, kind: str) -> None:
        data = self.status_data(full=kind == "status-full")
        if kind == "status-delta":
            self._last_delta = (self._time(), self.stats.processed)
            self._latency_mark = self.stats.latency.copy()
            if isinstance(self.sink, Blockable):
                self._blocks_reported = self.sink.blocks()
        message = env.metric(
            kind, self.identity.scope, data, origin=self.identity.instance, runtime=self.identity.runtime
        )
        key = naming.metric_key(kind, self.identity.swarm, self.identity.role, self.identity.instance)
        await self.transports.control.publish(key, message.to_json())

    async def _status_loop(self) -> None:
        self._last_delta = (self._time(), self.stats.processed)
        self._latency_mark = self.stats.latency.copy()
        while True:
            await asyncio.sleep(self.status_interval)
            with contextlib.suppress(Exception):
                for pending in self._throttle.flush(self._time()):
                    await self._publish_alert(pending.code, pending.message, pending.context, pending.level)
            try:
                await self.emit_status("status-delta")
            except Exception:
                log.warning("could not publish status-delta", extra=self._log_fields(), exc_info=True)

    def alert(self, code: str, message: str, context: dict[str, Any], level: env.AlertLevel = "error") -> None:
        """Raise an alert; repeats of a code within a window are folded into one with a count."""
        pending = self._throttle.offer(self._time(), code, message, context, level)
        if pending is not None:
            log.warning("%s: %s", code, message, extra=self._log_fields())
            task = asyncio.get_running_loop().create_task(
                self._publish_alert(pending.code, pending.message, pending.context, pending.level)
            )
            self._background.append(task)
            task.add_done_callback(self._forget)

    def _forget(self, task: asyncio.Task[None]) -> None:
        with contextlib.suppress(ValueError):
            self._background.remove(task)

    async def _publish_alert(self, code: str, message: str, context: dict[str, Any], level: env.AlertLevel) -> None:
        alert = env.alert(
            code,
            message,
            self.identity.scope,
            origin=self.identity.instance,
            level=level,
            context=context,
            runtime=self.identity.runtime,
        )
        key = naming.alert_key(self.identity.swarm, self.identity.role, self.identity.instance)
        with contextlib.suppress(Exception):
            await self.transports.control.publish(key, alert.to_json())

    def _log_fields(self, item: WorkItem | None = None) -> dict[str, Any]:
        fields = {"swarmId": self.identity.swarm, "role": self.identity.role, "instance": self.identity.instance}
        if item is not None:
            fields["correlationId"] = item.correlation_id
        return fields
