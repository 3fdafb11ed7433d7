"""http-sequence against real HTTP services on loopback and a real Redis: journeys, retries, timeouts,
debug captures, live config-updates through a Worker, and ``hivekeeper debug``."""

from __future__ import annotations

import asyncio
import hashlib
import io
import re
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson
import pytest

from hivekeeper.api import roles as role_configs
from hivekeeper.api.roles import ConfigError
from hivekeeper.api.roles.http_sequence.config import HttpSequenceConfig
from hivekeeper.local import debug_cli, demo_sut
from hivekeeper.protocol import envelope as env
from hivekeeper.protocol import naming
from hivekeeper.protocol.workitem import WorkItem, new_item, parse
from hivekeeper.templating.engine import TemplateEngine
from hivekeeper.worker import capture
from hivekeeper.worker.http.client import HttpClient
from hivekeeper.worker.http_port import Origin
from hivekeeper.worker.roles.base import DropItem, RoleDeps
from hivekeeper.worker.roles.http_sequence.role import HttpSequence
from hivekeeper.worker.runtime.worker import Worker
from hivekeeper.worker.transports.memory import MemoryStore
from hivekeeper.worker.transports.redis.store import RedisStore
from testbench.demo import DemoService, demo_service
from testbench.procs import free_port
from testbench.scripted_http import ScriptedServer, scripted_server
from testbench.waiting import eventually
from testbench.workers import WorkerHarness

pytestmark = pytest.mark.integration

META = "x-ph-http-seq-"
ONBOARDING = [
    {
        "serviceId": "onboarding",
        "callId": "createCustomer",
        "method": "POST",
        "pathTemplate": "/customers",
        "headersTemplate": {"Content-Type": "application/json"},
        "bodyTemplate": (
            '{"name": "{{ payload.name | default(\'anon\') }}", '
            '"segment": "{{ payload.segment | default(\'retail\') }}"}'
        ),
    },
    {
        "serviceId": "onboarding",
        "callId": "openAccount",
        "method": "POST",
        "pathTemplate": "/customers/{{ ctx.customerId }}/accounts",
        "bodyTemplate": '{"currency": "{{ vars.currency }}"}',
    },
    {
        "serviceId": "onboarding",
        "callId": "issueCard",
        "method": "POST",
        "pathTemplate": "/accounts/{{ ctx.accountId }}/cards",
    },
    {"serviceId": "onboarding", "callId": "readCard", "pathTemplate": "/cards/{{ ctx.cardId }}"},
    {"serviceId": "onboarding", "callId": "unknownCard", "pathTemplate": "/cards/crd-999999"},
]
FOUR_STEPS = [
    {
        "id": "customer",
        "callId": "createCustomer",
        "extracts": [
            {"fromJsonPointer": "/id", "to": "customerId", "required": True},
            {"fromHeader": "location", "to": "links.customer"},
        ],
    },
    {"id": "account", "callId": "openAccount", "extracts": [{"fromJsonPointer": "/id", "to": "accountId"}]},
    {
        "id": "card",
        "callId": "issueCard",
        "extracts": [{"fromJsonPointer": "/id", "to": "cardId", "required": True}],
        "set": [{"to": "summary", "template": '{"card": "{{ ctx.cardId }}", "n": 4}', "parseJson": True}],
    },
    {
        "id": "verify",
        "callId": "readCard",
        "extracts": [{"fromJsonPointer": "/status", "to": "cardStatus"}, {"fromStatus": True, "to": "verifyStatus"}],
    },
]


def _swarm() -> str:
    return f"seq-{uuid.uuid4().hex[:8]}"


