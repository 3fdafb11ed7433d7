"""A worker: one instance of one role, driven by its control queue.

The wiring of one worker: its role (by name, from ``worker.roles.registry``), the role's HTTP client, its
input and its output; the parts it is made of are described in ``worker.runtime``."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hivekeeper.api.roles import ConfigError
from hivekeeper.api.roles.inputs import CsvDatasetInput
from hivekeeper.protocol import envelope as env
from hivekeeper.protocol import naming
from hivekeeper.templating.context import Origin
from hivekeeper.templating.engine import Semantics, TemplateEngine
from hivekeeper.worker import publishing
from hivekeeper.worker.alerts import AlertThrottle
from hivekeeper.worker.auth.profiles import Authenticator
from hivekeeper.worker.auth.secrets import SecretReader
from hivekeeper.worker.buffer_guard import guarded_rate
from hivekeeper.worker.control import WorkerState
from hivekeeper.worker.http.client import HttpClient
from hivekeeper.worker.http_port import HttpSettings
from hivekeeper.worker.identity import Identity
from hivekeeper.worker.inputs import csv_table
from hivekeeper.worker.inputs.csv_dataset import CsvDatasetSource
from hivekeeper.worker.inputs.redis_dataset import RedisDatasetSource
from hivekeeper.worker.inputs.scheduler import SchedulerSource
from hivekeeper.worker.outputs import redis_push
from hivekeeper.worker.pacing import RatePacer
from hivekeeper.worker.ports import Batching, DataStore, Transports, WorkSource
from hivekeeper.worker.roles.base import Role, RoleDeps, RoleKind, Wiring
from hivekeeper.worker.roles.registry import ROLES
from hivekeeper.worker.runtime.guard import BufferGuardRunner
from hivekeeper.worker.runtime.hold import InputHold
from hivekeeper.worker.runtime.parts import Loops, concurrency, configure_batching
from hivekeeper.worker.runtime.signals import Signals
from hivekeeper.worker.sequences import StoreSequences
from hivekeeper.worker.stats import Histogram, RoleStats
from hivekeeper.worker.tcp.client import TcpClient


class Worker(Signals):
    """One worker, built disabled from its bootstrap config: ``start()`` it, send it config-updates, ``stop()`` it.

    ``transports`` builds its input, output, dead-letter queue and control bus; ``store`` is Redis (or its twin),
    or None when the worker has none; ``clock`` replaces the event loop's clock in status reports (tests);
    ``datasets`` is the directory a relative ``inputs.csv.filePath`` is read under (None: offline validation,
    which reads no file: ``hivekeeper validate`` checks it next to the manifest); ``secrets`` reads the
    credentials of auth profiles (default: the Secrets the operator mounts).
    """

    def __init__(
        self,
        identity: Identity,
        bootstrap: dict[str, Any],
        transports: Transports,
        *,
        status_interval: float = 5.0,
        clock: Callable[[], float] | None = None,
        store: DataStore | None = None,
        datasets: Path | None = None,
        secrets: SecretReader | None = None,
    ) -> None:
        self.identity = identity
        self.transports = transports
        self.status_interval = status_interval
        self.store = store
        self.datasets = datasets
        self.state = WorkerState.bootstrap(identity.kind, bootstrap, has_out=identity.work_out is not None)
        self.engine = TemplateEngine(StoreSequences(store) if store is not None else None)
        self.stats = RoleStats()
        self.output = publishing.OutputCounters()
        self.http = None
        self.tcp = TcpClient()
        reader = secrets if secrets is not None else SecretReader.from_environment()
        self.auth = Authenticator(reader, self.stats.auth, self.engine, identity.role)
        self.role, self.http, self.auth = self._build_role(self.state)
        self.source = self._build_source()
        self.hold = InputHold()
        self.guard = BufferGuardRunner(
            self.state.config.bufferGuard,
            depth=self._guarded_depth,
            on_change=self._apply_input_rate,
            alert=self.alert,
            queue_name=lambda alias: naming.work_queue(identity.swarm, alias),
        )
        self.redis_output = self._build_redis_output()
        self.sink = (
            self.redis_output
            if self.redis_output is not None
            else transports.sink(identity)
            if self.state.output_type == "RABBITMQ"
            else None
        )
        configure_batching(self.sink, self.state.config.outputs.batching)
        self.uploader = redis_push.build_uploader(self.state.config, store, self.engine, self.alert)
        self._enabled = asyncio.Event()
        self._drained = asyncio.Event()
        self._draining = False
        self._loops = Loops()
        self._throttle = AlertThrottle()
        self._background = []
        self._started_at = env.now()
        self._last_delta = (0.0, 0)
        self._latency_mark = Histogram()
        self._blocks_reported = 0
        self._clock = clock
        self.control_queue = naming.control_queue(identity.swarm, identity.role, identity.instance)

    async def _guarded_depth(self, queue: str) -> int:
        """The buffer guard's depth in items where it can be known: RabbitMQ counts messages, and the messages of
        the worker's own output queue hold ``items / messages`` items each on average (batches, decision 0013).
        Another role's queue is read in messages (docs/worker.md#buffer-guard)."""
        depth = await self.transports.queue_depth(queue)
        sink = self.sink
        if queue == self.identity.work_out and isinstance(sink, Batching) and sink.messages:  # work_out: its queue
            return round(depth * sink.items / sink.messages)
        return depth

    # -- wiring ---------------------------------------------------------------------------------
    @staticmethod
    def _kind(state: WorkerState) -> RoleKind:
        kind = ROLES.get(state.role)
        if kind is None:
            raise ConfigError(state.role, [("role", f"no runtime for role {state.role!r}")])
        return kind

    def _build_source(self) -> WorkSource:
        if self.state.input_type == "SCHEDULER":
            scheduler = self.state.config.inputs.scheduler
            return SchedulerSource(scheduler.ratePerSec, scheduler.maxMessages, buffer=concurrency(self.state))
        if self.state.input_type == "CSV_DATASET" and self.state.config.inputs.csv is not None:
            return self._build_csv_source(self.state.config.inputs.csv)
        dataset = self.state.config.inputs.redis
        if self.state.input_type == "REDIS_DATASET" and dataset is not None and self.store is not None:
            ident = self.identity
            return RedisDatasetSource(
                self.store, dataset, swarm=ident.swarm, role=ident.role, instance=ident.instance, alert=self.alert
            )
        prefetch = self.state.config.inputs.rabbitmq.prefetch or concurrency(self.state)
        return self.transports.source(self.identity, prefetch)

    def _build_csv_source(self, config: CsvDatasetInput) -> CsvDatasetSource:
        if self.datasets is None:
            table = csv_table.CsvTable(config.filePath, tuple(config.columns), ())
        else:
            try:
                table = csv_table.load(config, self.datasets)
            except csv_table.CsvError as exc:
                raise ConfigError(self.state.role, [(f"inputs.csv.{exc.key}", str(exc))]) from exc
        ident = self.identity
        return CsvDatasetSource(
            table,
            config,
            store=self.store,
            swarm=ident.swarm,
            role=ident.role,
            instance=ident.instance,
            run_id=ident.run_id,
            alert=self.alert,
        )

    def _apply_input_rate(self) -> None:
        """Set the input's pace from the config and the buffer guard (slowed while it holds the producer back);
        an input without a rate of its own (RABBITMQ) is held back in the work loops instead."""
        guard = self.state.config.bufferGuard
        throttled = self.guard.throttled and guard is not None
        min_rate = guard.minRatePerSec if guard is not None else 0.0
        pacer = getattr(self.source, "pacer", None)
        configured = self.state.input_rate
        if not isinstance(pacer, RatePacer) or configured is None:
            self.hold.set(throttled, min_rate)
            return
        rate = guarded_rate(configured, throttled, min_rate)
        if rate == pacer.rate_per_sec:
            return
        if throttled and rate < pacer.rate_per_sec:
            # What the input was granted at the configured rate must not still go out: a generator behind a high
            # rate holds up to a second of it, which let a closed guard's queue grow by that much again.
            hold_back = getattr(self.source, "hold_back", None)  # the paced inputs have it (see pacer above)
            if hold_back is not None:
                hold_back()
        pacer.set_rate(rate, asyncio.get_running_loop().time())

    def _build_redis_output(self) -> redis_push.RedisOutput | None:
        """The sink of ``outputs.type: REDIS`` (it replaces the RabbitMQ sink), else None."""
        if self.state.output_type != "REDIS" or self.store is None:
            return None
        pusher = redis_push.output_pusher(self.state.config, self.store, self.engine)
        return redis_push.RedisOutput(pusher, self.alert, self.stats)

    def _http_for(self, wanted: HttpSettings) -> HttpClient:
        """The current client when it already has these settings (connections stay warm), else a new one."""
        current = self.http
        if current is not None and current.settings == wanted:
            return current
        return HttpClient.of(wanted)

    def _build_role(self, state: WorkerState) -> tuple[Role, HttpClient | None, Authenticator]:
        """The role for ``state``, the HTTP client it was given (None if its kind wants none) and its auth
        profiles (the current ones where the config did not change them: their tokens stay cached).

        The engine takes the config's template semantics first, so the role compiles its templates under them;
        a config refused here leaves the engine as it was."""
        previous = self.engine.semantics, self.engine.origin
        self.engine.configure(*self._template_settings(state))
        try:
            return self._build_role_with(state)
        except BaseException:
            self.engine.configure(*previous)
            raise

    def _template_settings(self, state: WorkerState) -> tuple[Semantics, Origin]:
        templating, ident = state.config.templating, self.identity
        run_id = templating.runId or ident.run_id
        origin = Origin(swarm=ident.swarm, role=ident.role, instance=ident.instance, run_id=run_id)
        return Semantics(templating.undefined, templating.tagNewline), origin

    def _build_role_with(self, state: WorkerState) -> tuple[Role, HttpClient | None, Authenticator]:
        # Redis inputs, outputs and the uploader are checked here, before anything is swapped in.
        redis_push.check(state, has_store=self.store is not None, engine=self.engine)
        kind = self._kind(state)
        deps = RoleDeps(
            swarm=self.identity.swarm,
            role=self.identity.role,
            instance=self.identity.instance,
            engine=self.engine,
            stats=self.stats,
        )
        forwards = state.output_type != "NONE"
        http = None
        auth = self.auth
        if kind.http is not None:
            settings = kind.http(state.config, forwards)
            http = deps.http = self._http_for(settings)
            context = {"sut": state.config.sut.model_dump(mode="json"), "vars": state.config.vars}
            auth = self.auth.prepare(state.config.auth, context, ssl_verify=settings.ssl_verify)
            deps.auth = auth
        if kind.tcp:
            deps.tcp = self.tcp
        previous = getattr(self, "role", None)  # not set yet while __init__ builds the first role
        return kind.build(state.config, Wiring(deps, self.alert, self.store, forwards, previous)), http, auth
