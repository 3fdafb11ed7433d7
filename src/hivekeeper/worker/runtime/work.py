"""The work loops: take an item, hand it to the role, publish the result, then acknowledge the input."""

from __future__ import annotations

import asyncio
import collections
import functools
from collections.abc import Awaitable, Callable
from typing import Any

from hivekeeper.api.roles.common import DeadLetter
from hivekeeper.protocol import naming
from hivekeeper.protocol.workitem import WorkItem, WorkItemError, new_hop, now, parse
from hivekeeper.templating.engine import TemplateError
from hivekeeper.worker import publishing
from hivekeeper.worker.deadletter import DeadLetterOutbox, failure_headers
from hivekeeper.worker.ports import ConfirmsLater, Delivery, OutputRefused, StoreUnavailable
from hivekeeper.worker.roles.base import DropItem
from hivekeeper.worker.runtime.status import StatusReports


def _failure(exc: Exception) -> tuple[str, str]:
    """The alert code and message of an item a role failed on: what failed, named as such."""
    if isinstance(exc, TemplateError):  # template.error, or template.budget-exceeded (counted by the engine)
        return exc.code, str(exc)
    if isinstance(exc, StoreUnavailable):  # Redis down or hanging (sequence(), ...): not a runtime bug
        return "redis.unavailable", str(exc)
    return "runtime.exception", f"{type(exc).__name__}: {exc}"


UNCONFIRMED_PER_LOOP = 8
"""A producer hands over at most this many items per work loop before waiting for confirms; it goes on when half of
them are confirmed. With 128 loops that is 1,024 items, about 8 batches: the rate a producer can reach is this bound
over the confirm's round trip, and on the real node (the broker behind a relay, persistent messages) 2 per loop
capped a generator at 16-24k items/s with the cores half idle (8: 25-27k, the cores busy)."""


def _result_item(body: bytes) -> WorkItem | None:
    """The item a result's bytes hold (for an alert's context), or None."""
    try:
        return parse(body)
    except WorkItemError:
        return None


