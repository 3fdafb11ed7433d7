"""LightkubeCluster's Events on the wire: what it sends the API server's core/v1 events endpoint to create an Event
and to bump a repeat, against an in-memory twin of that endpoint (the transport seam lightkube's client offers)."""

from __future__ import annotations

import json
from typing import Any

import httpx2  # lightkube talks HTTP through httpx2
import pytest
from lightkube import ApiError, AsyncClient, KubeConfig

from hivekeeper.operator.effects import LightkubeCluster
from hivekeeper.operator.events import KubeEvent, ObjectRef

EVENTS = "/api/v1/namespaces/perf/events"


class EventsEndpoint:
    """The API server's Events of namespace perf: POST creates, PATCH (merge) changes one, 404 when it is gone."""

    def __init__(self, *, refuse: int = 0) -> None:
        self.held: dict[str, dict[str, Any]] = {}
        self.requests: list[tuple[str, str, str]] = []
        self.refuse = refuse

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        self.requests.append((request.method, request.url.path, request.headers.get("content-type", "")))
        if self.refuse:
            status = {"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": self.refuse, "message": "no"}
            return httpx2.Response(self.refuse, json=status)
        body = json.loads(request.content or b"{}")
        if request.method == "POST" and request.url.path == EVENTS:
            self.held[body["metadata"]["name"]] = body
            return httpx2.Response(201, json=body)
        name = request.url.path.removeprefix(EVENTS + "/")
        if request.method == "PATCH" and name in self.held:
            self.held[name].update(body)
            return httpx2.Response(200, json=self.held[name])
        gone = {"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": 404, "reason": "NotFound"}
        return httpx2.Response(404, json=gone)


def _cluster(endpoint: EventsEndpoint) -> LightkubeCluster:
    config = KubeConfig.from_dict(
        {
            "clusters": [{"name": "test", "cluster": {"server": "https://kube.test"}}],
            "contexts": [{"name": "test", "context": {"cluster": "test", "user": "operator"}}],
            "users": [{"name": "operator", "user": {"token": "t"}}],
            "current-context": "test",
        }
    )
    return LightkubeCluster(AsyncClient(config=config, transport=httpx2.MockTransport(endpoint)))


def _event(count: int = 1, last: str = "2026-01-01T00:00:00Z") -> KubeEvent:
    return KubeEvent(
        name="quickstart-caller.00ab",
        namespace="perf",
        involved=ObjectRef("WorkerRole", "perf", "quickstart-caller", "uid-caller"),
        type="Normal",
        reason="ConfigApplied",
        message="all 2 workers run config generation 3",
        count=count,
        first_timestamp="2026-01-01T00:00:00Z",
        last_timestamp=last,
    )


async def test_an_event_is_created_on_the_workerrole_with_its_count_and_times() -> None:
    endpoint = EventsEndpoint()

    await _cluster(endpoint).create_event(_event())

    held = endpoint.held["quickstart-caller.00ab"]
    assert held["involvedObject"] == {
        "apiVersion": "hivekeeper.io/v1alpha1",
        "kind": "WorkerRole",
        "name": "quickstart-caller",
        "namespace": "perf",
        "uid": "uid-caller",
    }
    assert (held["type"], held["reason"], held["message"]) == (
        "Normal",
        "ConfigApplied",
        "all 2 workers run config generation 3",
    )
    assert (held["count"], held["firstTimestamp"], held["lastTimestamp"]) == (
        1,
        "2026-01-01T00:00:00Z",
        "2026-01-01T00:00:00Z",
    )
    assert held["source"] == {"component": "hivekeeper-operator"}


async def test_a_repeat_is_a_merge_patch_of_count_last_time_and_message_and_a_gone_event_says_so() -> None:
    endpoint = EventsEndpoint()
    cluster = _cluster(endpoint)
    await cluster.create_event(_event())

    assert await cluster.patch_event(_event(count=2, last="2026-01-01T00:04:00Z"))
    del endpoint.held["quickstart-caller.00ab"]
    assert not await cluster.patch_event(_event(count=3))

    assert endpoint.requests[1] == (
        "PATCH",
        f"{EVENTS}/quickstart-caller.00ab",
        "application/merge-patch+json",
    )
    assert endpoint.requests[2][0] == "PATCH"


async def test_any_other_refusal_is_raised_for_the_recorder_to_log() -> None:
    with pytest.raises(ApiError):
        await _cluster(EventsEndpoint(refuse=403)).patch_event(_event(count=2))
    with pytest.raises(ApiError):
        await _cluster(EventsEndpoint(refuse=403)).create_event(_event())
