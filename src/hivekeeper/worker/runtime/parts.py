"""What the parts of a worker share: the state :class:`~hivekeeper.worker.runtime.worker.Worker` sets up and
the lifecycle, work loop, status and signal parts read. Declared once, so each part type-checks alone."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

from hivekeeper.api.roles.outputs import OutputBatching
from hivekeeper.templating.engine import TemplateEngine
from hivekeeper.worker import publishing
from hivekeeper.worker.alerts import AlertThrottle
from hivekeeper.worker.auth.profiles import Authenticator
from hivekeeper.worker.control import WorkerState
from hivekeeper.worker.http.client import HttpClient
from hivekeeper.worker.identity import Identity
from hivekeeper.worker.outputs import redis_push
from hivekeeper.worker.ports import Batching, ControlMessage, DataStore, Transports, WorkSink, WorkSource
from hivekeeper.worker.roles.base import Role
from hivekeeper.worker.roles.registry import ROLES
from hivekeeper.worker.runtime.guard import BufferGuardRunner
from hivekeeper.worker.runtime.hold import InputHold
from hivekeeper.worker.stats import Histogram, RoleStats
from hivekeeper.worker.tcp.client import TcpClient

DEFAULT_CONCURRENCY = 128
"""Items in flight for roles without threadCount: as many as a batch holds by default (``outputs.batching.maxItems``),
since at full speed the loops publish in the same loop turn and so fill one batch and share one confirm. Measured
(issue 19, generator → RabbitMQ → 2 processors): 64 loops gave batches of 64, 17.9k items/s and 13.8 µs of broker CPU
per item; 128 gave batches of 128, 18.9k items/s and 10 µs; 256 gave nothing more (batches stop at maxItems)."""

SIGNAL_TYPES = ("config-update", "status-request")

DRAIN_ON_DISABLE = 10.0
"""Seconds a disable waits for items in flight before answering (slow SUTs may take this long)."""


def concurrency(state: WorkerState) -> int:
    """The work loops of ``state``'s role: what its kind asks for (its ``threadCount``), else the default."""
    kind = ROLES.get(state.role)
    if kind is not None and kind.concurrency is not None:
        return kind.concurrency(state.config)
    return DEFAULT_CONCURRENCY


def configure_batching(sink: WorkSink | None, batching: OutputBatching) -> None:
    """Give a sink that batches (RabbitMQ) the bounds of ``outputs.batching``; others have nothing to set."""
    if isinstance(sink, Batching):
        sink.configure_batching(batching.maxItems if batching.enabled else 1, batching.maxBytes)


@dataclass
class Loops:
    """The work loops: their tasks, and how many should run (loops above ``target`` end by themselves)."""

    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    target: int = 0


class WorkerParts:
    """The attributes of a worker (set in ``Worker.__init__``), for the parts that use them."""

    identity: Identity
    transports: Transports
    status_interval: float
    store: DataStore | None
    """Redis (or its in-memory twin): datasets, pushes, debug captures, sequence counters; None if absent."""
    state: WorkerState
    engine: TemplateEngine
    stats: RoleStats
    output: publishing.OutputCounters
    """Refused results, poison items, publish retries and inputs given back (``worker.publishing``)."""
    http: HttpClient | None
    """The HTTP client the role was given (roles whose kind asks for one), else None."""
    tcp: TcpClient
    """The worker's TCP client: pooled connections per endpoint, kept across config updates."""
    auth: Authenticator
    """The auth profiles of the config in force (their token caches)."""
    role: Role
    source: WorkSource
    guard: BufferGuardRunner
    """``bufferGuard``: slows the input while a downstream queue is deep (idle when not configured)."""
    hold: InputHold
    """The guard's gate in the work loops, for an input without a rate of its own (RABBITMQ)."""
    redis_output: redis_push.RedisOutput | None
    sink: WorkSink | None
    uploader: redis_push.RedisUploader | None
    """``interceptors.redisUploader``: None unless configured (then one check per item)."""
    control_queue: str
    configured: bool
    """A config-update was applied since start (the operator's config is in force): ``/readyz`` waits for it."""
    _enabled: asyncio.Event
    _drained: asyncio.Event
    _draining: bool
    _loops: Loops
    _throttle: AlertThrottle
    _background: list[asyncio.Task[None]]
    _started_at: str
    _last_delta: tuple[float, int]
    _latency_mark: Histogram
    """The latencies as of the last status-delta: a status reports what came after (a window, not since start)."""
    _blocks_reported: int
    """The output's block count as of the last status-delta (see ``StatusReports._output_state``)."""
    _clock: Callable[[], float] | None

    # Implemented by the parts named; declared here so that the others can call them.
    async def on_control(self, message: ControlMessage) -> None:
        """Handle one message of the control queue (``runtime.signals``)."""
        raise NotImplementedError

    def _build_role(self, state: WorkerState) -> tuple[Role, HttpClient | None, Authenticator]:
        """The role for ``state``, the HTTP client and the auth profiles it was given (``runtime.worker``)."""
        raise NotImplementedError

    def _apply_input_rate(self) -> None:
        """Pace the input at its configured rate, or slower while the buffer guard holds it back
        (``runtime.worker``)."""
        raise NotImplementedError
