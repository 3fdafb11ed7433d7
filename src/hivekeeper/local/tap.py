"""``hivekeeper tap``: watch a swarm's items on the wire without taking them, or read its dead letters.

A tap is a second binding: a server-named, exclusive, auto-delete queue bound to the swarm's work
exchange with the routing key of one alias. RabbitMQ copies every item routed there into it, so the
real consumers still get every item (a tap never steals), and the queue goes away with the tap's
connection. It is bounded (``x-max-length``, oldest dropped first) and its copies expire
(``x-message-ttl``), so a tap that stops reading cannot grow without limit.

With ``dead_letters`` the tap reads the swarm's dead-letter queue instead: it *takes* the items it
shows (they are removed), unless ``peek`` asks to give them back when it is done; RabbitMQ puts
items given back at their old place in the queue.

Items go to ``out`` (one line each, or the whole JSON with ``full``); notes go to ``err``.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TextIO
from urllib.parse import unquote, urlsplit

import aio_pika
import orjson
from aio_pika.abc import AbstractConnection, AbstractIncomingMessage

from hivekeeper.errors import HivekeeperError
from hivekeeper.protocol import naming
from hivekeeper.protocol.batch import BATCH_HEADER, BatchError, split
from hivekeeper.protocol.redaction import redact_tree
from hivekeeper.protocol.workitem import CALL_ID_HEADER, WorkItemError, parse
from hivekeeper.worker import deadletter
from hivekeeper.worker.transports.rabbit import control as rabbit_control
from hivekeeper.worker.transports.rabbit.amqp.url import BrokerUrlError

TAP_TTL_MS = 60_000
"""Copies nobody read within a minute expire from the tap queue."""
TAP_MAX_LENGTH = 1000
"""Copies the tap queue holds at most (the oldest go first)."""
PREFETCH = 100
PREVIEW = 120
"""Characters of the current payload shown on a summary line."""
POLL_SECONDS = 0.2
"""How often an empty dead-letter queue is asked again while ``timeout`` has not passed."""


class TapError(HivekeeperError, RuntimeError):
    """The tap could not start; ``exit_code`` is 2 for a wrong swarm, alias or option, 1 for a broker failure."""

    def __init__(self, message: str, exit_code: int = 2) -> None:
        super().__init__(message)
        self.exit_code = exit_code


@dataclass(frozen=True)
class TapOptions:
    swarm: str
    """The Swarm's name (``metadata.name``)."""
    url: str
    alias: str | None = None
    """The work alias to watch; not used with ``dead_letters``."""
    namespace: str | None = None
    """The Swarm's namespace in a cluster; None for ``hivekeeper run --broker`` (the bare name)."""
    count: int = 10
    full: bool = False
    timeout: float | None = None
    dead_letters: bool = False
    peek: bool = False
    show_secrets: bool = False
    """Print credential-named values (``Authorization``, cookies, tokens, API keys) as they are."""
    work_exchange: str = naming.WORK_EXCHANGE
    """The work exchange's name template, as the swarm's operator or run has it (``naming.Exchanges``)."""


@dataclass
class TapResult:
    shown: int
    queue: str
    """The queue read: the tap's server-named queue, or the dead-letter queue."""
    ended: str
    """``count`` (N shown), ``timeout``, ``empty`` (no more dead letters) or ``interrupted``."""


