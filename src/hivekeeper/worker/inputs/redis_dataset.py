"""REDIS_DATASET input: each item is one element LPOP'd from a Redis list, at a live-adjustable rate.

Pacing is the SCHEDULER's (:class:`~hivekeeper.worker.pacing.RatePacer`): smooth, with fractions
carried over, never 1 s bursts. A work loop that asks for an item takes one credit and pops one
element; nothing is popped ahead of a loop asking, so a paused worker leaves the lists untouched (an
element popped just as the worker is paused is pushed back to the head of its list).

With several lists, :class:`SourcePicker` decides which list is tried first (ROUND_ROBIN advances a
cursor per item, WEIGHTED_RANDOM draws by weight) and the others follow in order when it is empty.
When every list is empty the input reports ``out-of-data``, raises one ``io.out-of-data`` alert for the
spell, and polls again every ``pollIntervalMs``. Redis errors report ``upstream-error``, alert
(rate-limited by the runtime) and retry with a capped backoff; the input never stops on its own.
"""

from __future__ import annotations

import asyncio
import base64
import bisect
import itertools
import random
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

from hivekeeper.api.roles.inputs import RedisDatasetInput
from hivekeeper.protocol.workitem import WorkItem, new_item, now
from hivekeeper.worker.pacing import RatePacer
from hivekeeper.worker.ports import DataStore, Delivery, StoreUnavailable

LIST_HEADER = "x-ph-redis-list"
"""WorkItem header naming the list an item was popped from (recycling routes on it)."""

_MAX_SLEEP = 0.05
"""Re-check at least this often, so that a rate change or a pause takes effect quickly."""

MAX_BACKOFF = 5.0
"""Longest wait between attempts while Redis fails, in seconds."""

CLOSE_TIMEOUT = 5.0
"""How long ``close`` waits for elements still being pushed back, in seconds."""

AlertFn = Callable[..., None]


class SourcePicker:
    """The order in which lists are tried for the next item: the first choice, then the fall-through."""

    def __init__(self, lists: list[str], weights: list[float], strategy: str, rng: random.Random | None = None) -> None:
        if not lists or len(lists) != len(weights):
            raise ValueError("a picker needs one weight per list and at least one list")
        self.lists = lists
        self.strategy = strategy
        self._rotations = [lists[i:] + lists[:i] for i in range(len(lists))]
        self._cumulative = list(itertools.accumulate(weights))
        self._rng = rng or random.Random()
        self._cursor = 0

    def order(self) -> list[str]:
        """Lists to try for one item, first choice first."""
        if len(self._rotations) == 1:
            return self._rotations[0]
        if self.strategy == "WEIGHTED_RANDOM":
            point = self._rng.random() * self._cumulative[-1]
            first = min(bisect.bisect_right(self._cumulative, point), len(self._cumulative) - 1)
        else:
            first = self._cursor
            self._cursor = (first + 1) % len(self._rotations)
        return self._rotations[first]


