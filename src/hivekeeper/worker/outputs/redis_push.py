"""Pushing items to Redis lists: the ``REDIS`` output and the ``redisUploader`` interceptor.

Both resolve a target list per item (:mod:`hivekeeper.worker.outputs.redis_routes`) and push one step's
payload through the worker's :class:`~hivekeeper.worker.ports.DataStore`.

* :class:`RedisOutput` replaces the RabbitMQ sink (``outputs.type: REDIS``). An item with no target is
  counted as dropped and alerted (``redis.no-target``); a store error is raised to the runtime, which
  alerts ``io.downstream-error`` and gives the input back, after a short backoff here so that a down
  Redis is not retried in a hot loop.
* :class:`RedisUploader` is a side output: it never fails the item. Store errors and missing targets
  are alerts; the item flows on either way.

Alerts go through the runtime's rate-limited ``alert``, so nothing here logs per item.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from hivekeeper.api.roles import ConfigError
from hivekeeper.api.roles.common import CommonConfig
from hivekeeper.api.roles.outputs import RedisPush
from hivekeeper.api.roles.postprocessor.config import PostprocessorConfig
from hivekeeper.api.roles.redis import NEEDS_REDIS
from hivekeeper.protocol.workitem import WorkItem, as_template_value, parse
from hivekeeper.templating.engine import TemplateEngine, TemplateError
from hivekeeper.worker.cancelling import swallowed_cancel
from hivekeeper.worker.control import WorkerState
from hivekeeper.worker.outputs import redis_routes as routes
from hivekeeper.worker.ports import DataStore, StoreUnavailable
from hivekeeper.worker.stats import RoleStats

AlertFn = Callable[[str, str, dict[str, Any]], None]

MAX_BACKOFF = 2.0
"""Longest pause of a work loop after consecutive Redis push failures, in seconds."""


@dataclass
class PushCounts:
    """What a push config did; carried over when a config-update replaces the config."""

    pushed: int = 0
    no_target: int = 0
    last_list: str | None = None
    errors: int = 0
    last_error: str | None = None
    by_list: Counter[str] = field(default_factory=Counter)
    """Elements pushed, per list (``hivekeeper run`` balances its datasets with these)."""
    uncertain_by_list: Counter[str] = field(default_factory=Counter)
    """Pushes sent whose answer a broken connection cut off: Redis may have added the element (then the retry
    adds it twice)."""

    def as_status(self) -> dict[str, Any]:
        return {
            "pushed": self.pushed,
            "noTarget": self.no_target,
            "lastList": self.last_list,
            "errors": self.errors,
            "lastErrorMessage": self.last_error,
        }


class RedisPusher:
    """Pushes an item to the list its config resolves; shared by the output and the uploader."""

    def __init__(
        self,
        config: RedisPush,
        store: DataStore,
        engine: TemplateEngine,
        config_path: str,
        scope: dict[str, Any],
        counts: PushCounts | None = None,
    ) -> None:
        self.store = store
        self.engine = engine
        self.routes = routes.compile_routes(config.routes)
        self.template = config.targetListTemplate if config.targetListTemplate.strip() else None
        self.template_name = f"{config_path}.targetListTemplate"
        self.default = config.defaultList
        self.left = config.pushDirection == "LPUSH"
        self.max_len = max(0, config.maxLen)
        self.source: routes.SourceStep = config.sourceStep
        self.scope = scope
        """``vars`` and ``sut`` for the target template."""
        self.counts = counts if counts is not None else PushCounts()

    async def push(self, item: WorkItem) -> str | None:
        """Push the item; return the list, or ``None`` when nothing names one. Store errors and
        template errors are raised."""
        step = routes.source_step(item, self.source)
        text = routes.step_text(step)
        target = routes.first_match(self.routes, text, item)
        if target is None:
            rendered = await self._render(text, item) if self.template is not None else None
            target = routes.fallback(rendered, self.default)
            if target is None:
                self.counts.no_target += 1
                return None
        try:
            await self.store.push(target, routes.step_bytes(step), left=self.left, max_len=self.max_len)
        except Exception as exc:
            self.counts.errors += 1
            self.counts.last_error = f"{type(exc).__name__}: {exc}"
            if isinstance(exc, StoreUnavailable) and exc.sent:
                self.counts.uncertain_by_list[target] += 1
            raise
        self.counts.pushed += 1
        self.counts.by_list[target] += 1
        self.counts.last_list = target
        if swallowed_cancel():
            raise asyncio.CancelledError  # redis-py lost it (see swallowed_cancel); the worker is stopping
        return target

    async def _render(self, text: str, item: WorkItem) -> str:
        assert self.template is not None
        context = {
            "payload": as_template_value(text),
            "payloadRaw": text,
            "headers": item.headers,
            "workItem": item,
            "correlationId": item.correlation_id,
            **self.scope,
        }
        return await self.engine.render_async(self.template_name, self.template, context)

    def no_target_message(self, item: WorkItem) -> str:
        return (
            f"no Redis list for item {item.messageId}: no route matched"
            + (", targetListTemplate rendered blank" if self.template is not None else "")
            + " and there is no defaultList; add a defaultList or a route that matches it"
        )


def _item_context(item: WorkItem) -> dict[str, Any]:
    return {
        "messageId": item.messageId,
        "correlationId": item.correlation_id,
        "callId": item.headers.get("x-ph-call-id"),
    }


class RedisOutput:
    """``outputs.type: REDIS``: a :class:`~hivekeeper.worker.ports.WorkSink` that pushes to Redis lists."""

    def __init__(self, pusher: RedisPusher, alert: AlertFn, stats: RoleStats) -> None:
        self.pusher = pusher
        self._alert = alert
        self._stats = stats
        self._failures = 0

    async def publish(self, body: bytes) -> None:
        await self.publish_item(parse(body))

    async def publish_item(self, item: WorkItem) -> None:
        """Push one result. No target or a broken template: dropped and alerted. A store error: raised."""
        try:
            target = await self.pusher.push(item)
        except TemplateError as exc:  # template.error, or template.budget-exceeded
            self._stats.dropped += 1
            self._alert(exc.code, str(exc), _item_context(item))
            return
        except Exception:
            self._failures += 1
            # Back off before the runtime hands the input back, so that a down Redis is not hammered.
            await asyncio.sleep(min(MAX_BACKOFF, 0.05 * 2 ** min(self._failures - 1, 6)))
            raise
        self._failures = 0
        if target is None:
            self._stats.dropped += 1
            self._alert("redis.no-target", self.pusher.no_target_message(item), _item_context(item))

    def state(self) -> str:
        return "downstream-error" if self._failures else "ok"

    def context(self) -> dict[str, Any]:
        return self.pusher.counts.as_status()

    async def close(self) -> None:
        return None  # the store belongs to the worker


class RedisUploader:
    """``interceptors.redisUploader``: pushes items on the side; never fails or holds back the item."""

    def __init__(self, pusher: RedisPusher, phase: str, alert: AlertFn) -> None:
        self.pusher = pusher
        self.before = phase == "BEFORE"
        self._alert = alert

    async def push(self, item: WorkItem | None) -> None:
        """Push ``item`` (nothing for a scheduler tick); report failures as alerts, never raise."""
        if item is None:
            return
        try:
            target = await self.pusher.push(item)
        except Exception as exc:  # a side output: report and carry on
            code = exc.code if isinstance(exc, TemplateError) else "redis.upload-failed"
            self._alert(code, f"redisUploader could not push item {item.messageId}: {exc}", _item_context(item))
            return
        if target is None:
            self._alert("redis.no-target", self.pusher.no_target_message(item), _item_context(item))

    def context(self) -> dict[str, Any]:
        return {"phase": "BEFORE" if self.before else "AFTER", **self.pusher.counts.as_status()}


def check(state: WorkerState, *, has_store: bool, engine: TemplateEngine) -> None:
    """Raise :class:`~hivekeeper.api.roles.ConfigError` for Redis settings this worker cannot run:
    Redis needed without a store, a target template that does not compile, a postprocessor that
    would return nothing to push."""
    config, input_type, output_type = state.config, state.input_type, state.output_type
    problems: list[tuple[str, str]] = []
    uploader = config.interceptors.redisUploader
    uses = []
    if input_type == "REDIS_DATASET":
        uses.append(("inputs.type", "a REDIS_DATASET input"))
    if output_type == "REDIS":
        uses.append(("outputs.type", "a REDIS output"))
    if uploader is not None and uploader.enabled:
        uses.append(("interceptors.redisUploader", "the redisUploader"))
    if not has_store:
        problems.extend((path, f"{what} {NEEDS_REDIS}") for path, what in uses)
    pushes = [("outputs.redis", config.outputs.redis if output_type == "REDIS" else None)]
    pushes.append(("interceptors.redisUploader", uploader))
    for path, push in pushes:
        if push is not None and push.targetListTemplate.strip():
            try:
                engine.validate(f"{path}.targetListTemplate", push.targetListTemplate)
            except TemplateError as exc:
                problems.append((f"{path}.targetListTemplate", str(exc)))
    if output_type == "REDIS" and isinstance(config, PostprocessorConfig) and not config.forwardToOutput:
        problems.append(
            (
                "forwardToOutput",
                "is false, so the postprocessor returns nothing for outputs.type REDIS to push; "
                "set forwardToOutput: true",
            )
        )
    if problems:
        raise ConfigError(state.role, problems)


def output_pusher(
    config: CommonConfig, store: DataStore, engine: TemplateEngine, counts: PushCounts | None = None
) -> RedisPusher:
    """The pusher of ``outputs.redis`` (the config model guarantees the block with outputs.type REDIS)."""
    assert config.outputs.redis is not None, "outputs.type REDIS without outputs.redis passed validation"
    return _pusher(config.outputs.redis, config, store, engine, "outputs.redis", counts)


def build_uploader(
    config: CommonConfig,
    store: DataStore | None,
    engine: TemplateEngine,
    alert: AlertFn,
    previous: RedisUploader | None = None,
) -> RedisUploader | None:
    """The uploader of ``config`` (its counts carried over from ``previous``), or ``None`` when it has
    none, it is disabled, or there is no store (:func:`check` rejects that case first)."""
    uploader = config.interceptors.redisUploader
    if uploader is None or not uploader.enabled or store is None:
        return None
    counts = previous.pusher.counts if previous is not None else None
    pusher = _pusher(uploader, config, store, engine, "interceptors.redisUploader", counts)
    return RedisUploader(pusher, uploader.phase, alert)


def _pusher(
    push: RedisPush,
    config: CommonConfig,
    store: DataStore,
    engine: TemplateEngine,
    path: str,
    counts: PushCounts | None,
) -> RedisPusher:
    scope = {"vars": config.vars, "sut": config.sut.model_dump()}
    return RedisPusher(push, store, engine, path, scope, counts)
