"""The worker runtime: one instance of one role, driven by its control queue.

Life of a worker: it starts **disabled** with its bootstrap config and says so (``status-full``);
a ``signal.config-update`` is validated and swapped in whole, or rejected whole with the old config
kept, and answered with exactly one outcome; ``enabled`` starts and stops work (a RabbitMQ input
stops consuming, so messages stay queued) while the control plane stays live; every
``status_interval`` seconds it reports a ``status-delta``.

Work runs in a fixed number of loops (the role's concurrency: ``threadCount`` for processors), each
taking one item, handing it to the role, publishing the result and only then acknowledging the
input. Nothing is buffered beyond those loops, so backlog stays in the broker where it is visible.
A result the output refuses for good, and an item delivered too many times, is dead-lettered or
dropped; a transient publish failure is retried, then the input goes back (``worker.publishing``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from hivekeeper.api.roles import ConfigError
from hivekeeper.api.roles.common import DeadLetter
from hivekeeper.api.roles.generator.config import GeneratorConfig
from hivekeeper.api.roles.http_sequence.config import HttpSequenceConfig
from hivekeeper.api.roles.moderator.config import ModeratorConfig
from hivekeeper.api.roles.postprocessor.config import PostprocessorConfig
from hivekeeper.api.roles.processor.config import ProcessorConfig
from hivekeeper.api.roles.request_builder.config import RequestBuilderConfig
from hivekeeper.protocol import envelope as env
from hivekeeper.protocol import naming
from hivekeeper.protocol.workitem import Hop, WorkItem, WorkItemError, now, parse
from hivekeeper.templating.engine import TemplateEngine, TemplateError
from hivekeeper.worker import publishing
from hivekeeper.worker.alerts import AlertThrottle
from hivekeeper.worker.control import WorkerState, apply_update
from hivekeeper.worker.deadletter import DeadLetterOutbox, failure_headers
from hivekeeper.worker.http.client import HttpClient
from hivekeeper.worker.inputs.redis_dataset import RedisDatasetSource
from hivekeeper.worker.inputs.scheduler import SchedulerSource
from hivekeeper.worker.outputs import redis_push
from hivekeeper.worker.ports import (
    Blockable,
    ControlBus,
    DataStore,
    DeadLetters,
    Delivery,
    OutputRefused,
    StoreUnavailable,
    WorkSink,
    WorkSource,
)
from hivekeeper.worker.roles.base import DropItem, Role, RoleDeps
from hivekeeper.worker.roles.generator import Generator
from hivekeeper.worker.roles.http_sequence import HttpSequence
from hivekeeper.worker.roles.moderator import Moderator
from hivekeeper.worker.roles.postprocessor import Postprocessor
from hivekeeper.worker.roles.processor import Processor
from hivekeeper.worker.roles.request_builder import RequestBuilder
from hivekeeper.worker.sequences import StoreSequences
from hivekeeper.worker.stats import Histogram, RoleStats

log = logging.getLogger("hivekeeper.worker")

DEFAULT_CONCURRENCY = 64
"""Items in flight for roles without threadCount: enough to batch publisher confirms."""

SIGNAL_TYPES = ("config-update", "status-request")

DRAIN_ON_DISABLE = 10.0
"""Seconds a disable waits for items in flight before answering (slow SUTs may take this long)."""


@dataclass(frozen=True)
class Identity:
    """Who this worker is and how it is wired (from the environment, or from ``hivekeeper run``)."""

    swarm: str
    role: str
    """The stage name in the Swarm (``caller``)."""
    kind: str
    """The built-in role (``processor``)."""
    instance: str
    work_in: str | None = None
    """Queue name this worker consumes (``hivekeeper.<swarm>.<alias>``)."""
    work_out: str | None = None
    """Routing key / queue name this worker publishes to."""
    run_id: str = ""
    template_id: str = ""

    @property
    def scope(self) -> env.Scope:
        return env.Scope(swarmId=self.swarm, role=self.role, instance=self.instance)

    @property
    def runtime(self) -> dict[str, Any]:
        return {"templateId": self.template_id or self.swarm, "runId": self.run_id}


class Transports(Protocol):
    """Builds the I/O edges for a worker (memory for ``hivekeeper run``, RabbitMQ in a cluster)."""

    @property
    def control(self) -> ControlBus: ...

    def source(self, identity: Identity, prefetch: int) -> WorkSource: ...

    def sink(self, identity: Identity) -> WorkSink: ...

    def dead_letters(self, identity: Identity) -> DeadLetters:
        """The swarm's dead-letter queue (asked for only when a config enables ``deadLetter``)."""
        ...