class WorkLoop(StatusReports):
    """A fixed number of loops (the role's concurrency), each taking one item at a time. Nothing is buffered
    beyond them, so backlog stays in the broker where it is visible. A result the output refuses for good,
    and an item delivered too many times, is dead-lettered or dropped; a transient publish failure is
    retried, then the input goes back (``worker.publishing``)."""

    async def _work(self, index: int) -> None:
        enabled, stats, hold = self._enabled, self.stats, self.hold
        while index < self._loops.target:
            if not enabled.is_set():
                await enabled.wait()
            if hold.closed:
                await hold.wait()
            delivery = await self.source.get()
            fast = getattr(self.role, "fast_tick", None) if delivery.body is None and self.sink is None else None
            if fast is not None:
                stats.in_flight += 1
                try:
                    await fast()
                    stats.processed += 1
                finally:
                    stats.in_flight -= 1
                    if self._draining:
                        self._settled_one()
                continue
            if not self._enabled.is_set():
                await delivery.requeue()
                continue
            await self._process(delivery)
            if self._unconfirmed >= self._unconfirmed_bound():
                await self._wait_for_room()

    async def _process(self, delivery: Delivery) -> None:  # noqa: PLR0912 - one pass per item: no helper coroutines
        stats = self.stats
        stats.in_flight += 1
        # The hop's receive time (a scheduler tick's too: when the role began the item), for a result that goes on;
        # a role without an output writes no hop.
        received = now() if self.sink is not None else ""
        try:
            item: WorkItem | None = None
            if delivery.body is not None:
                try:
                    item = parse(delivery.body)
                except WorkItemError as exc:
                    await self._drop(delivery, "work.invalid-item", str(exc), {})
                    return
                if delivery.redeliveries:
                    stats.redelivered += 1
                if delivery.redeliveries and self._poison(delivery):
                    self.output.poisoned += 1
                    limit = self.state.config.inputs.rabbitmq.maxRedeliveries
                    reason = (
                        f"the item came back {delivery.redeliveries} times, more than inputs.rabbitmq.maxRedeliveries "
                        f"({limit}): treated as poison and not processed again (raise maxRedeliveries if the "
                        "redeliveries were innocent: restarts, dropped connections)"
                    )
                    await self._drop(delivery, "work.poison", reason, self._item_context(item))
                    return
            uploader = self.uploader
            if uploader is not None and uploader.before:
                await uploader.push(item)  # a side output: never raises, never holds the item back
            try:
                result = await self.role.handle(item, delivery.seq)
            except DropItem as exc:
                await self._drop(delivery, exc.code, str(exc), self._item_context(item))
                return
            except Exception as exc:
                # No per-item logging: the alert below is logged when it is sent (once per window).
                stats.errors += 1
                await self._drop(delivery, *_failure(exc), self._item_context(item))
                return
            if uploader is not None and not uploader.before:
                await uploader.push(result if result is not None else item)
            if result is not None and self.sink is not None:
                identity = self.identity
                result.observability.hops.append(new_hop(identity.role, identity.instance, received, now()))
                later = self._confirms_later(delivery)
                if later is not None:
                    self._hand_over(later, delivery, result)  # counted processed (and acknowledged) once confirmed
                    return
                try:
                    await self._publish(result)
                except Exception as exc:  # rare: retried, refused or given back (worker.publishing)
                    if not await self._publish_failed(delivery, item, functools.partial(self._publish, result), exc):
                        return
            stats.processed += 1
            if delivery.settles:
                await delivery.ack()
        finally:
            stats.in_flight -= 1
            if self._draining:
                self._settled_one()

    # -- a producer's items: handed over without waiting for each confirm ------------------------------------------

    _unconfirmed = 0
    """Items handed over (:meth:`_hand_over`) whose confirm has not come yet; in ``stats.in_flight`` too."""
    _room: collections.deque[asyncio.Future[None]] | None = None
    """Work loops waiting until fewer items are unconfirmed."""
    _handed: dict[asyncio.Future[None], list[tuple[Delivery | None, bytes]]] | None = None
    """The items handed over, by the future of their confirm (a batch's items share one): each one's input (None for a
    tick) and its bytes (for a retry). The items themselves die at once, so the collector has less to trace while
    they wait."""
    _closed = False
    """Set by ``stop()``: a confirm failing after it is not retried."""
    _sink_confirms_later: bool | None = None

    def _confirms_later(self, delivery: Delivery) -> ConfirmsLater | None:
        """The output, when a work loop need not wait for this result's confirm: the input is a tick or one the
        confirm's callback can acknowledge (RabbitMQ's), the role waits on no I/O per item (``io_per_item`` False: a
        generator or request-builder without ``sequence()``), and the result goes to RabbitMQ with no Redis output or
        upload beside it. One loop then makes a whole batch in one loop turn; waiting for every confirm cost a generator
        ~12 of its ~26 µs per item (issue 19)."""
        sink = self.sink
        if self._sink_confirms_later is None:  # the sink is the worker's for life; a protocol check costs µs
            self._sink_confirms_later = isinstance(sink, ConfirmsLater)
        if (
            delivery.acks_at_once
            and self._sink_confirms_later
            and self.redis_output is None
            and self.uploader is None
            and getattr(self.role, "io_per_item", True) is False
        ):
            return sink  # type: ignore[return-value]  # checked above, once
        return None

    def _hand_over(self, sink: ConfirmsLater, delivery: Delivery, result: WorkItem) -> None:
        """Publish ``result`` without waiting for its confirm (see :meth:`_confirms_later`); the loop takes no more
        work while ``UNCONFIRMED_PER_LOOP`` items per loop are unconfirmed (:meth:`_wait_for_room`). The item stays in
        flight until its confirm: drains and stops wait for it as for any item, and a failed one takes the same way as
        a failed publish."""
        body = result.to_json()
        confirmed = sink.publish_later(body)
        self.stats.in_flight += 1
        self._unconfirmed += 1
        handed = self._handed
        if handed is None:
            handed = self._handed = {}
        group = handed.get(confirmed)
        if group is None:  # the first item of its batch: one callback counts them all
            group = handed[confirmed] = []
            confirmed.add_done_callback(self._handed_over)
        group.append((delivery if delivery.settles else None, body))

    def _unconfirmed_bound(self) -> int:
        return UNCONFIRMED_PER_LOOP * max(1, self._loops.target)

    async def _wait_for_room(self) -> None:
        if self._room is None:
            self._room = collections.deque()
        room: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._room.append(room)
        await room

    def _handed_over(self, confirmed: asyncio.Future[None]) -> None:
        assert self._handed is not None
        group = self._handed.pop(confirmed)
        count = len(group)
        self._unconfirmed -= count
        if self._room:
            self._make_room()
        error = None if confirmed.cancelled() else confirmed.exception()
        if error is None or self._closed or not isinstance(error, Exception):
            # Confirmed; or cancelled, or failed once the worker stopped: nothing to retry into.
            if error is None and not confirmed.cancelled():
                self.stats.processed += count
                for delivery, _ in group:
                    if delivery is not None:
                        delivery.ack_at_once()
            self._settle_handed(count)
            return
        loop = asyncio.get_running_loop()
        for delivery, body in group:  # each item takes the way of a failed publish, as when waited for
            task = loop.create_task(self._hand_over_failed(delivery, body, error))
            self._background.append(task)  # stop() cancels it with the other background tasks

    async def _hand_over_failed(self, delivery: Delivery | None, body: bytes, error: Exception) -> None:
        sink = self.sink
        assert sink is not None
        try:
            # A tick has no input to acknowledge or give back: a delivery of its own stands in for it. The result's
            # bytes name the item in alerts (the same ids as its input's).
            held = delivery if delivery is not None else Delivery(None, 0)
            context = _result_item(body)
            if await self._publish_failed(held, context, functools.partial(sink.publish, body), error):
                self.stats.processed += 1
                await held.ack()
        finally:
            self._settle_handed()

    def _make_room(self) -> None:
        """After a batch's confirm: wake one waiting loop when at most half the bound is unconfirmed (it makes the next
        batch while the rest sleep: one wake-up per batch, not one per item), and every one once none is (none is left
        waiting for a confirm that will not come)."""
        room = self._room
        assert room is not None
        if self._unconfirmed > self._unconfirmed_bound() // 2:
            return
        every = self._unconfirmed == 0
        while room:
            waiter = room.popleft()
            if not waiter.done():
                waiter.set_result(None)
                if not every:
                    return

    def _settle_handed(self, count: int = 1) -> None:
        self.stats.in_flight -= count
        if self._draining:
            self._settled_one()

    async def _publish(self, result: WorkItem) -> None:
        if self.redis_output is not None:
            await self.redis_output.publish_item(result)  # reads the item itself: no serialising
        elif self.sink is not None:
            await self.sink.publish(result.to_json())

    def _poison(self, delivery: Delivery) -> bool:
        return delivery.redeliveries > self.state.config.inputs.rabbitmq.maxRedeliveries

    async def _publish_failed(
        self, delivery: Delivery, item: WorkItem | None, publish: Callable[[], Awaitable[None]], error: Exception
    ) -> bool:
        """After a failed publish: True once a retry (``publish`` again) published the result; else the input was
        refused for good (dead-lettered or dropped), or given back to its queue after the retries, and counted."""
        try:
            await publishing.retry(publish, error, self.state.config.outputs.retry, self.output, delivery.live)
            return True
        except OutputRefused as exc:
            self.stats.errors += 1
            self.output.refused += 1
            await self._drop(
                delivery,
                "io.output-refused",
                f"{self._output_name()} refused the result: {exc}",
                self._item_context(item),
            )
        except publishing.GaveUp as exc:
            # Not confirmed: give the input back so nothing acknowledged upstream is lost.
            self.stats.errors += 1
            self.alert(
                "io.downstream-error", f"publishing to {self._output_name()} failed: {exc}", self._item_context(item)
            )
            if not exc.input_lost:
                self.output.given_back += 1
                await delivery.requeue()
        return False

    def _output_name(self) -> str:
        return "Redis" if self.redis_output is not None else str(self.identity.work_out)

    async def _drop(self, delivery: Delivery, code: str, message: str, context: dict[str, Any]) -> None:
        self.stats.dropped += 1
        self.stats.drop_reasons[code] += 1
        dead_letter = self.state.config.deadLetter
        if dead_letter.enabled and delivery.body is not None:  # a scheduler tick has no item to keep
            try:
                self._dead_letter(delivery.body, code, message, dead_letter)
            except Exception as exc:  # the dead-letter queue must never stop a work loop
                self.alert("deadletter.publish-failed", f"could not keep a failed item: {exc}", {})
        await delivery.ack()
        self.alert(code, message, context)

    _outbox: DeadLetterOutbox | None = None
    """Created the first time a failed item is kept (``deadLetter.enabled``)."""

    def _dead_letter(self, body: bytes, code: str, message: str, config: DeadLetter) -> None:
        """Hand a failed item to the dead-letter outbox; never waits (see ``worker.deadletter``)."""
        if self._outbox is None:
            self._outbox = DeadLetterOutbox(
                self.transports.dead_letters(self.identity), naming.dead_letter_queue(self.identity.swarm), self.alert
            )
        headers = failure_headers(code, message, self.identity.role, self.identity.instance)
        task = self._outbox.offer(body, headers, max_length=config.maxLength, ttl_seconds=config.ttlSeconds)
        if task is not None:
            self._background.append(task)  # stop() cancels it with the other background tasks

    @staticmethod
    def _item_context(item: WorkItem | None) -> dict[str, Any]:
        if item is None:
            return {}
        return {
            "messageId": item.messageId,
            "correlationId": item.correlation_id,
            "callId": item.headers.get("x-ph-call-id"),
        }

    def _settled_one(self) -> None:
        if self._draining and self.stats.in_flight == 0:
            self._drained.set()