def _config(url: str, steps: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {
        "baseUrl": url,
        "serviceId": "onboarding",
        "vars": {"currency": "CHF"},
        "templates": ONBOARDING,
        "steps": steps,
        "debugCapture": {"mode": "NONE"},
        **extra,
    }


def _item(payload: dict[str, Any], journey: str | None = None) -> WorkItem:
    return new_item(
        orjson.dumps(payload).decode(),
        swarm="test",
        service="applicants",
        instance="applicants-0",
        headers={"correlationId": journey or f"j-{uuid.uuid4().hex[:8]}"},
    )


def _meta(item: WorkItem) -> list[dict[str, Any]]:
    return [s.headers for s in item.steps[1:]]


@pytest.fixture
async def demo() -> AsyncIterator[DemoService]:
    async with demo_service() as running:
        yield running


@pytest.fixture
async def scripted() -> AsyncIterator[ScriptedServer]:
    async with scripted_server() as server:
        yield server


@pytest.fixture
async def store(redis_url: str) -> AsyncIterator[RedisStore]:
    redis = RedisStore(redis_url)
    yield redis
    await redis.close()


@dataclass
class Roles:
    """Builds http-sequence roles on one real pooled HTTP client; records their alerts."""

    http: HttpClient = field(default_factory=HttpClient)
    alerts: list[tuple[str, str]] = field(default_factory=list)

    def build(self, raw: dict[str, Any], store: RedisStore | None, swarm: str = "test") -> HttpSequence:
        deps = RoleDeps(swarm=swarm, role="onboard", instance="onboard-0", engine=TemplateEngine(), http=self.http)
        config = role_configs.validate("http-sequence", raw)
        assert isinstance(config, HttpSequenceConfig)
        return HttpSequence(
            config,
            deps,
            alert=lambda code, message, _: self.alerts.append((code, message)),
            store=store,
            forward_results=True,
        )


@pytest.fixture
def roles() -> Iterator[Roles]:
    made = Roles()
    yield made
    made.http.close()


# -- journeys ----------------------------------------------------------------------------------------
async def test_a_four_step_journey_creates_linked_records_and_carries_their_ids(
    demo: DemoService, roles: Roles
) -> None:
    role = roles.build(_config(demo.url, FOUR_STEPS), None)
    result = await role.handle(_item({"name": "ann", "segment": "business"}, "journey-1"), 1)
    assert result is not None
    ctx = orjson.loads(result.payload)
    customer = demo.state.customers[ctx["customerId"]]
    account = demo.state.accounts[ctx["accountId"]]
    card = demo.state.cards[ctx["cardId"]]
    assert (customer["name"], customer["segment"]) == ("ann", "business")
    assert account["customerId"] == customer["id"]
    assert account["currency"] == "CHF", "vars reach the templates"
    assert (card["accountId"], card["customerId"]) == (account["id"], customer["id"])
    assert ctx["links"] == {"customer": f"/customers/{customer['id']}"}
    assert ctx["summary"] == {"card": card["id"], "n": 4}
    assert (ctx["cardStatus"], ctx["verifyStatus"]) == ("active", 200)
    assert (ctx["name"], ctx["segment"]) == ("ann", "business"), "the inbound payload is the starting context"
    meta = _meta(result)
    assert [m[META + "step-id"] for m in meta] == ["customer", "account", "card", "verify"]
    assert [m[META + "status"] for m in meta] == [201, 201, 201, 200]
    assert [m[META + "step-index"] for m in meta] == [0, 1, 2, 3]
    assert all(m[META + "attempts"] == 1 and m[META + "response-bytes"] > 0 for m in meta)
    assert all(len(m[META + "sha256"]) == 64 for m in meta)
    assert not any(META + "body-preview" in m for m in meta), "previews are opt-in"
    assert orjson.loads(result.steps[2].payload)["accountId"] == account["id"], "each step carries the context so far"
    assert result.headers["correlationId"] == "journey-1"
    assert role.context()["okJourneys"] == 1
    assert demo.state.calls["GET /cards/{id}"] == 1


async def test_journeys_from_a_scheduler_start_from_an_empty_context(demo: DemoService, roles: Roles) -> None:
    steps = [{"callId": "createCustomer", "extracts": [{"fromJsonPointer": "/id", "to": "customerId"}]}]
    raw = _config(demo.url, steps, debugCapture={"mode": "NONE", "bodyPreviewBytes": 8})
    result = await (roles.build(raw, None)).handle(None, 1)
    assert result is not None
    assert orjson.loads(result.steps[0].payload) == {}
    ctx = orjson.loads(result.payload)
    assert demo.state.customers[ctx["customerId"]]["name"] == "anon"
    assert result.steps[-1].headers[META + "body-preview"] == '{"id":"c'
    assert result.steps[-1].headers[META + "step-id"] == "step0"


async def test_a_non2xx_stops_the_journey_and_still_emits_the_partial_record(demo: DemoService, roles: Roles) -> None:
    steps = [FOUR_STEPS[0], {"id": "lookup", "callId": "unknownCard"}, {"id": "never", "callId": "openAccount"}]
    role = roles.build(_config(demo.url, steps), None)
    result = await role.handle(_item({"name": "bob"}), 1)
    assert result is not None
    assert [m[META + "status"] for m in _meta(result)] == [201, 404]
    assert result.headers["x-ph-error"] == "non2xx"
    assert "customerId" in orjson.loads(result.payload)
    assert "POST /customers/{id}/accounts" not in demo.state.calls, "the step after the failure never ran"
    assert role.deps.stats.errors == 1
    assert (role.context()["errorJourneys"], role.context()["okJourneys"]) == (1, 0)

    steps[1]["continueOnNon2xx"] = True
    going_on = roles.build(_config(demo.url, steps), None)
    result = await going_on.handle(_item({"name": "bob"}), 2)
    assert result is not None
    assert [m[META + "status"] for m in _meta(result)] == [201, 404, 201]
    assert going_on.context()["okJourneys"] == 1


async def test_a_missing_required_extract_drops_the_item_naming_the_step_and_the_pointer(
    demo: DemoService, roles: Roles
) -> None:
    steps = [
        {
            "id": "customer",
            "callId": "createCustomer",
            "extracts": [{"fromJsonPointer": "/customerNumber", "to": "number", "required": True}],
        },
        FOUR_STEPS[1],
    ]
    role = roles.build(_config(demo.url, steps), None)
    with pytest.raises(DropItem) as dropped:
        await role.handle(_item({"name": "cy"}), 1)
    assert dropped.value.code == "http-sequence.extract-missing"
    assert "step 'customer'" in str(dropped.value)
    assert "fromJsonPointer '/customerNumber'" in str(dropped.value)
    assert "POST /customers/{id}/accounts" not in demo.state.calls
    assert role.context()["droppedJourneys"] == 1


async def test_a_step_without_a_template_is_refused_at_config_time_and_dropped_at_run_time(
    demo: DemoService, roles: Roles
) -> None:
    with pytest.raises(ConfigError) as refused:
        roles.build(_config(demo.url, [FOUR_STEPS[0], {"callId": "closeAccount"}]), None)
    [(path, message)] = refused.value.problems
    assert path == "steps[1].callId"
    assert "'closeAccount': no template 'onboarding::closeAccount'" in message
    assert "onboarding::createCustomer" in message, "the known templates are listed"
    role = roles.build(_config(demo.url, [FOUR_STEPS[0]]), None)
    role.templates.clear()  # a template gone after validation (the guard the config check backs up)
    with pytest.raises(DropItem) as dropped:
        await role.handle(_item({}), 1)
    assert dropped.value.code == "http-sequence.missing-template"
    assert "step 'customer'" in str(dropped.value)


# -- retries and timeouts ------------------------------------------------------------------------------
async def test_retries_happen_exactly_as_configured(demo: DemoService, roles: Roles) -> None:
    demo.state.flaky_every = 2  # every 2nd POST /customers answers 503
    retry = {"maxAttempts": 3, "initialBackoffMs": 10, "on": ["5xx"]}
    steps = [{"id": "customer", "callId": "createCustomer", "retry": retry}]
    role = roles.build(_config(demo.url, steps), None)
    first = await role.handle(_item({}), 1)
    second = await role.handle(_item({}), 2)
    assert first is not None
    assert second is not None
    assert first.steps[-1].headers[META + "attempts"] == 1
    assert second.steps[-1].headers[META + "attempts"] == 2, "503 then 201"
    assert second.steps[-1].headers[META + "status"] == 201
    assert demo.state.calls["POST /customers"] == 3
    assert role.context()["retries"] == 1


async def test_retries_stop_at_max_attempts_with_the_capped_backoff(scripted: ScriptedServer, roles: Roles) -> None:
    templates = [{"serviceId": "s", "callId": "busy", "pathTemplate": "/status/503"}]
    retry = {"maxAttempts": 4, "initialBackoffMs": 40, "backoffMultiplier": 2.0, "maxBackoffMs": 100, "on": ["5XX"]}
    raw = _config(scripted.url, [{"callId": "busy", "retry": retry}], serviceId="s", templates=templates)
    result = await roles.build(raw, None).handle(_item({}), 1)
    assert result is not None
    meta = result.steps[-1].headers
    assert len(scripted.requests) == 4
    assert (meta[META + "attempts"], meta[META + "status"]) == (4, 503)
    assert meta[META + "duration-ms"] >= 40 + 80 + 100, "duration covers every attempt and sleep"
    assert result.headers["x-ph-error"] == "non2xx"

    scripted.requests.clear()
    other = {**retry, "on": ["429", "exception"]}
    raw = _config(scripted.url, [{"callId": "busy", "retry": other}], serviceId="s", templates=templates)
    await roles.build(raw, None).handle(_item({}), 2)
    assert len(scripted.requests) == 1, "a 503 matches neither 429 nor exception"


async def test_a_step_timeout_fires_and_is_reported_as_a_transport_error(
    scripted: ScriptedServer, roles: Roles
) -> None:
    templates = [
        {"serviceId": "s", "callId": "fast", "pathTemplate": "/hello"},
        {"serviceId": "s", "callId": "stall", "pathTemplate": "/silence"},
    ]
    steps = [{"callId": "fast"}, {"id": "stalled", "callId": "stall", "timeoutMs": 200}, {"callId": "fast"}]
    role = roles.build(_config(scripted.url, steps, serviceId="s", templates=templates), None)
    started = time.monotonic()
    result = await role.handle(_item({}), 1)
    elapsed = time.monotonic() - started
    assert result is not None
    meta = _meta(result)
    assert [m[META + "status"] for m in meta] == [200, -1]
    assert meta[1][META + "error"].startswith("timeout: no complete response within 200 ms")
    assert 190 <= meta[1][META + "duration-ms"] < 1000
    assert elapsed < 2, "the role timeout (30 s) did not apply: the step's own did"
    assert result.headers["x-ph-error"] == "transport"
    assert role.deps.stats.error_kinds == {"timeout": 1}
    assert [code for code, _ in roles.alerts] == ["http.timeout"]


async def test_a_step_keeps_max_response_bytes_of_a_body_and_a_cut_json_body_names_the_bound(
    scripted: ScriptedServer, roles: Roles
) -> None:
    templates = [{"serviceId": "s", "callId": "big", "pathTemplate": "/big"}]
    steps = [
        {"id": "cut", "callId": "big", "maxResponseBytes": 100},
        {"id": "needs", "callId": "big", "maxResponseBytes": 10, "extracts": [{"fromJsonPointer": "/id", "to": "id"}]},
    ]
    role = roles.build(_config(scripted.url, steps, serviceId="s", templates=templates), None)
    result = await role.handle(_item({}), 1)
    assert result is not None
    meta = _meta(result)
    assert [(m[META + "response-bytes"], m.get(META + "truncated")) for m in meta] == [(1_000_000, True)] * 2
    assert meta[0][META + "sha256"] == hashlib.sha256(b"x" * 100).hexdigest(), "of the bytes kept"
    assert role.deps.stats.truncated == 2

    required = [
        {
            "callId": "big",
            "maxResponseBytes": 10,
            "extracts": [{"fromJsonPointer": "/id", "to": "id", "required": True}],
        }
    ]
    strict = roles.build(_config(scripted.url, required, serviceId="s", templates=templates), None)
    with pytest.raises(
        DropItem,
        match=r"the body was cut at maxResponseBytes \(10 of 1,000,000 bytes kept\): raise "
        r"steps\[0\]\.maxResponseBytes",
    ):
        await strict.handle(_item({}), 2)


async def test_a_post_step_is_not_retried_automatically_after_a_dropped_keep_alive_connection(
    scripted: ScriptedServer, roles: Roles
) -> None:
    templates = [
        {"serviceId": "s", "callId": "prime", "pathTemplate": "/then-drop"},
        {"serviceId": "s", "callId": "order", "method": "POST", "pathTemplate": "/orders", "bodyTemplate": "{}"},
    ]
    role = roles.build(
        _config(scripted.url, [{"callId": "prime"}, {"callId": "order"}], serviceId="s", templates=templates), None
    )
    result = await role.handle(_item({}), 1)
    assert result is not None
    meta = _meta(result)
    assert [m[META + "status"] for m in meta] == [200, -1]
    assert meta[1][META + "error"].startswith("reset: the server closed a reused keep-alive connection")
    assert "POST is not idempotent" in meta[1][META + "error"]
    assert sum(r.startswith(b"POST /orders ") for r in scripted.requests) == 1


# -- debug capture -------------------------------------------------------------------------------------
async def test_captures_land_in_redis_with_ttl_redaction_and_the_body_cap(
    scripted: ScriptedServer, roles: Roles, store: RedisStore
) -> None:
    swarm = _swarm()
    templates = [
        {
            "serviceId": "s",
            "callId": "cookie",
            "pathTemplate": "/",
            "headersTemplate": {"Authorization": "Bearer s3cret"},
        },
        {"serviceId": "s", "callId": "big", "method": "POST", "pathTemplate": "/big", "bodyTemplate": "{{ 'q' * 50 }}"},
    ]
    debug = {"mode": "ALWAYS", "includeRequest": True, "maxBodyBytes": 20, "redisTtlSeconds": 60}
    raw = _config(scripted.url, [{"callId": "cookie"}, {"callId": "big"}], serviceId="s", templates=templates)
    role = roles.build({**raw, "debugCapture": debug}, store, swarm=swarm)
    result = await role.handle(_item({}, "journey-c"), 1)
    assert result is not None
    refs = [m[META + "debug-ref"] for m in _meta(result)]
    assert refs == [capture.capture_key(swarm, "onboard", "onboard-0", "journey-c", i) for i in (0, 1)]
    first = orjson.loads(await store.get(refs[0]) or b"")
    assert first["request"]["headers"]["Authorization"] == "[redacted]"
    assert first["response"]["headers"]["set-cookie"] == ["[redacted]", "[redacted]"]
    assert first["response"]["headers"]["x-server"] == ["scripted"]
    assert first["request"]["url"] == f"{scripted.url}/"
    assert b"s3cret" not in (await store.get(refs[0]) or b"")
    big = orjson.loads(await store.get(refs[1]) or b"")
    assert big["response"] == {
        "body": "x" * 20,
        "bodyBytes": 1_000_000,
        "truncated": True,
        "truncatedBy": ["debugCapture.maxBodyBytes"],
        "headers": {"content-length": ["1000000"]},
    }
    assert (big["request"]["body"], big["request"]["bodyTruncated"]) == ("q" * 20, True)
    assert (big["stepId"], big["callId"], big["status"], big["journeyId"]) == ("step1", "big", 200, "journey-c")
    assert all(0 < ttl <= 60 for ttl in [await store.ttl(ref) for ref in refs])
    assert role.context()["capturesWritten"] == 2


async def test_error_only_captures_failures_and_the_journey_budget_skips_later_steps(
    demo: DemoService, roles: Roles, store: RedisStore
) -> None:
    swarm = _swarm()
    steps = [FOUR_STEPS[0], {"id": "lookup", "callId": "unknownCard", "continueOnNon2xx": True}]
    role = roles.build(_config(demo.url, steps, debugCapture={"mode": "ERROR_ONLY"}), store, swarm=swarm)
    result = await role.handle(_item({}, "journey-e"), 1)
    assert result is not None
    meta = _meta(result)
    assert META + "debug-ref" not in meta[0], "a 201 is not an error"
    doc = orjson.loads(await store.get(meta[1][META + "debug-ref"]) or b"")
    assert (doc["status"], doc["response"]["body"]) == (404, '{"error":"unknown card"}')

    # ALWAYS with a budget that holds one capture: the second is refused, and so is the (small) third.
    steps = [FOUR_STEPS[0], FOUR_STEPS[1], {"id": "again", "callId": "readCard"}]
    budget = {"mode": "ALWAYS", "maxJourneyBytes": 700}
    role = roles.build(_config(demo.url, [*steps[:2], FOUR_STEPS[2]], debugCapture=budget), store, swarm=swarm)
    result = await role.handle(_item({}, "journey-b"), 2)
    assert result is not None
    meta = _meta(result)
    written = await store.get(meta[0][META + "debug-ref"]) or b""
    assert 350 < len(written) <= 700, "one capture fits, two do not"
    assert [META + "debug-ref" in m for m in meta] == [True, False, False]
    assert all("maxJourneyBytes" in m[META + "debug-skipped"] for m in meta[1:])
    assert role.context()["capturesSkipped"] == 2


async def test_a_store_failure_never_fails_the_journey(demo: DemoService, roles: Roles) -> None:
    dead = RedisStore(f"redis://127.0.0.1:{free_port()}/0")
    try:
        role = roles.build(_config(demo.url, FOUR_STEPS, debugCapture={"mode": "ALWAYS"}), dead)
        result = await role.handle(_item({"name": "dee"}), 1)
    finally:
        await dead.close()
    assert result is not None
    assert [m[META + "status"] for m in _meta(result)] == [201, 201, 201, 200]
    assert role.context()["captureErrors"] == 4
    assert {code for code, _ in roles.alerts} == {"debug.capture-failed"}
    assert "capture write failed" in _meta(result)[0][META + "debug-skipped"]


def test_capture_without_a_store_is_refused_saying_how_to_get_redis(roles: Roles) -> None:
    with pytest.raises(ConfigError) as refused:
        roles.build(_config("http://127.0.0.1:1", FOUR_STEPS, debugCapture={"mode": "ERROR_ONLY"}), None)
    [(path, message)] = refused.value.problems
    assert path == "debugCapture.mode"
    assert "needs Redis: set HIVEKEEPER_REDIS_URL" in message
    assert "hivekeeper run --redis URL" in message


# -- through a Worker ----------------------------------------------------------------------------------
class Harness(WorkerHarness):
    """One http-sequence Worker (``onboard``) on memory transports with a real Redis store."""

    def __init__(self, store: RedisStore) -> None:
        super().__init__(_swarm(), store)
        self.onboard: Worker | None = None

    async def start_onboard(self, config: dict[str, Any], *, work_out: bool = True) -> Worker:
        await self.start()
        self.transports.declare_work_queue("done")
        self.onboard = await self.worker(
            "onboard", "http-sequence", config, work_in="journeys", work_out="done" if work_out else None
        )
        return self.onboard

    async def update(self, data: dict[str, Any]) -> env.Envelope:
        assert self.onboard is not None
        return await self.configure(self.onboard, data)

    async def journey(self, payload: dict[str, Any], journey_id: str) -> WorkItem:
        await self.broker.publish(
            naming.work_exchange(self.swarm),
            naming.work_routing_key(self.swarm, "journeys"),
            _item(payload, journey_id).to_json(),
        )
        return parse(await asyncio.wait_for(self.queue("done").get(), timeout=5))


@pytest.fixture
async def harness(store: RedisStore) -> AsyncIterator[Harness]:
    made = Harness(store)
    yield made
    await made.stop()


async def test_a_config_update_switches_debug_capture_on_live(harness: Harness, demo: DemoService) -> None:
    await harness.start_onboard(_config(demo.url, FOUR_STEPS))
    assert (await harness.update({"enabled": True})).data["status"] == "Applied"
    quiet = await harness.journey({"name": "eve"}, "journey-quiet")
    assert not any(META + "debug-ref" in s.headers for s in quiet.steps)
    prefix = capture.swarm_prefix(harness.swarm)
    assert await harness.store.keys(prefix) == []

    applied = await harness.update({"debugCapture": {"mode": "ALWAYS"}})
    assert applied.data["status"] == "Applied"
    loud = await harness.journey({"name": "fay"}, "journey-loud")
    refs = [s.headers[META + "debug-ref"] for s in loud.steps[1:]]
    assert sorted(await harness.store.keys(prefix)) == sorted(refs)
    assert all(":journey-loud:" in ref for ref in refs)

    refused = await harness.update({"steps": [{"callId": "closeAccount"}]})
    assert refused.data["status"] == "Failed"
    assert refused.data["context"]["problems"][0]["path"] == "steps[0].callId"
    assert harness.onboard is not None
    context = harness.onboard.status_data(full=False)["context"]
    assert (context["journeys"], context["okJourneys"], context["debugCapture"]) == (2, 2, "ALWAYS"), (
        "counters survive config-updates; a refused update keeps the running config"
    )


async def test_journeys_run_concurrently_up_to_thread_count(harness: Harness, store: RedisStore) -> None:
    async with demo_service(delay_ms=150) as slow:
        raw = _config(slow.url, [FOUR_STEPS[0]], threadCount=3)
        raw["inputs"] = {"type": "SCHEDULER", "scheduler": {"ratePerSec": 1000, "maxMessages": 9}}
        raw["outputs"] = {"type": "NONE"}
        worker = await harness.start_onboard(raw)
        await harness.update({"enabled": True})
        peak = 0
        deadline = time.monotonic() + 10
        while worker.stats.processed < 9 and time.monotonic() < deadline:
            peak = max(peak, worker.stats.in_flight)
            await asyncio.sleep(0.01)
        assert worker.stats.processed == 9
        assert peak == 3
        assert slow.state.calls["POST /customers"] == 9


async def test_an_after_uploader_gets_the_journey_record_without_a_work_out(
    harness: Harness, demo: DemoService
) -> None:
    target = f"{harness.swarm}-records"
    uploader = {"phase": "AFTER", "defaultList": target}
    await harness.start_onboard(_config(demo.url, FOUR_STEPS, interceptors={"redisUploader": uploader}), work_out=False)
    await harness.update({"enabled": True})
    await harness.broker.publish(
        naming.work_exchange(harness.swarm),
        naming.work_routing_key(harness.swarm, "journeys"),
        _item({"name": "hal"}).to_json(),
    )

    async def pushed() -> bytes | None:
        return await harness.store.lpop(target)

    record = orjson.loads(await eventually(pushed, timeout=5, what="the journey record in Redis"))
    assert record["cardStatus"] == "active"
    assert demo.state.cards[record["cardId"]]["customerId"] == record["customerId"]


# -- hivekeeper debug ----------------------------------------------------------------------------------
async def test_hivekeeper_debug_lists_captures_newest_first_and_prints_one(
    demo: DemoService, roles: Roles, store: RedisStore, redis_url: str
) -> None:
    swarm = f"perf_{_swarm()}"
    role = roles.build(_config(demo.url, FOUR_STEPS[:2], debugCapture={"mode": "ALWAYS"}), store, swarm=swarm)
    for n in range(3):
        await role.handle(_item({"name": f"n{n}"}, f"journey-{n}"), n)
    out = io.StringIO()
    request = debug_cli.DebugRequest(swarm=swarm.split("_", 1)[1], namespace="perf", redis_url=redis_url, last=4)
    assert await debug_cli.run(request, out) == 0
    lines = out.getvalue().splitlines()
    assert len(lines) == 4
    assert [line.rsplit(":", 2)[1:] for line in lines] == [
        ["journey-2", "1"],
        ["journey-2", "0"],
        ["journey-1", "1"],
        ["journey-1", "0"],
    ], "newest first"
    assert "onboard/onboard-0  step account#1  onboarding::openAccount  status 201" in lines[0]

    key = lines[0].rsplit(" ", 1)[1]
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "hivekeeper.cli",
        "debug",
        "--key",
        key,
        "--redis",
        redis_url,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=30)
    assert process.returncode == 0, stderr.decode()
    assert orjson.loads(stdout)["journeyId"] == "journey-2"


