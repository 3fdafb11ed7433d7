"""What a ``hivekeeper run`` prints and returns when it ends: per swarm the summary table, the queue books,
items left in queues, redeliveries and broker outages; for the run the datasets' books; the JSON summary."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any, TextIO

import orjson

from hivekeeper.api.verdict import Verdict
from hivekeeper.local import ledger
from hivekeeper.local.local_swarm import LocalSwarm
from hivekeeper.local.progress import RoleRow, summary
from hivekeeper.local.transports import BrokerTransports
from hivekeeper.protocol import naming
from hivekeeper.worker.inputs.redis_dataset import RedisDatasetSource


def dataset_counts(locals_: list[LocalSwarm]) -> tuple[Counter[str], Counter[str], Counter[str]]:
    """Elements the run's workers pushed to and popped from each Redis list, and the pushes and pops per list
    whose answer a lost connection cut off (uncertain)."""
    pushed: Counter[str] = Counter()
    popped: Counter[str] = Counter()
    uncertain: Counter[str] = Counter()
    for local in locals_:
        for workers in local.workers.values():
            for worker in workers:
                for pusher in (worker.redis_output, worker.uploader):
                    if pusher is not None:
                        pushed.update(pusher.pusher.counts.by_list)
                        uncertain.update(pusher.pusher.counts.uncertain_by_list)
                if isinstance(worker.source, RedisDatasetSource):
                    popped.update(worker.source.popped_by_list)
                    uncertain.update(worker.source.uncertain_by_list)
    return pushed, popped, uncertain


def report(
    locals_: list[LocalSwarm],
    timing: tuple[float, float],
    wall_started: float,
    books: ledger.DatasetBooks | None,
    *,
    out: TextIO,
    json_path: Path | None,
) -> dict[str, Any]:
    """Print each swarm's summary, queue books, leftovers and the datasets' books; return (and write to
    ``json_path``) the JSON summary."""
    elapsed, drained = timing
    results = []
    for local in locals_:
        # Consumers go on through the drain, so their rates cover its time too; producers stopped at its start.
        rows = local.totals(elapsed + drained)
        producers = {r.name for r in local.swarm.spec.roles if not r.work.in_}
        for row in rows:
            if row.name in producers and elapsed > 0:
                row.tps = row.processed / elapsed
        for row in rows:
            row.depth = None  # queues are gone (memory) or shared (broker): depth means nothing after the run
        print(summary(local.name, elapsed, rows, drained), file=out)
        if local.dead_letters:
            queue = naming.dead_letter_queue(local.name)
            print(f"{local.name}: {local.dead_letters:,} dead letters in {queue}", file=out)
        ledgers = local.books(rows)
        for book in ledgers:
            print(book.line(), file=out)
        left = {queue: depth for queue, depth in sorted(local.depths.items()) if depth}
        if left:
            where = ", ".join(f"{queue}: {depth:,}" for queue, depth in left.items())
            kept = "they stay on the broker" if isinstance(local.transports, BrokerTransports) else "they are discarded"
            print(
                f"{local.name}: {sum(left.values()):,} items left in queues after the drain ({where}); {kept}", file=out
            )
        redelivered = _print_notes(local, rows, out)
        results.append(
            {
                "swarm": local.name,
                "startedAt": wall_started if not local.swarm.spec.paused else None,
                "durationSeconds": round(elapsed, 3),
                "drainSeconds": round(drained, 3),
                "roles": [row.as_json() for row in rows],
                "alerts": [a.data for a in local.controller.alerts[-20:]],
                "deadLetters": local.dead_letters,
                "leftInQueues": left,
                "brokerOutages": local.broker_outages,
                "redelivered": redelivered,
                "queueBooks": [book.as_json() for book in ledgers],
                "verdict": local.verdict.model_dump(mode="json") if local.verdict else None,
                "timeseries": local.timeseries.as_json() if local.timeseries else None,
            }
        )
    if books is not None:
        print(ledger.render(books), file=out)
    result: dict[str, Any] = dict(results[0]) if len(results) == 1 else {"swarms": results}
    if books is not None:
        result["datasets"] = {b.name: b.end for b in books.lists}
        result["datasetBooks"] = ledger.as_json(books)
    if json_path:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2))
        print(f"summary written to {json_path}", file=out)
    return result


def verdict_text(swarm: str, verdict: Verdict) -> str:
    """``quickstart: PASSED (all 2 thresholds held)`` and one line per threshold."""
    lines = [f"{swarm}: {verdict.result.upper()} ({verdict.reason})"]
    for result in verdict.thresholds:
        mark = "ok  " if result.passed else "FAIL"
        lines.append(f"  {mark} {result.message}")
    return "\n".join(lines)


def _print_notes(local: LocalSwarm, rows: list[RoleRow], out: TextIO) -> int:
    """Redeliveries, broker outages and the verdict, under the summary; returns the items redelivered."""
    redelivered = sum(row.redelivered for row in rows)
    if redelivered:
        who = ", ".join(f"{row.name} {row.redelivered:,}" for row in rows if row.redelivered)
        print(
            f"{local.name}: {redelivered:,} items delivered again by the broker ({who}): they may have been "
            "processed twice (the broker redelivers what was not yet acknowledged when a connection dropped)",
            file=out,
        )
    if local.broker_outages:
        print(f"{local.name}: the broker was unreachable {local.broker_outages} time(s) during the run", file=out)
    if local.verdict is not None:
        print(verdict_text(local.name, local.verdict), file=out)
    return redelivered
