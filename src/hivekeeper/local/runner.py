"""``hivekeeper run``: every role of a Swarm manifest in one process, wired through memory queues.

The workers are the same :class:`~hivekeeper.worker.runtime.worker.Worker` objects a cluster runs; they
start disabled and are enabled by config-update signals from a local controller (consumers before
producers), exactly as the operator does it. When the run ends, producers are disabled first and
the pipeline drains before the summary is printed.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from hivekeeper.api import roles as role_configs
from hivekeeper.api.role_config import merged_role_config
from hivekeeper.api.roles import ConfigError
from hivekeeper.api.swarm import Swarm
from hivekeeper.errors import HivekeeperError, InvalidInput, Unavailable
from hivekeeper.local import demo_auth, demo_services, endpoints, ledger, run_plan, run_report
from hivekeeper.local.controller import LocalController
from hivekeeper.local.local_swarm import LocalSwarm
from hivekeeper.local.progress import table
from hivekeeper.local.recorder import finish, recording
from hivekeeper.local.transports import BrokerTransports, BrokerUnavailable, MemoryTransports
from hivekeeper.protocol import naming
from hivekeeper.report.timeseries import interval_for
from hivekeeper.worker import heap
from hivekeeper.worker.auth.secrets import SecretReader
from hivekeeper.worker.identity import Identity
from hivekeeper.worker.ports import DataStore
from hivekeeper.worker.runtime.worker import Worker
from hivekeeper.worker.transports.memory import MemoryBroker, MemoryStore
from hivekeeper.worker.transports.redis.store import RedisStore

DRAIN_SECONDS = 5.0


class RunError(HivekeeperError, RuntimeError):
    """The swarm could not be started; the message says which role and why."""


class RunInputError(RunError, InvalidInput):
    """The manifests cannot run locally as written (a custom image, a config the workers refuse, two swarms of
    one name): the user's to fix, not the machine's (exit code 2, not 3)."""


@dataclass
class RunOptions:
    duration: float | None = None
    json_path: Path | None = None
    sut: endpoints.SutFlags = field(default_factory=endpoints.SutFlags)
    """``--sut`` and ``--demo-sut``: :func:`run_blocking` aims the swarms' SUT endpoints as they say."""
    broker_url: str | None = None
    """Run the workers against this RabbitMQ instead of in-memory queues."""
    exchanges: naming.Exchanges = naming.DEFAULT_EXCHANGES
    """The control and work exchange names (``--control-exchange``, ``--work-exchange``)."""
    redis_url: str | None = None
    """Use this Redis (sequence() counters, datasets, captures) instead of an in-memory store."""
    interval: float = 1.0
    out: TextIO = field(default_factory=lambda: sys.stdout)
    live: bool | None = None
    """Redraw the view in place (a terminal) or print a block per interval (logs, CI)."""
    timeseries_interval: float | None = None
    """Seconds between the time series' points (default: ``report.timeseries.interval_for(duration)``)."""
    datasets: dict[str, Path] = field(default_factory=dict)
    """Where each swarm's relative dataset files (``inputs.csv.filePath``) are read, by swarm name: the
    directory of its manifest; a swarm not named here reads them under the current directory."""
    secrets_dirs: tuple[Path, ...] = ()
    """Directories of Secrets as ``<name>/<key>`` files, for auth profiles' ``secretKeyRef`` (``--secrets``)."""
    provided_secrets: dict[tuple[str, str], str] = field(default_factory=dict)
    """Secrets in memory by (name, key): the demo SUT's own under ``--demo-sut``."""


def local_secrets(options: RunOptions) -> SecretReader:
    """How the workers of a local run read credentials: ``--secrets`` directories, the demo SUT's Secret (with
    ``--demo-sut``), and this process's environment and files."""
    return SecretReader(options.secrets_dirs, dict(os.environ), dict(options.provided_secrets))


def bootstrap_config(swarm: Swarm, role_config: dict[str, Any], work_out: str | None = None) -> dict[str, Any]:
    """A role's bootstrap config: its own keys plus the swarm's vars, sut, templates and deadLetter (and no
    batches towards a ``protocol: pockethive`` reader of ``work_out``)."""
    return merged_role_config(swarm.spec, role_config, work_out)


def local_store(redis_url: str | None) -> DataStore:
    """The data store of a local run: that Redis, or one in-memory store shared by every swarm of the run."""
    return RedisStore(redis_url) if redis_url else MemoryStore()