@dataclass
class _Loops:
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    target: int = 0


def _failure(exc: Exception) -> tuple[str, str]:
    """The alert code and message of an item a role failed on: what failed, named as such."""
    if isinstance(exc, TemplateError):  # template.error, or template.budget-exceeded (counted by the engine)
        return exc.code, str(exc)
    if isinstance(exc, StoreUnavailable):  # Redis down or hanging (sequence(), ...): not a runtime bug
        return "redis.unavailable", str(exc)
    return "runtime.exception", f"{type(exc).__name__}: {exc}"


class Worker:
    def __init__(
        self,
        identity: Identity,
        bootstrap: dict[str, Any],
        transports: Transports,
        *,
        status_interval: float = 5.0,
        clock: Callable[[], float] | None = None,
        store: DataStore | None = None,
    ) -> None:
        self.identity = identity
        self.transports = transports
        self.status_interval = status_interval
        self.store = store
        """Redis (or its in-memory twin): datasets, pushes, debug captures, sequence counters; None if absent."""
        self.state = WorkerState.bootstrap(identity.kind, bootstrap, has_out=identity.work_out is not None)
        self.engine = TemplateEngine(StoreSequences(store) if store is not None else None)
        self.stats = RoleStats()
        self.output = publishing.OutputCounters()
        """Refused results, poison items, publish retries and inputs given back (``worker.publishing``)."""
        self.http: HttpClient | None = None
        self.role: Role = self._build_role(self.state)
        self.http = self._http_of(self.role)
        self.source: WorkSource = self._build_source()
        self.redis_output: redis_push.RedisOutput | None = self._build_redis_output()
        self.sink: WorkSink | None = (
            self.redis_output
            if self.redis_output is not None
            else transports.sink(identity)
            if self.state.output_type == "RABBITMQ"
            else None
        )
        self.uploader = redis_push.build_uploader(self.state.config, store, self.engine, self.alert)
        """``interceptors.redisUploader``: None unless configured (then one check per item)."""
        self._enabled = asyncio.Event()
        self._drained = asyncio.Event()
        self._draining = False
        self._loops = _Loops()
        self._throttle = AlertThrottle()
        self._background: list[asyncio.Task[None]] = []
        self._started_at = env.now()
        self._last_delta = (0.0, 0)
        self._latency_mark = Histogram()
        """The latencies as of the last status-delta: a status reports what came after (a window, not since start)."""
        self._blocks_reported = 0
        """The output's block count as of the last status-delta (see ``_output_state``)."""
        self._clock = clock
        self.control_queue = naming.control_queue(identity.swarm, identity.role, identity.instance)

    # -- wiring ---------------------------------------------------------------------------------
    def _concurrency(self, state: WorkerState) -> int:
        if isinstance(state.config, ProcessorConfig | HttpSequenceConfig):
            return state.config.threadCount
        return DEFAULT_CONCURRENCY

    def _build_source(self) -> WorkSource:
        if self.state.input_type == "SCHEDULER":
            scheduler = self.state.config.inputs.scheduler
            return SchedulerSource(scheduler.ratePerSec, scheduler.maxMessages, buffer=self._concurrency(self.state))
        dataset = self.state.config.inputs.redis
        if self.state.input_type == "REDIS_DATASET" and dataset is not None and self.store is not None:
            ident = self.identity
            return RedisDatasetSource(
                self.store, dataset, swarm=ident.swarm, role=ident.role, instance=ident.instance, alert=self.alert
            )
        prefetch = self.state.config.inputs.rabbitmq.prefetch or self._concurrency(self.state)
        return self.transports.source(self.identity, prefetch)

    def _build_redis_output(self) -> redis_push.RedisOutput | None:
        """The sink of ``outputs.type: REDIS`` (it replaces the RabbitMQ sink), else None."""
        if self.state.output_type != "REDIS" or self.store is None:
            return None
        pusher = redis_push.output_pusher(self.state.config, self.store, self.engine)
        return redis_push.RedisOutput(pusher, self.alert, self.stats)

    def _http_for(self, state: WorkerState, config: ProcessorConfig | HttpSequenceConfig) -> HttpClient:
        # http-sequence reads response headers (extracts, captures) whether or not it forwards results.
        headers = state.output_type != "NONE" or isinstance(config, HttpSequenceConfig)
        wanted = HttpClient(ssl_verify=config.sslVerify, keep_alive=config.keepAlive, collect_headers=headers)
        current = self.http
        if current is not None and (current.ssl_verify, current.keep_alive, current.collect_headers) == (
            wanted.ssl_verify,
            wanted.keep_alive,
            wanted.collect_headers,
        ):
            return current
        return wanted

    @staticmethod
    def _http_of(role: Role) -> HttpClient | None:
        if isinstance(role, Processor | HttpSequence) and isinstance(role.http, HttpClient):
            return role.http
        return None

    def _build_role(self, state: WorkerState) -> Role:
        # Redis inputs, outputs and the uploader are checked here, before anything is swapped in.
        redis_push.check(state, has_store=self.store is not None, engine=self.engine)
        deps = RoleDeps(
            swarm=self.identity.swarm,
            role=self.identity.role,
            instance=self.identity.instance,
            engine=self.engine,
            stats=self.stats,
        )
        config = state.config
        if isinstance(config, ProcessorConfig):
            deps.http = self._http_for(state, config)
            return Processor(config, deps, alert=self.alert, forward_results=state.output_type != "NONE")
        if isinstance(config, HttpSequenceConfig):
            deps.http = self._http_for(state, config)
            previous = getattr(self, "role", None)  # not set yet while __init__ builds the first role
            uploader = config.interceptors.redisUploader  # an AFTER uploader pushes the result: build it
            after = uploader is not None and uploader.enabled and uploader.phase == "AFTER"
            return HttpSequence(
                config,
                deps,
                alert=self.alert,
                store=self.store,
                forward_results=state.output_type != "NONE" or after,
                counters=previous.counters if isinstance(previous, HttpSequence) else None,
            )
        if isinstance(config, GeneratorConfig):
            return Generator(config, deps)
        if isinstance(config, RequestBuilderConfig):
            return RequestBuilder(config, deps)
        if isinstance(config, PostprocessorConfig):
            return Postprocessor(config, deps)
        if isinstance(config, ModeratorConfig):
            previous_role = getattr(self, "role", None)  # not set yet while __init__ builds the first role
            return Moderator(config, deps, previous_role if isinstance(previous_role, Moderator) else None)
        raise ConfigError(state.role, [("role", f"no runtime for role {state.role!r}")])

    # -- lifecycle ------------------------------------------------------------------------------
    async def start(self) -> None:
        """Listen for signals, report ``status-full``, and wait (disabled) for a config-update."""
        bindings = naming.control_bindings(self.identity.swarm, self.identity.role, self.identity.instance)
        await self.transports.control.listen(self.control_queue, bindings, self.on_control)
        self._resize(self._concurrency(self.state))
        self._background.append(asyncio.create_task(self._status_loop(), name=f"status:{self.identity.instance}"))
        await self.emit_status("status-full")
        log.info("worker started disabled", extra=self._log_fields())

    async def stop(self, grace: float = 0.0) -> None:
        """Stop working and release the transports.

        With ``grace`` (a pod's SIGTERM), the worker first takes no new work and lets items in flight
        finish for up to that many seconds, so a rolling update neither cuts calls off mid-flight nor
        has the broker redeliver (and the SUT see twice) items that were nearly done. Whatever is still
        running then is cancelled: unacknowledged deliveries go back to their queue, dataset elements
        in a pop back to their list.
        """
        if grace > 0 and self._enabled.is_set():
            self._enabled.clear()
            await self.source.pause()
            if self.stats.in_flight:
                log.info(
                    "stopping: letting items in flight finish",
                    extra={**self._log_fields(), "inFlight": self.stats.in_flight, "graceSeconds": grace},
                )
            await self._drain(grace)
        self._enabled.clear()
        for task in [*self._loops.tasks, *self._background]:
            task.cancel()
        await asyncio.gather(*self._loops.tasks, *self._background, return_exceptions=True)
        self._loops.tasks.clear()
        await self.source.close()
        if self.sink is not None:
            await self.sink.close()
        if self.http is not None:
            self.http.close()

    def _resize(self, target: int) -> None:
        self._loops.target = target
        self._loops.tasks = [t for t in self._loops.tasks if not t.done()]
        while len(self._loops.tasks) < target:
            index = len(self._loops.tasks)
            self._loops.tasks.append(asyncio.create_task(self._work(index), name=f"work:{index}"))

    # -- work -----------------------------------------------------------------------------------
    async def _work(self, index: int) -> None:
        enabled, stats = self._enabled, self.stats
        while index < self._loops.target:
            if not enabled.is_set():
                await enabled.wait()
            delivery = await self.source.get()
            fast = getattr(self.role, "fast_tick", None) if delivery.body is None and self.sink is None else None
            if fast is not None:
                stats.in_flight += 1
                try:
                    await fast()
                    stats.processed += 1
                finally:
                    stats.in_flight -= 1
                    if self._draining:
                        self._settled_one()
                continue
            if not self._enabled.is_set():
                await delivery.requeue()
                continue
            await self._process(delivery)

    async def _process(self, delivery: Delivery) -> None:  # noqa: PLR0912 - one pass per item: no helper coroutines
        stats = self.stats
        stats.in_flight += 1
        received = now() if delivery.body is not None else ""
        try:
            item: WorkItem | None = None
            if delivery.body is not None:
                try:
                    item = parse(delivery.body)
                except WorkItemError as exc:
                    await self._drop(delivery, "work.invalid-item", str(exc), {})
                    return
                if delivery.redeliveries:
                    stats.redelivered += 1
                if delivery.redeliveries and self._poison(delivery):
                    self.output.poisoned += 1
                    limit = self.state.config.inputs.rabbitmq.maxRedeliveries
                    reason = (
                        f"the item came back {delivery.redeliveries} times, more than inputs.rabbitmq.maxRedeliveries "
                        f"({limit}): treated as poison and not processed again (raise maxRedeliveries if the "
                        "redeliveries were innocent: restarts, dropped connections)"
                    )
                    await self._drop(delivery, "work.poison", reason, self._item_context(item))
                    return
            uploader = self.uploader
            if uploader is not None and uploader.before:
                await uploader.push(item)  # a side output: never raises, never holds the item back
            try:
                result = await self.role.handle(item, delivery.seq)
            except DropItem as exc:
                await self._drop(delivery, exc.code, str(exc), self._item_context(item))
                return
            except Exception as exc:
                # No per-item logging: the alert below is logged when it is sent (once per window).
                stats.errors += 1
                await self._drop(delivery, *_failure(exc), self._item_context(item))
                return
            if uploader is not None and not uploader.before:
                await uploader.push(result if result is not None else item)
            if result is not None and self.sink is not None:
                result.observability.hops.append(
                    Hop.model_construct(
                        service=self.identity.role,
                        instance=self.identity.instance,
                        receivedAt=received or now(),
                        processedAt=now(),
                    )
                )
                try:
                    await self._publish(result)
                except Exception as exc:  # rare: retried, refused or given back (worker.publishing)
                    if not await self._publish_failed(delivery, item, result, exc):
                        return
            stats.processed += 1
            if delivery.settles:
                await delivery.ack()
        finally:
            stats.in_flight -= 1
            if self._draining:
                self._settled_one()

    async def _publish(self, result: WorkItem) -> None:
        if self.redis_output is not None:
            await self.redis_output.publish_item(result)  # reads the item itself: no serialising
        elif self.sink is not None:
            await self.sink.publish(result.to_json())

    def _poison(self, delivery: Delivery) -> bool:
        return delivery.redeliveries > self.state.config.inputs.rabbitmq.maxRedeliveries

    async def _publish_failed(
        self, delivery: Delivery, item: WorkItem | None, result: WorkItem, error: Exception
    ) -> bool:
        """After a failed publish: True once a retry published ``result``; else the input was refused for
        good (dead-lettered or dropped), or given back to its queue after the retries, and counted."""
        try:
            await publishing.retry(
                lambda: self._publish(result), error, self.state.config.outputs.retry, self.output, delivery.live
            )
            return True
        except OutputRefused as exc:
            self.stats.errors += 1
            self.output.refused += 1
            await self._drop(
                delivery,
                "io.output-refused",
                f"{self._output_name()} refused the result: {exc}",
                self._item_context(item),
            )
        except publishing.GaveUp as exc:
            # Not confirmed: give the input back so nothing acknowledged upstream is lost.
            self.stats.errors += 1
            self.alert(
                "io.downstream-error", f"publishing to {self._output_name()} failed: {exc}", self._item_context(item)
            )
            if not exc.input_lost:
                self.output.given_back += 1
                await delivery.requeue()
        return False

    def _output_name(self) -> str:
        return "Redis" if self.redis_output is not None else str(self.identity.work_out)

    async def _drop(self, delivery: Delivery, code: str, message: str, context: dict[str, Any]) -> None:
        self.stats.dropped += 1
        self.stats.drop_reasons[code] += 1
        dead_letter = self.state.config.deadLetter
        if dead_letter.enabled and delivery.body is not None:  # a scheduler tick has no item to keep
            try:
                self._dead_letter(delivery.body, code, message, dead_letter)
            except Exception as exc:  # the dead-letter queue must never stop a work loop
                self.alert("deadletter.publish-failed", f"could not keep a failed item: {exc}", {})
        await delivery.ack()
        self.alert(code, message, context)

    _outbox: DeadLetterOutbox | None = None
    """Created the first time a failed item is kept (``deadLetter.enabled``)."""

    def _dead_letter(self, body: bytes, code: str, message: str, config: DeadLetter) -> None:
        """Hand a failed item to the dead-letter outbox; never waits (see ``worker.deadletter``)."""
        if self._outbox is None:
            self._outbox = DeadLetterOutbox(
                self.transports.dead_letters(self.identity), naming.dead_letter_queue(self.identity.swarm), self.alert
            )
        headers = failure_headers(code, message, self.identity.role, self.identity.instance)
        task = self._outbox.offer(body, headers, max_length=config.maxLength, ttl_seconds=config.ttlSeconds)
        if task is not None:
            self._background.append(task)  # stop() cancels it with the other background tasks

    @staticmethod
    def _item_context(item: WorkItem | None) -> dict[str, Any]:
        if item is None:
            return {}
        return {
            "messageId": item.messageId,
            "correlationId": item.correlation_id,
            "callId": item.headers.get("x-ph-call-id"),
        }

    # -- control --------------------------------------------------------------------------------
    async def on_control(self, body: bytes) -> None:
        try:
            signal = env.parse(body)
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
            new_role = self._build_role(new_state)
            await self._swap(new_state, new_role)
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
        self.alert("config.rejected", reason, {"problems": [{"path": p, "message": m} for p, m in problems]})
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

    async def _swap(self, new_state: WorkerState, new_role: Role) -> None:
        old_http, self.http = self.http, self._http_of(new_role)
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
        if self.redis_output is not None and self.store is not None:
            counts = self.redis_output.pusher.counts
            self.redis_output.pusher = redis_push.output_pusher(new_state.config, self.store, self.engine, counts)
        self.uploader = redis_push.build_uploader(new_state.config, self.store, self.engine, self.alert, self.uploader)
        self._resize(self._concurrency(new_state))
        if new_state.enabled and not self._enabled.is_set():
            await self.source.resume()
            self._enabled.set()
        elif not new_state.enabled and self._enabled.is_set():
            self._enabled.clear()
            await self.source.pause()
            await self._drain(DRAIN_ON_DISABLE)

    async def _drain(self, timeout: float) -> None:
        """Wait (bounded) for items in flight to finish, so that "disabled" means nothing is moving."""
        if self.stats.in_flight == 0:
            return
        self._drained.clear()
        self._draining = True
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._drained.wait(), timeout)
        finally:
            self._draining = False

    def _settled_one(self) -> None:
        if self._draining and self.stats.in_flight == 0:
            self._drained.set()

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

    # -- status and alerts ------------------------------------------------------------------------
    def _time(self) -> float:
        return self._clock() if self._clock else asyncio.get_running_loop().time()

    def status_data(self, full: bool) -> dict[str, Any]:
        now_s = self._time()
        last_t, last_n = self._last_delta
        elapsed = now_s - last_t if last_t else 0.0
        tps = round((self.stats.processed - last_n) / elapsed, 2) if elapsed > 0 else 0.0
        io_state = {"work": {"input": self.source.state(), "output": self._output_state()}}
        context = {**self.stats.snapshot(recent=self.stats.latency.since(self._latency_mark)), **self.role.context()}
        if isinstance(self.source, SchedulerSource):
            context["scheduler"] = self.source.context()
        elif isinstance(self.source, RedisDatasetSource):
            context["redisDataset"] = self.source.context()  # its state() gives ioState input out-of-data
        if self.redis_output is not None:
            context["redisOutput"] = self.redis_output.context()
        if self.uploader is not None:
            context["redisUploader"] = self.uploader.context()
        if self.engine.budget_exceeded:  # renders refused by the template budget, by limit (items dropped)
            context["templateBudgetExceeded"] = dict(self.engine.budget_exceeded)
        output = self.output
        if output.refused or output.poisoned or output.retries or output.given_back:
            context["output"] = output.snapshot()
        data: dict[str, Any] = {
            "enabled": self.state.enabled,
            "tps": tps,
            "ioState": io_state,
            "context": context,
            "configGeneration": self.state.generation,
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
