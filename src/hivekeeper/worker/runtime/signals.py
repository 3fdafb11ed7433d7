"""Signals: the control queue's config-updates and status-requests, each answered with one outcome."""

from __future__ import annotations

import logging
from typing import Any

from hivekeeper.api.roles import ConfigError
from hivekeeper.protocol import envelope as env
from hivekeeper.protocol import naming
from hivekeeper.templating.engine import TemplateError
from hivekeeper.worker.auth.profiles import Authenticator
from hivekeeper.worker.control import StaleGeneration, WorkerState, apply_update
from hivekeeper.worker.http.client import HttpClient
from hivekeeper.worker.inputs.csv_dataset import CsvDatasetSource
from hivekeeper.worker.inputs.redis_dataset import RedisDatasetSource
from hivekeeper.worker.inputs.scheduler import SchedulerSource
from hivekeeper.worker.outputs import redis_push
from hivekeeper.worker.ports import ControlMessage
from hivekeeper.worker.roles.base import Role
from hivekeeper.worker.runtime.lifecycle import Lifecycle
from hivekeeper.worker.runtime.parts import DRAIN_ON_DISABLE, SIGNAL_TYPES, concurrency, configure_batching

log = logging.getLogger("hivekeeper.worker")


class Signals(Lifecycle):
    """A config-update is validated and swapped in whole, or rejected whole with the old config kept, and
    answered with exactly one outcome; ``enabled`` starts and stops work."""

    async def on_control(self, message: ControlMessage) -> None:
        try:
            signal = env.parse(message.body)
        except env.EnvelopeError as exc:
            self.alert("control.invalid-message", str(exc), {"queue": self.control_queue})
            return
        if signal.kind != "signal":
            self.alert(
                "control.unexpected-kind",
                f"ignored a {signal.kind!r} on the control queue; only signals are accepted there",
                {"type": signal.type},
            )
            return
        if signal.type == "config-update":
            await self._config_update(signal)
        elif signal.type == "status-request":
            await self.emit_status("status-full")
            await self._answer(signal, "Applied", {"reported": "status-full"})
        else:
            reason = f"unknown signal type {signal.type!r}; this worker understands {', '.join(SIGNAL_TYPES)}"
            self.alert("control.unknown-signal", reason, {"type": signal.type})
            await self._answer(signal, "Failed", {"reason": reason})

    async def _config_update(self, signal: env.Envelope) -> None:
        try:
            new_state = apply_update(self.state, signal.data)
            new_role, new_http, new_auth = self._build_role(new_state)
            await self._swap(new_state, new_role, new_http, new_auth)
        except Exception as exc:  # whatever goes wrong, the operator gets an outcome: never silence
            await self._refuse(signal, exc)
            return
        await self._answer(
            signal,
            "Applied",
            {"configGeneration": new_state.generation},
            extra={"enabled": new_state.enabled, "configGeneration": new_state.generation},
        )
        await self.emit_status("status-full")

    async def _refuse(self, signal: env.Envelope, exc: Exception) -> None:
        """Answer ``Failed`` for a config that could not be applied; the old one stays in force."""
        if isinstance(exc, ConfigError):
            problems, reason = exc.problems, str(exc)
        elif isinstance(exc, TemplateError):  # a template that does not compile or breaks the budget
            problems, reason = [(exc.template, exc.problem)], str(exc)
        else:  # a bug of ours, a RecursionError, a MemoryError: said as it is, and logged with its traceback
            reason = f"the config could not be applied: {type(exc).__name__}: {exc}"
            problems = [("config", reason)]
            log.error("config-update failed", extra=self._log_fields(), exc_info=exc)
        context = {"problems": [{"path": p, "message": m} for p, m in problems]}
        if isinstance(exc, StaleGeneration):  # a late message, not a bad config: worth a warning, not an error
            self.alert("config.stale", reason, context, level="warning")
        else:
            self.alert("config.rejected", reason, context)
        await self._answer(
            signal,
            "Failed",
            {
                "reason": reason,
                "problems": [{"path": p, "message": m} for p, m in problems],
                "configGeneration": self.state.generation,
            },
            extra={
                "enabled": self.state.enabled,
                "configGeneration": self.state.generation,
                # which generation was refused, so the operator can tell "rejected" from "not yet"
                "requestedGeneration": signal.data.get("configGeneration"),
            },
        )

    async def _swap(
        self, new_state: WorkerState, new_role: Role, new_http: HttpClient | None, new_auth: Authenticator
    ) -> None:
        old_http, self.http = self.http, new_http
        old_auth, self.auth = self.auth, new_auth
        if old_auth is not new_auth:
            old_auth.close(keep=new_auth)  # the clients of profiles the new config dropped or changed
        if old_http is not None and old_http is not self.http:
            old_http.close()  # idle connections only; requests in flight finish on theirs
        if new_state.config.templating.reseed:
            self.engine.reseed()
        self.state, self.role = new_state, new_role
        if isinstance(self.source, SchedulerSource):
            scheduler = new_state.config.inputs.scheduler
            self.source.configure(scheduler.ratePerSec, scheduler.maxMessages, scheduler.reset)
        elif isinstance(self.source, RedisDatasetSource) and new_state.config.inputs.redis is not None:
            self.source.configure(new_state.config.inputs.redis)
        elif isinstance(self.source, CsvDatasetSource) and new_state.config.inputs.csv is not None:
            self.source.configure(new_state.config.inputs.csv)
        self.guard.configure(new_state.config.bufferGuard)
        self._apply_input_rate()  # after the input took the new rate: a closed guard keeps it slowed
        if self.redis_output is not None and self.store is not None:
            counts = self.redis_output.pusher.counts
            self.redis_output.pusher = redis_push.output_pusher(new_state.config, self.store, self.engine, counts)
        self.uploader = redis_push.build_uploader(new_state.config, self.store, self.engine, self.alert, self.uploader)
        configure_batching(self.sink, new_state.config.outputs.batching)
        self._resize(concurrency(new_state))
        if new_state.enabled and not self._enabled.is_set():
            await self.source.resume()
            self._enabled.set()
        elif not new_state.enabled and self._enabled.is_set():
            self._enabled.clear()
            await self.source.pause()
            await self._drain(DRAIN_ON_DISABLE)

    async def _answer(
        self,
        signal: env.Envelope,
        status: env.OutcomeStatus,
        context: dict[str, Any],
        extra: dict[str, Any] | None = None,
    ) -> None:
        outcome = env.outcome(
            signal,
            status,
            self.identity.scope,
            origin=self.identity.instance,
            context=context,
            retryable=False,
            runtime=self.identity.runtime,
            extra=extra,
        )
        key = naming.outcome_key(signal.type, self.identity.swarm, self.identity.role, self.identity.instance)
        await self.transports.control.publish(key, outcome.to_json())