def redact(url: str) -> str:
    """``url`` with its password replaced by ``***`` (for messages and logs)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rsplit("@", 1)[-1]
    return parts._replace(netloc=f"{parts.username or ''}:***@{host}").geturl()


def _scrub(text: str, url: str) -> str:
    """``text`` (e.g. a client library's error) without the password of ``url`` in any spelling."""
    password = urlsplit(url).password
    text = text.replace(url, redact(url))
    if password:
        for spelling in {password, unquote(password)}:
            text = text.replace(spelling, "***")
    return text


def _preview(text: str, limit: int = PREVIEW) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _clock() -> str:
    return dt.datetime.now(dt.UTC).strftime("%H:%M:%S.%f")[:-3]


def summary_line(body: bytes, headers: dict[str, Any] | None = None, *, show_secrets: bool = False) -> str:
    """One line for an item: when it arrived, its ids, how many steps, and the current payload (credential-named
    values inside it redacted unless ``show_secrets``)."""
    head = _clock()
    reason = ""
    if headers and deadletter.HEADER_REASON in headers:
        role, instance = headers.get(deadletter.HEADER_ROLE, "-"), headers.get(deadletter.HEADER_INSTANCE, "-")
        reason = f"  role={role}  instance={instance}  reason={_preview(str(headers[deadletter.HEADER_REASON]), 300)}"
    try:
        item = parse(body)
    except WorkItemError as exc:
        problem = str(exc).splitlines()[0]
        return f"{head}  not a WorkItem ({_preview(problem)}): {_preview(body.decode('utf-8', 'replace'))}{reason}"
    payload = item.payload if show_secrets else redact_tree(item.payload)
    return (
        f"{head}  id={item.messageId}  corr={item.correlation_id}  call={item.headers.get(CALL_ID_HEADER) or '-'}"
        f"  steps={len(item.steps)}{reason}  payload={_preview(payload)}"
    )


def full_text(body: bytes, headers: dict[str, Any] | None = None, *, show_secrets: bool = False) -> str:
    """The whole item as indented JSON, credential-named values redacted (see ``protocol.redaction``) unless
    ``show_secrets``; a dead letter is ``{"deadLetter": {headers}, "item": ...}``."""
    try:
        item: Any = orjson.loads(body)
    except orjson.JSONDecodeError:
        item = body.decode("utf-8", "replace")
    if not show_secrets:
        item = redact_tree(item)
    if headers and deadletter.HEADER_REASON in headers:
        item = {"deadLetter": {k: str(v) for k, v in headers.items()}, "item": item}
    return orjson.dumps(item, option=orjson.OPT_INDENT_2).decode()


async def tap(
    options: TapOptions,
    out: TextIO,
    err: TextIO,
    *,
    stop: asyncio.Event | None = None,
    on_ready: Callable[[str], None] | None = None,
) -> TapResult:
    """Show up to ``options.count`` items; ``on_ready(queue)`` runs once the tap receives copies."""
    if options.count < 1:
        raise TapError(f"--count must be at least 1 (got {options.count})")
    if options.timeout is not None and options.timeout <= 0:
        raise TapError(f"--timeout must be positive seconds (got {options.timeout})")
    if options.peek and not options.dead_letters:
        raise TapError(
            "--peek only applies to --dead-letters (a tap never takes items, so there is nothing to give back)"
        )
    if options.dead_letters and options.alias:
        raise TapError("--dead-letters reads the whole swarm's dead-letter queue; drop the ALIAS argument")
    if not options.dead_letters and not options.alias:
        raise TapError("which alias? give ALIAS (a work.in / work.out value of the swarm's roles) or --dead-letters")
    try:
        swarm = naming.swarm_id(options.swarm, options.namespace)
        if options.alias:
            naming.segment(options.alias, "alias")
    except naming.InvalidName as exc:
        raise TapError(str(exc)) from exc
    try:
        connection = await rabbit_control.connect_plain(options.url, "hivekeeper-tap")
    except BrokerUrlError as exc:
        raise TapError(f"{exc} ({redact(options.url)})") from exc
    except (OSError, aio_pika.exceptions.AMQPError, TimeoutError) as exc:
        reason = _scrub(f"{type(exc).__name__}: {exc}", options.url)
        raise TapError(f"cannot connect to {redact(options.url)}: {reason}", exit_code=1) from exc
    stop = stop or asyncio.Event()
    try:
        if options.dead_letters:
            return await _read_dead_letters(connection, swarm, options, out, err, stop, on_ready)
        return await _tap_alias(connection, swarm, options, out, err, stop, on_ready)
    finally:
        with contextlib.suppress(Exception):
            await connection.close()


def _where(options: TapOptions) -> str:
    if options.namespace is None:
        return f"swarm {options.swarm!r} (no --namespace: a `hivekeeper run --broker` swarm)"
    return f"swarm {options.swarm!r} in namespace {options.namespace!r}"


def _aliases_hint(options: TapOptions) -> str:
    if options.namespace is None:
        return "aliases are the work.in / work.out values of spec.roles[] in the swarm's manifest"
    return (
        "list its aliases with `kubectl get swarm "
        f"{options.swarm} -n {options.namespace} -o jsonpath='{{.spec.roles[*].work}}'`"
    )


async def _tap_alias(
    connection: AbstractConnection,
    swarm: str,
    options: TapOptions,
    out: TextIO,
    err: TextIO,
    stop: asyncio.Event,
    on_ready: Callable[[str], None] | None,
) -> TapResult:
    assert options.alias is not None
    exchange = naming.work_exchange(swarm, options.work_exchange)
    work_queue = naming.work_queue(swarm, options.alias)
    channel = await connection.channel()
    try:
        await channel.get_exchange(exchange, ensure=True)
    except aio_pika.exceptions.ChannelNotFoundEntity as exc:
        raise TapError(
            f"exchange {exchange} does not exist on {redact(options.url)}: {_where(options)} is not running "
            "there (check the name, --namespace and --amqp)"
        ) from exc
    try:
        await channel.get_queue(work_queue, ensure=True)
    except aio_pika.exceptions.ChannelNotFoundEntity as exc:
        raise TapError(
            f"{_where(options)} has no work alias {options.alias!r} (no queue {work_queue}); {_aliases_hint(options)}"
        ) from exc
    await channel.set_qos(prefetch_count=min(options.count, PREFETCH))
    queue = await channel.declare_queue(
        "",
        exclusive=True,
        auto_delete=True,
        arguments={"x-message-ttl": TAP_TTL_MS, "x-max-length": TAP_MAX_LENGTH, "x-overflow": "drop-head"},
    )
    inbox: asyncio.Queue[AbstractIncomingMessage] = asyncio.Queue()

    async def on_message(message: AbstractIncomingMessage) -> None:
        await inbox.put(message)

    await queue.bind(exchange, routing_key=naming.work_routing_key(swarm, options.alias))
    await queue.consume(on_message)
    err.write(
        f"tapping {work_queue} through {queue.name}: a copy of each item, its consumers still get every one; "
        f"showing {options.count} (Ctrl-C stops)\n"
    )
    err.flush()
    if on_ready is not None:
        on_ready(queue.name)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + options.timeout if options.timeout else None
    shown = 0
    ended = "count"
    while shown < options.count:
        message = await _next(inbox, stop, deadline)
        if message is None:
            ended = "interrupted" if stop.is_set() else "timeout"
            break
        for body in _items(message, err):
            if shown == options.count:
                break
            _show(out, options, body, None)
            shown += 1
        await message.ack()
    _note_end(err, shown, options, ended)
    return TapResult(shown=shown, queue=queue.name, ended=ended)


async def _read_dead_letters(
    connection: AbstractConnection,
    swarm: str,
    options: TapOptions,
    out: TextIO,
    err: TextIO,
    stop: asyncio.Event,
    on_ready: Callable[[str], None] | None,
) -> TapResult:
    name = naming.dead_letter_queue(swarm)
    channel = await connection.channel()
    try:
        queue = await channel.get_queue(name, ensure=True)
    except aio_pika.exceptions.ChannelNotFoundEntity as exc:
        raise TapError(
            f"{_where(options)} has no dead-letter queue ({name} does not exist on {redact(options.url)}): "
            "either no item failed since spec.deadLetter.enabled was set to true, or it is off (the default)"
        ) from exc
    if on_ready is not None:
        on_ready(name)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + options.timeout if options.timeout else None
    taken: list[AbstractIncomingMessage] = []
    ended = "count"
    while len(taken) < options.count and not stop.is_set():
        message = await queue.get(no_ack=False, fail=False)
        if message is None:
            if deadline is None or loop.time() >= deadline:
                ended = "empty" if deadline is None else "timeout"
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), POLL_SECONDS)
            continue
        _show(out, options, message.body, dict(message.headers or {}))
        taken.append(message)
        if not options.peek:
            await message.ack()
    if stop.is_set():
        ended = "interrupted"
    if options.peek and taken:
        await taken[-1].nack(multiple=True, requeue=True)  # back at their old places, in order
    _note_end(err, len(taken), options, ended)
    return TapResult(shown=len(taken), queue=name, ended=ended)


