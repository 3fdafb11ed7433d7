"""``hivekeeper debug``: read back the debug captures http-sequence workers wrote to Redis.

    hivekeeper debug onboarding --namespace perf            # the newest 20 captures of perf_onboarding
    hivekeeper debug onboarding --role onboard --last 5 --full
    hivekeeper debug --key hivekeeper:debug:perf_onboarding:onboard:onboard-0:<journey>:1

Captures are keys ``hivekeeper:debug:<swarm>:<role>:<instance>:<journeyId>:<stepIndex>`` that expire
after ``debugCapture.redisTtlSeconds`` (see ``worker/capture.py``). Keys are found with SCAN (never
KEYS), at most ``--scan-limit`` of them, and sorted newest first by their ``capturedAt``.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass
from typing import Any, TextIO
from urllib.parse import urlsplit, urlunsplit

import orjson
from redis.exceptions import RedisError

from hivekeeper.protocol import naming
from hivekeeper.worker import capture
from hivekeeper.worker.ports import DataStore
from hivekeeper.worker.transports.redis.store import RedisStore

REDIS_ENV = "HIVEKEEPER_REDIS_URL"
TIMEOUT = 15.0
"""Seconds the whole command may take before Redis counts as unreachable."""


class DebugError(RuntimeError):
    """The command cannot run as asked; the message says why and what to do (exit code 2)."""


@dataclass(frozen=True)
class DebugRequest:
    swarm: str | None = None
    redis_url: str | None = None
    namespace: str | None = None
    role: str | None = None
    last: int = 20
    full: bool = False
    key: str | None = None
    scan_limit: int = 5000


def safe_url(url: str) -> str:
    """``url`` without its password (for messages)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = (f"{parts.username}:***@" if parts.username else ":***@") + host
    if parts.port:
        netloc += f":{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


async def newest(
    store: DataStore, prefix: str, last: int, scan_limit: int
) -> tuple[list[tuple[str, dict[str, Any]]], bool]:
    """The ``last`` newest captures under ``prefix`` and whether the scan stopped at ``scan_limit``."""
    keys = await store.keys(prefix, limit=scan_limit)
    found: list[tuple[str, dict[str, Any]]] = []
    for start in range(0, len(keys), 200):
        chunk = keys[start : start + 200]
        for key, value in zip(chunk, await asyncio.gather(*(store.get(k) for k in chunk)), strict=True):
            if value is None:
                continue  # expired between SCAN and GET
            try:
                doc = orjson.loads(value)
            except orjson.JSONDecodeError:
                doc = {"unreadable": value[:200].decode("utf-8", "replace")}
            found.append((key, doc if isinstance(doc, dict) else {"value": doc}))
    found.sort(key=lambda kv: str(kv[1].get("capturedAt", "")), reverse=True)
    return found[:last], len(keys) >= scan_limit


def line(key: str, doc: dict[str, Any]) -> str:
    """One capture as one line: time, role/instance, step, call, status, bytes, key."""
    response = doc.get("response") or {}
    status = doc.get("status", "?")
    status_text = f"{status} {doc['error']}" if doc.get("error") else str(status)
    return (
        f"{doc.get('capturedAt', '?')}  {doc.get('role', '?')}/{doc.get('instance', '?')}  "
        f"step {doc.get('stepId', '?')}#{doc.get('stepIndex', '?')}  "
        f"{doc.get('serviceId', '?')}::{doc.get('callId', '?')}  status {status_text}  "
        f"{response.get('bodyBytes', 0)} B  {key}"
    )


def _pretty(doc: dict[str, Any]) -> str:
    return orjson.dumps(doc, option=orjson.OPT_INDENT_2).decode()


async def _one(store: DataStore, key: str, out: TextIO) -> int:
    value = await store.get(key)
    if value is None:
        raise DebugError(f"no capture at {key!r}: it expired (debugCapture.redisTtlSeconds) or was never written")
    try:
        print(_pretty(orjson.loads(value)), file=out)
    except orjson.JSONDecodeError:
        print(value.decode("utf-8", "replace"), file=out)
    return 0


async def _list(store: DataStore, request: DebugRequest, swarm: str, out: TextIO) -> int:
    prefix = capture.swarm_prefix(swarm, request.role)
    shown, capped = await newest(store, prefix, request.last, request.scan_limit)
    if not shown:
        print(
            f"no debug captures for swarm {swarm}{f' role {request.role}' if request.role else ''} "
            f"(keys {prefix}*): captures exist only while debugCapture.mode is not NONE and expire after "
            "debugCapture.redisTtlSeconds",
            file=out,
        )
        return 0
    for key, doc in shown:
        print(line(key, doc), file=out)
        if request.full:
            print(_pretty(doc), file=out)
    if capped:
        print(
            f"(looked at the first {request.scan_limit} keys only: narrow with --role or raise --scan-limit)",
            file=out,
        )
    return 0


def swarm_of(request: DebugRequest) -> str:
    if not request.swarm:
        raise DebugError("name a swarm (hivekeeper debug SWARM) or a capture (hivekeeper debug --key KEY)")
    try:
        return naming.swarm_id(request.swarm, request.namespace)
    except ValueError as exc:
        raise DebugError(str(exc)) from exc


async def run(request: DebugRequest, out: TextIO, store: DataStore | None = None) -> int:
    """List captures (or print one with ``key``); raise :class:`DebugError` for anything the user must fix."""
    if request.last < 1:
        raise DebugError(f"--last must be at least 1 (got {request.last})")
    swarm = swarm_of(request) if request.key is None else ""
    url = request.redis_url or os.environ.get(REDIS_ENV)
    if store is None:
        if not url:
            raise DebugError(
                f"no Redis: pass --redis URL or set {REDIS_ENV} (the redisUrl of the hivekeeper-broker Secret)"
            )
        store = RedisStore(url)
    try:
        async with asyncio.timeout(TIMEOUT):
            if request.key is not None:
                return await _one(store, request.key, out)
            return await _list(store, request, swarm, out)
    except (RedisError, OSError, TimeoutError) as exc:
        where = safe_url(url) if url else "the store"
        raise DebugError(f"cannot read debug captures from Redis at {where}: {_reason(exc, url)}") from exc
    finally:
        await store.close()


def _reason(exc: BaseException, url: str | None) -> str:
    if isinstance(exc, TimeoutError):
        return f"no answer within {TIMEOUT:.0f} s"
    text = f"{type(exc).__name__}: {exc}"
    password = urlsplit(url).password if url else None
    return text.replace(password, "***") if password else text


def main(request: DebugRequest, out: TextIO, err: TextIO) -> int:
    try:
        return asyncio.run(run(request, out))
    except DebugError as exc:
        print(f"error: {exc}", file=err)
        return 2