async def build(
    swarm: Swarm,
    broker_url: str | None = None,
    store: DataStore | None = None,
    secrets: SecretReader | None = None,
    exchanges: naming.Exchanges = naming.DEFAULT_EXCHANGES,
    datasets: Path | None = None,
) -> LocalSwarm:
    """The workers of ``swarm``, built disabled; ``datasets`` is where relative dataset files are read
    (the manifest's directory; default the current directory)."""
    name = swarm.metadata.name
    # One store for the whole run: sequence() numbers never repeat across roles or replicas, and
    # datasets pushed by one swarm are there for the next.
    store = store if store is not None else MemoryStore()
    transports: MemoryTransports | BrokerTransports
    if broker_url:
        transports = await BrokerTransports.connect(broker_url, name, exchanges)
    else:
        transports = MemoryTransports(MemoryBroker(), name, exchanges)
    controller = LocalController(transports.control, name)
    workers: dict[str, list[Worker]] = {}
    for spec in swarm.spec.roles:
        if spec.role is None:
            raise RunInputError(
                f"role {spec.name!r} uses a custom image ({spec.image}); `hivekeeper run` runs built-in "
                "roles only; run custom workers in a cluster"
            )
        work_in = await transports.declare(spec.work.in_) if spec.work.in_ else None
        work_out = naming.work_routing_key(name, spec.work.out) if spec.work.out else None
        if spec.work.out:
            await transports.declare(spec.work.out)
        bootstrap = bootstrap_config(swarm, spec.config, spec.work.out)
        workers[spec.name] = []
        for index in range(spec.replicas):
            identity = Identity(
                swarm=name,
                role=spec.name,
                kind=spec.role,
                instance=f"{spec.name}-{index}",
                work_in=work_in,
                work_out=work_out,
                run_id=f"local-{os.getpid()}",
            )
            try:
                workers[spec.name].append(
                    Worker(
                        identity,
                        bootstrap,
                        transports,
                        store=store,
                        secrets=secrets or SecretReader(),
                        datasets=datasets or Path.cwd(),
                    )
                )
            except ConfigError as exc:
                raise RunInputError(f"spec.roles[{spec.name}].config: {exc}") from exc
    return LocalSwarm(swarm, transports, workers, controller)


async def drain(local: LocalSwarm, until: float) -> None:
    """Wait until no queue holds items and nothing is in flight (or ``until`` passes)."""
    loop = asyncio.get_running_loop()
    await local.refresh_depths()
    while local.busy() and loop.time() < until:
        await asyncio.sleep(0.05)
        await local.refresh_depths()


async def show_progress(locals_: list[LocalSwarm], options: RunOptions, stop: asyncio.Event, live: bool) -> None:
    """Print every swarm's view each interval until the duration passes or ``stop`` is set."""
    loop = asyncio.get_running_loop()
    out = options.out
    started = locals_[0].started
    deadline = started + options.duration if options.duration else None
    drawn = 0
    while not stop.is_set():
        remaining = (deadline - loop.time()) if deadline else options.interval
        if remaining <= 0:
            break
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=min(options.interval, remaining))
        elapsed = loop.time() - started
        blocks = []
        for local in locals_:
            await local.refresh_depths()
            blocks.append((local.name, table(local.rows(loop.time()))))
        if live:
            text = "".join(f"{name}: {elapsed:.0f}s\n{view}\n" for name, view in blocks)
            out.write(("\x1b[F" * drawn) + "\x1b[J" + text)
            drawn = text.count("\n")
        else:
            out.write("".join(f"--- {name} at {elapsed:.1f}s\n{view}\n" for name, view in blocks))
        out.flush()


def dataset_lists(swarm: Swarm) -> set[str]:
    """The Redis lists a swarm's roles read or write by name (REDIS_DATASET inputs, REDIS pushes)."""
    found: set[str] = set()
    for role in swarm.spec.roles:
        if role.role is None:
            continue
        try:
            config = role_configs.validate(role.role, bootstrap_config(swarm, role.config, role.work.out))
        except ConfigError:
            continue  # a role with no workers (replicas 0): its config was never needed
        if config.inputs.redis is not None:
            found.update(config.inputs.redis.lists)
        for push in (config.outputs.redis, config.interceptors.redisUploader):
            if push is not None:
                found.update(route.list for route in push.routes)
                if push.defaultList:
                    found.add(push.defaultList)
    return found


