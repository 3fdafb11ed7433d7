"""Roles by name: every configurable role has a registry entry, and the runtime wires what an entry asks for
(work loops, an HTTP client with or without response headers, kept across config-updates that leave it be)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from hivekeeper.api import roles as role_configs
from hivekeeper.worker.http.client import HttpClient
from hivekeeper.worker.roles.registry import ROLES
from hivekeeper.worker.runtime.parts import DEFAULT_CONCURRENCY
from hivekeeper.worker.runtime.worker import Worker
from testbench.workers import WorkerHarness

SUT = "http://sut.test"
STEPS = {
    "baseUrl": SUT,
    "templates": [{"serviceId": "default", "callId": "ping", "pathTemplate": "/ping"}],
    "steps": [{"callId": "ping"}],
}


@pytest.fixture
async def harness() -> AsyncIterator[WorkerHarness]:
    h = WorkerHarness("registry")
    await h.start()
    yield h
    await h.stop()


def _client(worker: Worker) -> HttpClient:
    assert worker.http is not None
    return worker.http


def test_every_role_with_a_config_model_has_a_registry_entry_and_no_other() -> None:
    assert set(ROLES) == set(role_configs.ROLES)


async def test_a_processor_keeps_response_headers_only_when_its_results_go_on(harness: WorkerHarness) -> None:
    silent = await harness.worker("silent", "processor", {"baseUrl": SUT}, work_in="in")
    forwarding = await harness.worker("forwarding", "processor", {"baseUrl": SUT}, work_in="in2", work_out="out")
    assert (_client(silent).collect_headers, _client(forwarding).collect_headers) == (False, True)


async def test_an_http_sequence_always_keeps_response_headers_for_its_extracts(harness: WorkerHarness) -> None:
    worker = await harness.worker("journeys", "http-sequence", STEPS, work_in="in")
    assert _client(worker).collect_headers


async def test_roles_without_http_get_no_client_and_the_default_loops(harness: WorkerHarness) -> None:
    worker = await harness.worker("post", "postprocessor", {}, work_in="in")
    assert worker.http is None
    assert worker._loops.target == DEFAULT_CONCURRENCY


async def test_thread_count_sets_the_work_loops_live(harness: WorkerHarness) -> None:
    worker = await harness.worker("caller", "processor", {"baseUrl": SUT, "threadCount": 3}, work_in="in")
    assert worker._loops.target == 3
    outcome = await harness.configure(worker, {"threadCount": 5})
    assert outcome.data["status"] == "Applied", outcome.data
    assert worker._loops.target == 5


async def test_a_config_update_keeps_the_http_client_unless_its_settings_change(harness: WorkerHarness) -> None:
    worker = await harness.worker("caller", "processor", {"baseUrl": SUT}, work_in="in")
    first = _client(worker)
    await harness.configure(worker, {"timeoutMs": 1000})
    assert _client(worker) is first, "warm connections survive an edit that does not touch the client"
    await harness.configure(worker, {"keepAlive": False})
    assert _client(worker) is not first
    assert (_client(worker).keep_alive, first._closed) == (False, True)
