"""CSV_DATASET input: each item is one row of a CSV file (a JSON object keyed by the header), at a live rate.

Pacing is the SCHEDULER's (:class:`~hivekeeper.worker.pacing.RatePacer`). Which row comes next is a cursor:

- **shared** when the worker has a data store (Redis in a cluster, the run's store locally): every row
  handed out takes the next number of one Redis counter (INCR) that all replicas of the role share, so
  within a pass each row goes to exactly one replica, whatever the number of replicas;
- **per worker** otherwise: each worker walks the file by itself (replicas repeat each other's rows).

At the end of the file the cursor starts another pass (``rotate: true``) or the input stops: it reports
``out-of-data``, raises one ``io.out-of-data`` alert and hands out nothing more. A row a worker takes but
gives back (paused mid-item) is handed out again by that worker first. The shared counter lives in Redis as
long as its key (``context.csvDataset.cursorKey``): it survives pod restarts; delete the key to start over.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

from hivekeeper.api.roles.inputs import CsvDatasetInput
from hivekeeper.protocol.workitem import new_item, now
from hivekeeper.worker.inputs.csv_table import CsvTable
from hivekeeper.worker.pacing import RatePacer
from hivekeeper.worker.ports import DataStore, Delivery

FILE_HEADER = "x-ph-csv-file"
ROW_HEADER = "x-ph-csv-row"
"""1-based number of the item's row in the file (the header is not counted)."""
REMAINING_HEADER = "x-ph-csv-remaining"
"""Rows after this one in the current pass."""
PASS_HEADER = "x-ph-csv-pass"
"""1-based pass over the file (above 1 only with ``rotate``)."""

_MAX_SLEEP = 0.05
"""Re-check at least this often, so that a rate change or a pause takes effect quickly."""

MAX_BACKOFF = 5.0
"""Longest wait between attempts while the store fails, in seconds."""

AlertFn = Callable[..., None]


def cursor_key(swarm: str, role: str, run_id: str, table: CsvTable) -> str:
    """The Redis counter the replicas of one role share: per swarm, role and run, and per file content (a new
    file starts a new cursor)."""
    digest = hashlib.sha256(b"\n".join(table.rows)).hexdigest()[:12]
    run = f":{run_id}" if run_id else ""
    return f"hivekeeper:csv:{swarm}:{role}{run}:{digest}"