class RedisDatasetSource:
    """A :class:`~hivekeeper.worker.ports.WorkSource` reading Redis lists through the worker's store."""

    def __init__(
        self,
        store: DataStore,
        config: RedisDatasetInput,
        *,
        swarm: str,
        role: str,
        instance: str,
        alert: AlertFn,
        rng: random.Random | None = None,
    ) -> None:
        self.store = store
        self.swarm, self.role, self.instance = swarm, role, instance
        self._alert = alert
        self._rng = rng
        self.config = config
        self.picker = SourcePicker(config.lists, config.weights, config.pickStrategy, rng)
        self.pacer = RatePacer(config.ratePerSec)
        self._running = asyncio.Event()
        self._lock = asyncio.Lock()
        self._ready = 0
        self._seq = 0
        self._hold_until = 0.0
        """No pops before this loop time (lists were empty, or Redis failed)."""
        self._state = "ok"
        self._failures = 0
        self.popping = 0
        """Pops in flight (LPOPs sent, not yet answered)."""
        self._returning: set[asyncio.Future[None]] = set()
        """Push-backs in flight (elements going back to the head of their list)."""
        self.dispatched = 0
        self.popped_by_list: Counter[str] = Counter()
        self.uncertain_by_list: Counter[str] = Counter()
        """LPOPs sent whose answer a broken connection cut off: Redis may have taken an element (at most once)."""
        """Elements handed to work loops and not given back, per list (``hivekeeper run``'s ledger)."""
        self.last_pop_list: str | None = None
        self.last_pop_at: str | None = None
        self.last_empty_at: str | None = None
        self.last_error_at: str | None = None
        self.last_error: str | None = None

    # -- WorkSource ---------------------------------------------------------------------------
    async def get(self) -> Delivery:
        loop = asyncio.get_running_loop()
        while True:
            await self._take_credit(loop)
            try:
                found = await self._pop_or_give_back(self.picker.order())
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._failed(exc, loop.time())
                continue
            if found is None:
                self._empty(loop.time())
                continue
            name, element = found
            self._got(name)
            self._seq += 1
            body = self._item(name, element).to_json()
            return Delivery(body, self._seq, reject=self._give_back(name, element))

    async def _pop_or_give_back(self, order: list[str]) -> tuple[str, bytes] | None:
        """Pop the next element; if this task is cancelled meanwhile, the element goes back to its list.

        Once LPOP is sent the server may already have taken the element, and cancelling the call loses
        the answer (redis-py drops the connection). So the pop runs in its own task that a cancel does
        not reach; a cancelled caller leaves it to finish and push what it got back to the head.
        """
        # ``popping`` counts the element until a work loop holds it (it returns from ``get`` with no
        # await in between) or its push-back is tracked, so that a drain never sees it nowhere.
        self.popping += 1
        pop = asyncio.ensure_future(self._pop(order))
        try:
            found = await asyncio.shield(pop)
        except asyncio.CancelledError:
            self._track(self._give_back_when_popped(pop))
            raise
        except Exception:
            self.popping -= 1
            raise
        self.popping -= 1
        return found

    async def _give_back_when_popped(self, pop: asyncio.Future[tuple[str, bytes] | None]) -> None:
        try:
            found = await pop
        except Exception:
            return  # the pop failed: it took nothing
        finally:
            self.popping -= 1
        if found is not None:
            await self._push_back(*found)

    def _track(self, push_back: Awaitable[None]) -> asyncio.Future[None]:
        """Run a push-back to completion whatever happens to the caller; ``close`` waits for it."""
        task = asyncio.ensure_future(push_back)
        self._returning.add(task)
        task.add_done_callback(self._returning.discard)
        return task

    async def _push_back(self, name: str, element: bytes, *, dispatched: bool = False) -> None:
        try:
            await self.store.push(name, element, left=True)  # back to the head, where it came from
            if dispatched:
                self.dispatched -= 1
                self.popped_by_list[name] -= 1
        except Exception as exc:
            self._alert(
                "io.upstream-error",
                f"could not push an element back to Redis list {name!r} ({type(exc).__name__}: {exc}); it is lost",
                {"list": name},
            )

    async def _take_credit(self, loop: asyncio.AbstractEventLoop) -> None:
        async with self._lock:
            while self._ready == 0:
                await self._running.wait()
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

    async def _pop(self, order: list[str]) -> tuple[str, bytes] | None:
        for name in order:
            try:
                element = await self.store.lpop(name)
            except StoreUnavailable as exc:
                if exc.sent:
                    self.uncertain_by_list[name] += 1
                raise
            if element is not None:
                return name, element
        return None

    def _item(self, name: str, element: bytes) -> WorkItem:
        try:
            text, encoded = element.decode(), False
        except UnicodeDecodeError:
            text, encoded = base64.b64encode(element).decode(), True
        item = new_item(text, swarm=self.swarm, service=self.role, instance=self.instance, headers={LIST_HEADER: name})
        if encoded:
            item.steps[0].payloadEncoding = "base64"
        return item

    def _give_back(self, name: str, element: bytes) -> Callable[[bool], Awaitable[None]]:
        async def reject(requeue: bool) -> None:
            if requeue:
                await asyncio.shield(self._track(self._push_back(name, element, dispatched=True)))

        return reject

    # -- bookkeeping ----------------------------------------------------------------------------
    def _got(self, name: str) -> None:
        self.dispatched += 1
        self.popped_by_list[name] += 1
        self.last_pop_list = name
        self.last_pop_at = now()
        if self._state != "ok":
            self._state = "ok"
            self._failures = 0

    def _empty(self, at: float) -> None:
        self._hold_until = max(self._hold_until, at + self.config.pollIntervalMs / 1000)
        # Credit earned while waiting is not owed once data comes back: start pacing afresh.
        self._ready = 0
        self.pacer.pause()
        if self._state == "out-of-data":
            return
        self._state = "out-of-data"
        self.last_empty_at = now()
        lists = ", ".join(self.picker.lists)
        self._alert(
            "io.out-of-data",
            f"every dataset list is empty ({lists}); polling every {self.config.pollIntervalMs} ms until "
            "elements are pushed",
            {"lists": self.picker.lists},
            level="warning",
        )

    def _failed(self, exc: Exception, at: float) -> None:
        self._failures += 1
        self._state = "upstream-error"
        self.last_error_at = now()
        self.last_error = f"{type(exc).__name__}: {exc}"
        backoff = min(MAX_BACKOFF, 0.1 * 2 ** min(self._failures - 1, 6))
        self._hold_until = max(self._hold_until, at + backoff)
        self._alert(
            "io.upstream-error",
            f"Redis LPOP failed ({self.last_error}); retrying in {backoff:.1f} s",
            {"lists": self.picker.lists},
        )

    # -- control --------------------------------------------------------------------------------
    def buffered(self) -> int:
        """Elements between the lists and a work loop: pops not yet answered and elements being given back
        (a drain waits for them, or they would be lost when the worker stops)."""
        return self.popping + len(self._returning)

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

    def configure(self, config: RedisDatasetInput) -> None:
        """Apply a config-update: the rate, the lists, the strategy and the poll interval are live."""
        self.pacer.set_rate(config.ratePerSec, asyncio.get_running_loop().time())
        if (config.lists, config.weights, config.pickStrategy) != (
            self.config.lists,
            self.config.weights,
            self.config.pickStrategy,
        ):
            self.picker = SourcePicker(config.lists, config.weights, config.pickStrategy, self._rng)
            self._hold_until = 0.0  # new lists may have data: look at once
        self.config = config

    def state(self) -> str:
        return self._state

    def context(self) -> dict[str, Any]:
        config = self.config
        lists: dict[str, Any] = (
            {"listName": config.listName}
            if config.listName
            else {"sources": [s.model_dump() for s in config.sources or []]}
        )
        return {
            **lists,
            "pickStrategy": config.pickStrategy,
            "ratePerSec": self.pacer.rate_per_sec,
            "pollIntervalMs": config.pollIntervalMs,
            "dispatched": self.dispatched,
            "lastPopList": self.last_pop_list,
            "lastPopAt": self.last_pop_at,
            "lastEmptyAt": self.last_empty_at,
            "lastErrorAt": self.last_error_at,
            "lastErrorMessage": self.last_error,
        }

    async def close(self) -> None:
        """Stop popping; wait (bounded) for unanswered pops and for elements on their way back to their
        lists, so that the store is not closed under them."""
        self._running.clear()
        if self._returning:
            await asyncio.wait(set(self._returning), timeout=CLOSE_TIMEOUT)
