"""``hivekeeper worker``: the container entry point of every worker pod."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys

from prometheus_client import start_http_server

from hivekeeper.api.roles import ConfigError
from hivekeeper.protocol import envelope
from hivekeeper.protocol.signing import Refusal, SigningKeyError, Verifier
from hivekeeper.worker import logs
from hivekeeper.worker.env import EnvError, WorkerEnv
from hivekeeper.worker.identity import Identity
from hivekeeper.worker.metrics import registry_for
from hivekeeper.worker.ports import Transports
from hivekeeper.worker.runtime.worker import Worker
from hivekeeper.worker.signed_control import VerifiedTransports
from hivekeeper.worker.transports.rabbit import control as rabbit_control
from hivekeeper.worker.transports.rabbit.transports import RabbitTransports
from hivekeeper.worker.transports.redis.store import RedisStore

log = logging.getLogger("hivekeeper.worker")


async def serve(env: WorkerEnv, stop: asyncio.Event, verifier: Verifier | None = None) -> None:
    """Run one worker until ``stop``; with ``verifier``, only signals its operator signed are obeyed."""
    identity = Identity(
        swarm=env.swarm,
        role=env.role,
        kind=env.kind,
        instance=env.instance,
        work_in=env.work_in,
        work_out=env.work_out,
        run_id=env.run_id,
    )
    connection = await rabbit_control.connect(env.amqp_url)
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
    if env.metrics_port:
        start_http_server(env.metrics_port, registry=registry_for(worker))
    await worker.start()
    try:
        await stop.wait()
    finally:
        await worker.stop(grace=env.stop_grace)
        await transports.close()
        if store is not None:
            await store.close()


def main() -> int:
    logs.configure(os.environ.get("HIVEKEEPER_LOG_LEVEL", "INFO"))
    try:
        env = WorkerEnv.from_environ(os.environ)
    except EnvError as exc:
        print(exc, file=sys.stderr)
        return 2

    try:
        key = os.environ.get("HIVEKEEPER_SIGNAL_KEY", "").strip()
        verifier = Verifier.from_text(key) if key else None
    except SigningKeyError as exc:
        print(f"HIVEKEEPER_SIGNAL_KEY: {exc}", file=sys.stderr)
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
        return 2
    return 0
