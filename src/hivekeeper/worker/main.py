"""``hivekeeper worker``: the container entry point of every worker pod."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys

from prometheus_client import start_http_server

from hivekeeper.worker import config as cfg
from hivekeeper.worker import logs, rabbit
from hivekeeper.worker.env import EnvError, WorkerEnv
from hivekeeper.worker.metrics import registry_for
from hivekeeper.worker.redis_store import RedisStore
from hivekeeper.worker.runtime import Identity, Worker

log = logging.getLogger("hivekeeper.worker")


async def serve(env: WorkerEnv, stop: asyncio.Event) -> None:
    identity = Identity(
        swarm=env.swarm,
        role=env.role,
        kind=env.kind,
        instance=env.instance,
        work_in=env.work_in,
        work_out=env.work_out,
        run_id=env.run_id,
    )
    connection = await rabbit.connect(env.amqp_url)
    transports = rabbit.RabbitTransports(connection, env.swarm, env.amqp_url)
    # sequence() counters live in Redis when the worker has one, so that every replica shares them.
    store = RedisStore(env.redis_url) if env.redis_url else None
    worker = Worker(identity, env.config, transports, status_interval=env.status_interval, store=store)
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

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await serve(env, stop)

    try:
        import uvloop

        uvloop.run(run())
    except cfg.ConfigError as exc:
        log.error("bootstrap config rejected: %s", exc)
        return 2
    return 0