def test_hivekeeper_debug_names_an_unreachable_redis_without_its_password() -> None:
    url = f"redis://:s3cret@127.0.0.1:{free_port()}/0"
    done = subprocess.run(
        [sys.executable, "-m", "hivekeeper.cli", "debug", "some-swarm", "--redis", url],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 2
    assert "cannot read debug captures from Redis at redis://:***@127.0.0.1:" in done.stderr
    assert "s3cret" not in done.stderr + done.stdout


# -- the demo SUT --------------------------------------------------------------------------------------
async def test_the_demo_sut_keeps_linked_records_and_counts_calls(demo: DemoService) -> None:
    http = HttpClient()
    origin = Origin.parse(demo.url)

    async def call(method: str, path: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
        raw = orjson.dumps(body) if body is not None else None
        response = await http.request(origin, method, path, {}, raw, 5.0)
        return response.status, orjson.loads(response.body)

    try:
        assert await call("POST", "/customers/cus-404/accounts") == (404, {"error": "unknown customer"})
        assert await call("POST", "/accounts/acc-404/cards") == (404, {"error": "unknown account"})
        status, customer = await call("POST", "/customers", {"name": "gus", "segment": "business"})
        assert (status, customer["segment"]) == (201, "business")
        _, account = await call("POST", f"/customers/{customer['id']}/accounts", {"currency": "USD"})
        _, card = await call("POST", f"/accounts/{account['id']}/cards")
        assert card["balance"] == 0
        assert await call("POST", f"/cards/{card['id']}/topup", {"amount": 25}) == (
            200,
            {"id": card["id"], "balance": 25},
        )
        assert await call("POST", f"/cards/{card['id']}/suspend") == (200, {"id": card["id"], "status": "suspended"})
        assert (await call("GET", f"/cards/{card['id']}"))[1]["status"] == "suspended"
        assert await call("POST", f"/cards/{card['id']}/activate") == (200, {"id": card["id"], "status": "active"})
        assert await call("GET", "/cards/crd-999999") == (404, {"error": "unknown card"})
        assert (await call("GET", "/cards/card-7/balance"))[0] == 200, "the quickstart's random ids still answer"
        assert (await call("POST", "/cards/card-7/topup", {"amount": 5}))[1] == {"cardId": "card-7", "toppedUp": 5}
        status, stats = await call("GET", "/stats")
        assert (status, stats["customers"], stats["accounts"], stats["cards"]) == (200, 1, 1, 1)
        assert stats["calls"]["POST /customers/{id}/accounts"] == 2
        assert stats["calls"]["POST /cards/{id}/topup"] == 2
    finally:
        http.close()


def test_the_demo_sut_forgets_its_oldest_records_past_the_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(demo_sut, "MAX_RECORDS", 3)
    state = demo_sut.DemoState()
    ids = [orjson.loads(demo_sut.route(state, b"POST", b"/customers", b"{}")[1])["id"] for _ in range(3)]
    account = orjson.loads(demo_sut.route(state, b"POST", f"/customers/{ids[2]}/accounts".encode(), b"")[1])
    assert list(state.customers) == ids[1:], "the oldest customer made room for the account"
    assert state.accounts == {account["id"]: account}
    assert demo_sut.route(state, b"POST", f"/customers/{ids[0]}/accounts".encode(), b"")[0] == 404


async def test_hivekeeper_debug_full_prints_each_capture_and_says_when_there_are_none() -> None:
    store = MemoryStore()
    doc = {"capturedAt": "2026-01-01T00:00:00.000001Z", "role": "r", "instance": "r-0", "stepId": "s", "status": 503}
    await store.setex(capture.capture_key("sw", "r", "r-0", "j", 0), 60, orjson.dumps(doc))
    out = io.StringIO()
    assert await debug_cli.run(debug_cli.DebugRequest(swarm="sw", full=True), out, store=MemoryStore()) == 0
    assert "no debug captures for swarm sw" in out.getvalue()
    out = io.StringIO()
    assert await debug_cli.run(debug_cli.DebugRequest(swarm="sw", full=True, role="r"), out, store=store) == 0
    first, *rest = out.getvalue().splitlines()
    assert first.endswith("hivekeeper:debug:sw:r:r-0:j:0")
    assert orjson.loads("\n".join(rest)) == doc


@pytest.mark.parametrize(
    ("request_", "message"),
    [
        (debug_cli.DebugRequest(), "name a swarm (hivekeeper debug SWARM) or a capture"),
        (debug_cli.DebugRequest(swarm="a.b"), "swarm name 'a.b' cannot be used"),
        (debug_cli.DebugRequest(swarm="s", last=0), "--last must be at least 1 (got 0)"),
        (debug_cli.DebugRequest(key="hivekeeper:debug:gone"), "no capture at 'hivekeeper:debug:gone'"),
    ],
)
async def test_hivekeeper_debug_refuses_what_it_cannot_do_with_the_fix(
    request_: debug_cli.DebugRequest, message: str
) -> None:
    with pytest.raises(debug_cli.DebugError, match=re.escape(message)):
        await debug_cli.run(request_, io.StringIO(), store=MemoryStore())


def test_urls_in_messages_hide_the_password() -> None:
    assert debug_cli.safe_url("redis://user:pw@host:6380/1") == "redis://user:***@host:6380/1"
    assert debug_cli.safe_url("rediss://:pw@host/0") == "rediss://:***@host/0"
    assert debug_cli.safe_url("redis://host:6379/0") == "redis://host:6379/0"


def test_without_a_store_the_default_capture_is_off_rather_than_refused(roles: Roles) -> None:
    config = _config("http://127.0.0.1:1", FOUR_STEPS)
    del config["debugCapture"]  # not set: the default ERROR_ONLY would need Redis
    role = roles.build(config, None)
    assert role.policy.mode == "NONE"
