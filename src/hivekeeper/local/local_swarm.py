"""One swarm of a ``hivekeeper run``: its workers, transports and controller, and the views of its progress
(rows per role, queue books, queue depths) that the runner prints."""

from __future__ import annotations

import asyncio
import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TextIO

from hivekeeper.api.swarm import Swarm
from hivekeeper.api.verdict import Verdict
from hivekeeper.local import queue_books
from hivekeeper.local.controller import LocalController
from hivekeeper.local.progress import RoleRow
from hivekeeper.local.queue_books import QueueBook, StageCount
from hivekeeper.local.transports import BrokerTransports, BrokerUnavailable, MemoryTransports
from hivekeeper.protocol import naming
from hivekeeper.report.timeseries import TimeSeries
from hivekeeper.worker.result_counts import ResultTally
from hivekeeper.worker.runtime.worker import Worker
from hivekeeper.worker.stats import Histogram

if TYPE_CHECKING:
    from hivekeeper.local.recorder import Recorder


@dataclass
class LocalSwarm:
    swarm: Swarm
    transports: MemoryTransports | BrokerTransports
    workers: dict[str, list[Worker]]
    controller: LocalController
    started: float = 0.0
    depths: dict[str, int] = field(default_factory=dict)
    dead_letters: int = 0
    """Items in the swarm's dead-letter queue when the run ended (``deadLetter.enabled``)."""
    _previous: dict[str, tuple[float, int]] = field(default_factory=dict)
    out: TextIO = sys.stdout
    broker_down: BrokerUnavailable | None = None
    """Set while the broker cannot be reached (``--broker``), to what went wrong."""
    broker_outages: int = 0
    verdict: Verdict | None = None
    """Judged when the run ended (``spec.run`` thresholds, and whether anything succeeded)."""
    recorder: Recorder | None = None
    """Records the time series while the load runs (``local.recorder.recording``)."""
    timeseries: TimeSeries | None = None
    """The run's points per role, set when the run ends (``local.recorder.finish``)."""

    @property
    def name(self) -> str:
        return self.swarm.metadata.name

    def producers_last(self) -> list[str]:
        """Role names in enable order: everything that consumes first, pure producers last."""
        roles = self.swarm.spec.roles
        return [r.name for r in roles if r.work.in_] + [r.name for r in roles if not r.work.in_]

    async def set_enabled(self, names: list[str], enabled: bool) -> None:
        for name in names:
            await asyncio.gather(
                *(
                    self.controller.send("config-update", name, worker.identity.instance, {"enabled": enabled})
                    for worker in self.workers[name]
                )
            )

    def rows(self, now: float) -> list[RoleRow]:
        rows = []
        for spec in self.swarm.spec.roles:
            workers = self.workers[spec.name]
            latency, token_latency, results = Histogram(), Histogram(), ResultTally()
            row = RoleRow(name=spec.name, role=spec.role or spec.image or "?", instances=len(workers))
            for worker in workers:
                stats = worker.stats
                row.processed += stats.processed
                row.errors += stats.errors
                row.dropped += stats.dropped
                row.in_flight += stats.in_flight
                row.truncated += stats.truncated
                row.redelivered += stats.redelivered
                for reason, n in stats.drop_reasons.items():
                    row.drop_reasons[reason] = row.drop_reasons.get(reason, 0) + n
                latency.merge(stats.latency)
                results.merge(stats.results)
                for code, n in stats.statuses.items():
                    row.status_codes[str(code)] = row.status_codes.get(str(code), 0) + n
                for kind, n in stats.error_kinds.items():
                    row.error_kinds[kind] = row.error_kinds.get(kind, 0) + n
                if stats.auth:
                    auth = row.auth or {"tokenFetches": 0, "tokenFetchErrors": 0, "unauthorizedRetries": 0}
                    auth["tokenFetches"] += stats.auth.token_fetches
                    auth["tokenFetchErrors"] += stats.auth.token_errors
                    auth["unauthorizedRetries"] += stats.auth.unauthorized_retries
                    token_latency.merge(stats.auth.token_latency)
                    row.auth = auth
            if row.auth:
                row.auth["tokenFetchP95Ms"] = token_latency.percentile(95)
            row.business_codes = results.codes.as_dict()
            row.dimensions = {name: counts.as_dict() for name, counts in sorted(results.dimensions.items())}
            row.p50, row.p95, row.p99 = (latency.percentile(p) for p in (50, 95, 99))
            last_t, last_n = self._previous.get(spec.name, (self.started, 0))
            row.tps = (row.processed - last_n) / (now - last_t) if now > last_t else 0.0
            self._previous[spec.name] = (now, row.processed)
            if spec.work.in_:
                row.queue = naming.work_queue(self.name, spec.work.in_)
                row.depth = self.depths.get(row.queue)
            rows.append(row)
        return rows

    def totals(self, elapsed: float) -> list[RoleRow]:
        self._previous = {}
        return self.rows(self.started + elapsed)

    def books(self, rows: list[RoleRow]) -> list[QueueBook]:
        """Where every item put into a work queue went (``local.queue_books``), from the final rows and depths."""
        by_name = {row.name: row for row in rows}
        stages = [
            StageCount(
                role=spec.name,
                work_in=spec.work.in_,
                work_out=spec.work.out,
                publishes=any(w.sink is not None for w in self.workers[spec.name]),
                processed=by_name[spec.name].processed,
                dropped=by_name[spec.name].dropped,
                in_flight=sum(w.stats.in_flight + w.source.buffered() for w in self.workers[spec.name]),
            )
            for spec in self.swarm.spec.roles
        ]
        aliases = {a for r in self.swarm.spec.roles for a in (r.work.in_, r.work.out) if a}
        depths = {alias: self.depths.get(naming.work_queue(self.name, alias)) or 0 for alias in aliases}
        return queue_books.books(stages, depths)

    def queue_names(self) -> list[str]:
        aliases = {a for r in self.swarm.spec.roles for a in (r.work.in_, r.work.out) if a}
        return sorted(naming.work_queue(self.name, alias) for alias in aliases)

    async def refresh_depths(self) -> None:
        """Read the queue depths; while the broker is unreachable keep the last ones and say so (once)."""
        try:
            self.depths = await self.transports.depths(self.queue_names())
        except BrokerUnavailable as exc:
            if self.broker_down is None:
                self.broker_down = exc
                self.broker_outages += 1
                print(f"{self.name}: broker unreachable ({exc}); the workers reconnect by themselves", file=self.out)
            return
        if self.broker_down is not None:
            print(f"{self.name}: broker reachable again", file=self.out)
            self.broker_down = None

    def busy(self) -> bool:
        return self.in_flight() > 0

    def in_flight(self) -> int:
        """Items queued for a consumer, being processed, or between an input and its work loop (as of the
        last :meth:`refresh_depths`)."""
        consumed = {naming.work_queue(self.name, r.work.in_) for r in self.swarm.spec.roles if r.work.in_}
        queued = sum(self.depths.get(q) or 0 for q in consumed)
        return queued + sum(w.stats.in_flight + w.source.buffered() for ws in self.workers.values() for w in ws)
