"""The pod watch: a namespace is listed once, then followed by its watch; roll-ups read memory, not the API."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from hivekeeper.operator import pod_watch
from hivekeeper.operator.pod_watch import PodWatch
from hivekeeper.operator.pods import Pod
from testbench.waiting import eventually


def _pod(name: str, swarm: str = "s", role: str = "caller", phase: str = "Running", version: int = 1) -> dict[str, Any]:
    return {
        "metadata": {
            "name": name,
            "resourceVersion": str(version),
            "labels": {"hivekeeper.io/swarm": swarm, "hivekeeper.io/role": role},
        },
        "status": {"phase": phase},
    }


class Source:
    """Scripted pods: ``lists`` counts the lists; ``changes`` feeds the watch; ``fail`` ends a watch with an error."""

    def __init__(self, pods: list[dict[str, Any]]) -> None:
        self.pods = pods
        self.lists = 0
        self.changes: asyncio.Queue[tuple[str, dict[str, Any]] | Exception] = asyncio.Queue()
        self.versions: list[str] = []

    async def list_pods(self, namespace: str) -> tuple[list[dict[str, Any]], str]:
        self.lists += 1
        return list(self.pods), f"list-{self.lists}"

    async def watch_pods(
        self, namespace: str, resource_version: str, timeout: int
    ) -> AsyncIterator[tuple[str, dict[str, Any]]]:
        self.versions.append(resource_version)
        while True:
            change = await self.changes.get()
            if isinstance(change, Exception):
                raise change
            yield change


async def _never(namespace: str, swarm: str, role: str) -> list[Pod]:
    raise AssertionError("the watch should have answered")


def _names(pods: list[Pod]) -> list[str]:
    return sorted(p.metadata.name for p in pods)


async def test_a_namespace_is_listed_once_and_its_roles_pods_read_from_memory_afterwards() -> None:
    source = Source([_pod("caller-a"), _pod("caller-b"), _pod("feeder-a", role="feeder"), _pod("other", swarm="t")])
    watch = PodWatch(source, _never)
    try:
        for _ in range(5):
            assert _names(await watch.pods("perf", "s", "caller")) == ["caller-a", "caller-b"]
        assert _names(await watch.pods("perf", "s", "feeder")) == ["feeder-a"]
        assert source.lists == 1
        assert source.versions == ["list-1"], "the watch starts at the list's resourceVersion"
    finally:
        await watch.close()


async def test_changes_from_the_watch_show_in_the_next_read() -> None:
    source = Source([_pod("caller-a")])
    watch = PodWatch(source, _never)
    try:
        await watch.pods("perf", "s", "caller")
        await source.changes.put(("ADDED", _pod("caller-b", phase="Pending", version=2)))
        await source.changes.put(("MODIFIED", _pod("caller-a", phase="Failed", version=3)))

        async def seen() -> bool:
            pods = {p.metadata.name: p.status.phase for p in await watch.pods("perf", "s", "caller")}
            return pods == {"caller-a": "Failed", "caller-b": "Pending"}

        await eventually(seen, timeout=5, what="the added and modified pods")
        await source.changes.put(("DELETED", _pod("caller-a", version=4)))

        async def gone() -> bool:
            return _names(await watch.pods("perf", "s", "caller")) == ["caller-b"]

        await eventually(gone, timeout=5, what="the deleted pod gone")
        assert source.lists == 1
    finally:
        await watch.close()


async def test_a_failed_watch_lists_the_namespace_again(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pod_watch, "RETRY_SECONDS", (0.01, 0.01))
    source = Source([_pod("caller-a")])
    watch = PodWatch(source, _never)
    try:
        await watch.pods("perf", "s", "caller")
        source.pods = [_pod("caller-z")]  # what changed while the watch was down is in the next list
        await source.changes.put(RuntimeError("410 Gone: too old resource version"))

        async def relisted() -> bool:
            return _names(await watch.pods("perf", "s", "caller")) == ["caller-z"]

        await eventually(relisted, timeout=5, what="the namespace listed again")
        assert source.lists == 2
        assert source.versions == ["list-1", "list-2"]
    finally:
        await watch.close()


async def test_until_the_first_list_answers_the_roles_pods_are_listed_directly() -> None:
    class Stuck(Source):
        async def list_pods(self, namespace: str) -> tuple[list[dict[str, Any]], str]:
            await asyncio.Event().wait()
            raise AssertionError("unreachable")

    asked: list[tuple[str, str, str]] = []

    async def direct(namespace: str, swarm: str, role: str) -> list[Pod]:
        asked.append((namespace, swarm, role))
        return [Pod.model_validate(_pod("caller-direct"))]

    watch = PodWatch(Stuck([]), direct, sync_wait=0.01)
    try:
        assert _names(await watch.pods("perf", "s", "caller")) == ["caller-direct"]
        assert asked == [("perf", "s", "caller")]
    finally:
        await watch.close()


async def test_a_namespace_nobody_asked_for_is_no_longer_watched() -> None:
    now = [0.0]
    source = Source([_pod("caller-a")])
    watch = PodWatch(source, _never, clock=lambda: now[0])
    try:
        await watch.pods("old", "s", "caller")
        now[0] = pod_watch.IDLE_SECONDS + 1
        await watch.pods("new", "s", "caller")
        assert watch.watched == ["new"]
    finally:
        await watch.close()