async def run(swarm: Swarm | list[Swarm], options: RunOptions, stop: asyncio.Event | None = None) -> dict[str, Any]:
    """Run one swarm (or several side by side, sharing one data store) until ``options.duration``
    passes or ``stop`` is set; return the JSON summary (with ``swarms[]`` when there are several)."""
    swarms = swarm if isinstance(swarm, list) else [swarm]
    names = [s.metadata.name for s in swarms]
    if len(set(names)) != len(names):
        raise RunInputError(f"swarm names must differ to run side by side (got {', '.join(names)}); rename one")
    store = local_store(options.redis_url)
    reader = local_secrets(options)
    locals_ = [
        await build(s, options.broker_url, store, reader, options.exchanges, options.datasets.get(s.metadata.name))
        for s in swarms
    ]
    for local in locals_:
        local.out = options.out
    live = options.live if options.live is not None else options.out.isatty()
    wall_started = time.time()
    lists = sorted(set().union(*(dataset_lists(s) for s in swarms)))
    at_start = {name: await store.llen(name) for name in lists}
    in_flight = 0
    try:
        elapsed, drained = await _drive(locals_, options, stop or asyncio.Event(), live)
        for local in locals_:
            local.verdict = run_plan.judge_now(local, elapsed)
            with contextlib.suppress(BrokerUnavailable):  # said when it went away; the count stays unknown (0)
                local.dead_letters = await local.transports.dead_letter_count()
            await local.refresh_depths()
            in_flight += local.in_flight()
    finally:
        for local in locals_:
            for workers in local.workers.values():
                for worker in workers:
                    await worker.stop()
            await local.transports.close()
    for local in locals_:
        await finish(local)  # the workers stopped: the last counts are final
    try:
        pushed, popped, uncertain = run_report.dataset_counts(locals_)
        at_end = {name: await store.llen(name) for name in sorted({*lists, *pushed, *popped})}
    finally:
        await store.close()
    books = ledger.books(at_start, at_end, pushed, popped, in_flight, uncertain) if at_end else None
    return run_report.report(
        locals_, (elapsed, drained), wall_started, books, out=options.out, json_path=options.json_path
    )


def expected_seconds(locals_: list[LocalSwarm], options: RunOptions) -> float | None:
    """How long the load should last: ``--duration``, else the longest ``spec.run`` (None: until Ctrl-C or an
    item budget), which sets the time series' interval."""
    ends = [local.swarm.spec.run.seconds if local.swarm.spec.run else None for local in locals_]
    planned = None if None in ends else max(end for end in ends if end is not None)
    if options.duration is None:
        return planned
    return options.duration if planned is None else min(options.duration, planned)


async def _drive(
    locals_: list[LocalSwarm], options: RunOptions, stop: asyncio.Event, live: bool
) -> tuple[float, float]:
    """Start, enable (consumers first), show progress, then disable producers and drain; return the seconds
    run and the seconds the drain took."""
    loop = asyncio.get_running_loop()
    for local in locals_:
        await local.controller.start()
        for workers in local.workers.values():
            for worker in workers:
                await worker.start()
    drivers = [run_plan.RunDriver(local, loop.time) for local in locals_]
    for driver in drivers:
        await driver.start_rates()  # a staged role starts at its start rate, not at its config's
    for local in locals_:
        if local.swarm.spec.paused:
            print(f"{local.name}: spec.paused is true: workers stay disabled (set paused: false)", file=options.out)
        else:
            await local.set_enabled(local.producers_last(), True)
    started = loop.time()
    for local in locals_:
        local.started = started
    playing = asyncio.create_task(run_plan.drive_all(drivers, started, stop))
    async with recording(
        locals_, options.timeseries_interval or interval_for(expected_seconds(locals_, options)), started
    ):
        try:
            await show_progress(locals_, options, stop, live)
        finally:
            stop.set()
            await playing
        elapsed = loop.time() - started
        for local in locals_:
            if not local.swarm.spec.paused:
                try:
                    await local.set_enabled([r.name for r in local.swarm.spec.roles if not r.work.in_], False)
                except Unavailable as exc:  # the broker is gone for good: the drain and the summary still follow
                    print(f"{local.name}: cannot stop the producers before the drain: {exc}", file=options.out)
        draining = loop.time()
        await asyncio.gather(*(drain(local, draining + DRAIN_SECONDS) for local in locals_))
    return elapsed, loop.time() - draining


def run_blocking(
    swarm: Swarm | list[Swarm], options: RunOptions, on_interrupt: Callable[[], None] | None = None
) -> dict[str, Any]:
    """Run with uvloop (when available) and turn Ctrl-C into a clean stop with a summary."""

    async def main() -> dict[str, Any]:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        import signal

        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        # What the imports made (modules, models, schemas) lives as long as the run: the collector's full scans skip
        # it (``worker.heap``). Here and not in ``run``, which tests call in their own long-lived process.
        heap.freeze_startup_heap()
        if options.sut.demo:
            with demo_services.started(swarm, options.sut) as (url, tcp_url):
                print(f"demo SUT at {url}", file=options.out)
                if tcp_url is not None:
                    print(f"demo TCP SUT at {tcp_url}", file=options.out)
                # Its credentials are public: they are the Secret hivekeeper-demo-sut of this run.
                options.provided_secrets = {**demo_auth.DEMO_SECRET, **options.provided_secrets}
                return await run(endpoints.aim(swarm, options.sut, url, tcp_url), options, stop)
        return await run(endpoints.aim(swarm, options.sut, None), options, stop)

    try:
        import uvloop

        return uvloop.run(main())
    except ImportError:  # pragma: no cover - uvloop is a dependency on Linux and macOS
        return asyncio.run(main())
