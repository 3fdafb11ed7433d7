"""``hivekeeper worker``: the container entry point of every worker pod."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
import time
from wsgiref.simple_server import WSGIServer

from aio_pika.abc import AbstractRobustConnection
from aio_pika.exceptions import AMQPError

from hivekeeper.api.roles import ConfigError
from hivekeeper.errors import Unavailable
from hivekeeper.protocol import envelope
from hivekeeper.protocol.health import FATAL_PREFIX
from hivekeeper.protocol.signing import Refusal, SigningKeyError, Verifier
from hivekeeper.worker import health_server, heap, logs
from hivekeeper.worker.env import EnvError, WorkerEnv
from hivekeeper.worker.health import Health
from hivekeeper.worker.identity import Identity
from hivekeeper.worker.metrics import registry_for
from hivekeeper.worker.ports import Transports
from hivekeeper.worker.runtime.worker import Worker
from hivekeeper.worker.signed_control import VerifiedTransports
from hivekeeper.worker.termination import TerminationLog
from hivekeeper.worker.transports.rabbit import control as rabbit_control
from hivekeeper.worker.transports.rabbit.amqp.url import parse as parse_broker_url
from hivekeeper.worker.transports.rabbit.transports import RabbitTransports
from hivekeeper.worker.transports.redis.store import RedisStore

log = logging.getLogger("hivekeeper.worker")


class BrokerUnreachable(Unavailable, ConnectionError):
    """The broker could not be reached when the worker started; the message names it (never its password)."""


async def serve(env: WorkerEnv, stop: asyncio.Event, verifier: Verifier | None = None) -> None:
    """Run one worker until ``stop``; with ``verifier``, only signals its operator signed are obeyed.

    From the start, a heartbeat task tells the health checks that the event loop turns (``worker.health``)."""
    health = Health(env.health_bounds, time.monotonic())
    beating = asyncio.create_task(health_server.heartbeat(health), name="health:heartbeat")
    try:
        await _serve(env, stop, verifier, health)
    finally:
        beating.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await beating


async def _connect(env: WorkerEnv, health: Health) -> AbstractRobustConnection:
    """The control connection, watched by the health checks; :class:`BrokerUnreachable` when it cannot open."""
    broker = parse_broker_url(env.amqp_url)
    try:
        connection = await rabbit_control.connect(broker)
    except (AMQPError, OSError, TimeoutError) as exc:
        cause = str(exc) or "no reason given"
        raise BrokerUnreachable(
            f"broker unreachable at start: {broker.redacted()}: {type(exc).__name__}: {cause}"
        ) from exc
    rabbit_control.watch(
        connection, lost=lambda: health.control_lost(time.monotonic()), restored=health.control_restored
    )
    return connection


async def _serve(env: WorkerEnv, stop: asyncio.Event, verifier: Verifier | None, health: Health) -> None:
    identity = Identity(
        swarm=env.swarm,
        role=env.role,
        kind=env.kind,
        instance=env.instance,
        work_in=env.work_in,
        work_out=env.work_out,
        run_id=env.run_id,
    )
    connection = await _connect(env, health)
    transports = RabbitTransports(connection, env.swarm, env.amqp_url, env.exchanges)
    # sequence() counters live in Redis when the worker has one, so that every replica shares them.
    store = RedisStore(env.redis_url) if env.redis_url else None
    built: list[Worker] = []

    def refused(why: Refusal, signal: envelope.Envelope) -> None:
        context = {"type": signal.type, "origin": signal.origin, "scope": signal.scope.model_dump()}
        message = f"refused a {signal.type} signal: {why.message}"
        built[0].alert(f"control.signal-{why.code}", message, context, "warning")

    edges: Transports = transports if verifier is None else VerifiedTransports(transports, verifier, refused)
    worker = Worker(
        identity, env.config, edges, status_interval=env.status_interval, store=store, datasets=env.dataset_dir
    )
    built.append(worker)
    server: WSGIServer | None = None
    if env.metrics_port:
        report = health_server.UnhealthyReport(env.termination_log)
        server = health_server.serve(env.metrics_port, health_server.health_app(registry_for(worker), health, report))
    await worker.start()
    heap.freeze_startup_heap()  # the collector's full scans skip what lives as long as the process
    health.started = True
    try:
        await stop.wait()
    finally:
        health.stopping = True
        await worker.stop(grace=env.stop_grace)
        await transports.close()
        if store is not None:
            await store.close()
        if server is not None:
            await asyncio.to_thread(server.shutdown)
            server.server_close()


def main() -> int:
    """Run the worker of this pod's environment; on a fatal error it names, say why (stderr and the termination
    message) and return non-zero."""
    logs.configure(os.environ.get("HIVEKEEPER_LOG_LEVEL", "INFO"))
    termination = TerminationLog.from_environ(os.environ)
    try:
        env = WorkerEnv.from_environ(os.environ)
    except EnvError as exc:
        print(exc, file=sys.stderr)
        termination.write(FATAL_PREFIX, str(exc))
        return 2

    try:
        key = os.environ.get("HIVEKEEPER_SIGNAL_KEY", "").strip()
        verifier = Verifier.from_text(key) if key else None
    except SigningKeyError as exc:
        print(f"HIVEKEEPER_SIGNAL_KEY: {exc}", file=sys.stderr)
        termination.write(FATAL_PREFIX, f"HIVEKEEPER_SIGNAL_KEY: {exc}")
        return 2

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await serve(env, stop, verifier)

    try:
        import uvloop

        uvloop.run(run())
    except ConfigError as exc:
        log.error("bootstrap config rejected: %s", exc)
        termination.write(FATAL_PREFIX, f"bootstrap config rejected: {exc}")
        return 2
    except BrokerUnreachable as exc:
        log.error("%s", exc)
        termination.write(FATAL_PREFIX, str(exc))
        return 1
    return 0
