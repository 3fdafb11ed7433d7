"""Worker pods kept in memory from one watch per namespace (an informer, as client-go would keep them).

A roll-up asks for the pods of one role every 2 s. Listing them each time cost one API request per role per tick
and decoding every pod again: with 100 swarms that is ~100 lists a second, and most of the operator's CPU
(bench/control_scale.py). Here the pods of a namespace that carry our swarm label are listed once, then followed
with a watch from the list's resourceVersion, so a steady swarm costs no API request at all and a roll-up reads a
dict. The watch is started the first time a namespace is asked for, and ended when nobody asked for
``IDLE_SECONDS`` (its swarms are gone). If the watch fails (the API server restarted, the resourceVersion expired)
the namespace is listed again after a growing pause; until its first list has answered, a roll-up lists the
role's pods itself, as before.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterable, Awaitable, Callable
from typing import Any, Protocol

from hivekeeper.operator.pods import Pod

log = logging.getLogger("hivekeeper.operator")

LABEL_SWARM = "hivekeeper.io/swarm"
LABEL_ROLE = "hivekeeper.io/role"
IDLE_SECONDS = 300.0
"""A namespace's watch ends when no roll-up asked for its pods this long."""
MAX_NAMESPACES = 1000
"""Namespaces watched at most at once (each is one open request to the API server)."""
RETRY_SECONDS = (1.0, 30.0)
"""The pause before listing again after the watch failed: from the first, doubling, up to the second."""
WATCH_TIMEOUT = 300
"""Seconds the API server keeps one watch request open before the watch is renewed (from the last version)."""

Keyed = tuple[str, str, Pod]
"""A pod with its swarm and role labels."""


class PodSource(Protocol):
    """The list and the watch of the pods with the swarm label in one namespace (the Kubernetes API)."""

    async def list_pods(self, namespace: str) -> tuple[list[dict[str, Any]], str]:
        """The pods (as the API gives them) and the list's resourceVersion."""
        ...

    def watch_pods(
        self, namespace: str, resource_version: str, timeout: int
    ) -> AsyncIterable[tuple[str, dict[str, Any]]]:
        """(type, pod) for every change after ``resource_version``: ADDED, MODIFIED, DELETED."""
        ...


def _keyed(raw: dict[str, Any]) -> tuple[str, Keyed] | None:
    metadata = raw.get("metadata") or {}
    labels = metadata.get("labels") or {}
    name, swarm, role = metadata.get("name"), labels.get(LABEL_SWARM), labels.get(LABEL_ROLE)
    if not (name and swarm and role):
        return None
    return str(name), (str(swarm), str(role), Pod.model_validate(raw))


class NamespacePods:
    """The pods of one namespace, listed once and then kept up to date by a watch (in a task of its own)."""

    def __init__(self, source: PodSource, namespace: str, clock: Callable[[], float] = time.monotonic) -> None:
        self._source = source
        self.namespace = namespace
        self.pods: dict[str, Keyed] = {}
        self.synced = asyncio.Event()
        self.asked = clock()
        self.failures = 0
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name=f"pods of {self.namespace}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def of(self, swarm: str, role: str) -> list[Pod]:
        return [pod for s, r, pod in self.pods.values() if s == swarm and r == role]

    async def _run(self) -> None:
        while True:
            try:
                version = await self._list()
                while True:  # the server ends each watch after WATCH_TIMEOUT: go on from the last version seen
                    version = await self._follow(version)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the API server restarted, the version expired (410 Gone), a network error
                self.failures += 1
                self.synced.clear()
                pause = min(RETRY_SECONDS[1], RETRY_SECONDS[0] * 2 ** min(self.failures - 1, 10))
                log.info("namespace %s: pod watch ended (%s); listing again in %.0f s", self.namespace, exc, pause)
                await asyncio.sleep(pause)

    async def _list(self) -> str:
        items, version = await self._source.list_pods(self.namespace)
        pods: dict[str, Keyed] = {}
        for raw in items:
            keyed = _keyed(raw)
            if keyed is not None:
                pods[keyed[0]] = keyed[1]
        self.pods = pods
        self.synced.set()
        self.failures = 0
        return version

    async def _follow(self, version: str) -> str:
        async for kind, raw in self._source.watch_pods(self.namespace, version, WATCH_TIMEOUT):
            version = str((raw.get("metadata") or {}).get("resourceVersion") or version)
            if kind == "BOOKMARK":
                continue
            keyed = _keyed(raw)
            if keyed is None:
                continue
            if kind == "DELETED":
                self.pods.pop(keyed[0], None)
            else:
                self.pods[keyed[0]] = keyed[1]
        return version


class PodWatch:
    """Worker pods by (namespace, swarm, role), from a watch per namespace (see the module docstring)."""

    def __init__(
        self,
        source: PodSource,
        fallback: Callable[[str, str, str], Awaitable[list[Pod]]],
        clock: Callable[[], float] = time.monotonic,
        sync_wait: float = 2.0,
    ) -> None:
        self._source = source
        self._fallback = fallback
        self._clock = clock
        self._sync_wait = sync_wait
        self._namespaces: dict[str, NamespacePods] = {}

    @property
    def watched(self) -> list[str]:
        return sorted(self._namespaces)

    async def pods(self, namespace: str, swarm: str, role: str) -> list[Pod]:
        """The role's pods; from the namespace's watch once its first list answered, else listed directly."""
        entry = self._namespaces.get(namespace)
        if entry is None:
            await self._forget_idle()
            entry = self._namespaces[namespace] = NamespacePods(self._source, namespace, self._clock)
            entry.start()
        entry.asked = self._clock()
        if not entry.synced.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(entry.synced.wait(), self._sync_wait)
        if entry.synced.is_set():
            return entry.of(swarm, role)
        return await self._fallback(namespace, swarm, role)

    async def _forget_idle(self) -> None:
        now = self._clock()
        idle = [n for n, e in self._namespaces.items() if now - e.asked > IDLE_SECONDS]
        if len(self._namespaces) - len(idle) >= MAX_NAMESPACES:  # the oldest asked goes
            idle.append(min(self._namespaces, key=lambda n: self._namespaces[n].asked))
        for name in idle:
            await self._namespaces.pop(name).stop()

    async def close(self) -> None:
        for entry in self._namespaces.values():
            await entry.stop()
        self._namespaces.clear()