async def _next(
    inbox: asyncio.Queue[AbstractIncomingMessage], stop: asyncio.Event, deadline: float | None
) -> AbstractIncomingMessage | None:
    """The next copy, or None when ``stop`` is set or ``deadline`` passes first."""
    if not inbox.empty():
        return inbox.get_nowait()
    getter = asyncio.ensure_future(inbox.get())
    stopper = asyncio.ensure_future(stop.wait())
    timeout = None if deadline is None else max(0.0, deadline - asyncio.get_running_loop().time())
    try:
        await asyncio.wait({getter, stopper}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopper.cancel()
        if not getter.done():
            getter.cancel()
    return getter.result() if getter.done() and not getter.cancelled() else None


def _items(message: AbstractIncomingMessage, err: TextIO) -> list[bytes]:
    """The items a copy carries: one, or each item of a batch (decision 0013) in the order it was published.
    A batch whose body does not match its header is shown whole as one line (the worker refuses it the same way)."""
    headers = message.headers or {}
    if BATCH_HEADER not in headers:
        return [message.body]
    try:
        return split(message.body, headers[BATCH_HEADER])
    except BatchError as exc:
        err.write(f"a malformed batch message (its consumers refuse it too): {exc}\n")
        err.flush()
        return [message.body]


def _show(out: TextIO, options: TapOptions, body: bytes, headers: dict[str, Any] | None) -> None:
    shown = full_text if options.full else summary_line
    out.write(shown(body, headers, show_secrets=options.show_secrets) + "\n")
    out.flush()


def _note_end(err: TextIO, shown: int, options: TapOptions, ended: str) -> None:
    what = "dead letters" if options.dead_letters else "items"
    if options.dead_letters:
        kept = "given back (--peek)" if options.peek else "removed from the queue"
        err.write(f"{shown} {what} shown and {kept}\n")
    if ended == "timeout":
        err.write(f"only {shown} of {options.count} {what} within {options.timeout:g}s\n")
    elif ended == "empty" and shown < options.count:
        err.write(f"the dead-letter queue had {shown} (fewer than {options.count}); --timeout S waits for more\n")
    elif ended == "interrupted":
        err.write(f"stopped after {shown} {what}\n")
    err.flush()