class CsvDatasetSource:
    """A :class:`~hivekeeper.worker.ports.WorkSource` handing out the rows of a :class:`CsvTable`."""

    def __init__(
        self,
        table: CsvTable,
        config: CsvDatasetInput,
        *,
        store: DataStore | None,
        swarm: str,
        role: str,
        instance: str,
        run_id: str,
        alert: AlertFn,
    ) -> None:
        self.table = table
        self.config = config
        self.store = store
        self.swarm, self.role, self.instance = swarm, role, instance
        self.key = cursor_key(swarm, role, run_id, table)
        self._alert = alert
        self.pacer = RatePacer(config.ratePerSec)
        self._running = asyncio.Event()
        self._lock = asyncio.Lock()
        self._ready = 0
        self._seq = 0
        self._local = 0
        """The per-worker cursor (no store): how many rows this worker took."""
        self._returned: deque[int] = deque()
        """Row positions given back (paused mid-item): handed out again first."""
        self._hold_until = 0.0
        self._failures = 0
        self._state = "ok"
        self.dispatched = 0
        self.passes = 0
        self.last_row: int | None = None
        self.last_error: str | None = None
        self.exhausted_at: str | None = None

    @property
    def shared(self) -> bool:
        return self.store is not None

    # -- WorkSource ---------------------------------------------------------------------------
    async def get(self) -> Delivery:
        loop = asyncio.get_running_loop()
        while True:
            await self._take_credit(loop)
            try:
                position = await self._next_position()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._failed(exc, loop.time())
                continue
            if position is None:
                self._end()
                continue
            self._seq += 1
            return Delivery(self._item(position), self._seq, reject=self._give_back(position))

    async def _next_position(self) -> int | None:
        """The next row's position over all passes (0-based), or None once a non-rotating file is done."""
        if self._returned:
            return self._returned.popleft()
        if self.store is not None:
            position = await self.store.incr(self.key) - 1
        else:
            position, self._local = self._local, self._local + 1
        if self._failures:
            self._failures, self._state = 0, "ok"
        rows = len(self.table)
        if rows == 0 or (position >= rows and not self.config.rotate):
            return None
        return position

    async def _take_credit(self, loop: asyncio.AbstractEventLoop) -> None:
        async with self._lock:
            while self._ready == 0:
                await self._running.wait()
                if self._state == "out-of-data" and not self._returned:
                    await asyncio.sleep(_MAX_SLEEP)  # nothing more to hand out: wait for the worker to stop
                    continue
                wait = self._hold_until - loop.time()
                if wait > 0:
                    await asyncio.sleep(min(wait, _MAX_SLEEP))
                    continue
                due = self.pacer.due(loop.time())
                if due:
                    self._ready += due
                    break
                await asyncio.sleep(min(self.pacer.seconds_until_next(), _MAX_SLEEP))
            self._ready -= 1

    def _item(self, position: int) -> bytes:
        rows = len(self.table)
        index, pass_ = position % rows, position // rows
        headers: dict[str, Any] = {
            FILE_HEADER: self.table.file,
            ROW_HEADER: index + 1,
            REMAINING_HEADER: rows - index - 1,
            PASS_HEADER: pass_ + 1,
        }
        item = new_item(
            self.table.rows[index].decode(),
            swarm=self.swarm,
            service=self.role,
            instance=self.instance,
            headers=headers,
        )
        self.dispatched += 1
        self.passes = max(self.passes, pass_ + 1)
        self.last_row = index + 1
        return item.to_json()

    def _give_back(self, position: int) -> Callable[[bool], Awaitable[None]]:
        async def reject(requeue: bool) -> None:
            if requeue:
                self.dispatched -= 1
                self._returned.append(position)

        return reject

    def _end(self) -> None:
        self._ready = 0
        if self._state == "out-of-data":
            return
        self._state = "out-of-data"
        self.exhausted_at = now()
        self._alert(
            "io.out-of-data",
            f"every row of {self.table.file} was handed out ({len(self.table)} rows, rotate false); set "
            "inputs.csv.rotate: true to start over at the end",
            {"file": self.table.file, "rows": len(self.table)},
            level="warning",
        )

    def _failed(self, exc: Exception, at: float) -> None:
        self._failures += 1
        self._state = "upstream-error"
        self.last_error = f"{type(exc).__name__}: {exc}"
        backoff = min(MAX_BACKOFF, 0.1 * 2 ** min(self._failures - 1, 6))
        self._hold_until = max(self._hold_until, at + backoff)
        self._alert(
            "io.upstream-error",
            f"the shared CSV cursor {self.key} could not be advanced in Redis ({self.last_error}); retrying in "
            f"{backoff:.1f} s",
            {"file": self.table.file},
        )

    # -- control --------------------------------------------------------------------------------
    def buffered(self) -> int:
        return 0

    async def pause(self) -> None:
        self._running.clear()
        self.hold_back()

    def hold_back(self) -> None:
        """Forget the items granted and the credit earned (a pause, or a closing buffer guard): what fell due at
        the old rate must not still go out."""
        self._ready = 0
        self.pacer.pause()

    async def resume(self) -> None:
        self._running.set()

    def configure(self, config: CsvDatasetInput) -> None:
        """Apply a config-update: the rate and ``rotate`` are live (the file is read once, at start)."""
        self.pacer.set_rate(config.ratePerSec, asyncio.get_running_loop().time())
        if config.rotate and self._state == "out-of-data":
            self._state = "ok"  # the end of the file is a new pass now
        self.config = config

    def state(self) -> str:
        return self._state

    def context(self) -> dict[str, Any]:
        return {
            "filePath": self.table.file,
            "rows": len(self.table),
            "columns": list(self.table.columns),
            "rotate": self.config.rotate,
            "cursor": "shared" if self.shared else "worker",
            "cursorKey": self.key if self.shared else None,
            "ratePerSec": self.pacer.rate_per_sec,
            "dispatched": self.dispatched,
            "passes": self.passes,
            "lastRow": self.last_row,
            "exhaustedAt": self.exhausted_at,
            "lastErrorMessage": self.last_error,
        }

    async def close(self) -> None:
        self._running.clear()
