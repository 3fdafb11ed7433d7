"""The worker runtime on the in-memory transports: lifecycle, config-updates, bad input, status."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import jsonschema
import orjson
import pytest

from hivekeeper.protocol import envelope as env
from hivekeeper.protocol.schemas import schemas
from hivekeeper.protocol.workitem import new_item
from testbench.waiting import eventually
from testbench.workers import WorkerHarness

SWARM = "unit"
ENVELOPE_SCHEMA = schemas()["control-envelope.schema.json"]
WORKITEM_SCHEMA = schemas()["workitem.schema.json"]


class Harness(WorkerHarness):
    """Every event checked against the control-envelope schema as it arrives."""

    def __init__(self) -> None:
        super().__init__(SWARM, check_schema=True)


@pytest.fixture
async def harness() -> AsyncIterator[Harness]:
    h = Harness()
    await h.start()
    yield h
    await h.stop()


GENERATOR = {
    "inputs": {"scheduler": {"ratePerSec": 1000}},
    "message": {"body": '{"n": {{ randInt(1, 9) }}}', "headers": {"x-ph-call-id": "balance"}},
}


async def test_a_worker_starts_disabled_and_says_so(harness: Harness) -> None:
    await harness.worker("feeder", "generator", GENERATOR, work_out="build")

    async def reported() -> list[env.Envelope]:
        return harness.of("metric", "status-full")

    full = await eventually(reported, timeout=5, what="the start-up status-full")
    assert len(full) == 1
    assert full[0].data["enabled"] is False
    assert full[0].data["config"]["inputs"]["scheduler"]["ratePerSec"] == 1000
    assert full[0].correlationId is None
    await asyncio.sleep(0.1)
    assert harness.queue("build").qsize() == 0, "a disabled generator produces nothing"


async def test_enabling_answers_applied_echoing_ids_and_work_flows(harness: Harness) -> None:
    worker = await harness.worker("feeder", "generator", GENERATOR, work_out="build")
    outcome = await harness.signal(
        worker, "config-update", {"enabled": True, "configGeneration": 2}, idempotency_key="idem-1"
    )
    assert outcome is not None
    assert outcome.data["status"] == "Applied"
    assert outcome.idempotencyKey == "idem-1"
    assert outcome.data["configGeneration"] == 2

    async def items() -> int:
        return harness.queue("build").qsize()

    await eventually(items, timeout=5, what="generated items on the build queue")
    body = await harness.queue("build").get()
    jsonschema.validate(orjson.loads(body), WORKITEM_SCHEMA)
    item = orjson.loads(body)
    assert item["headers"]["x-ph-call-id"] == "balance"
    assert item["steps"][0]["headers"]["ph.step.service"] == "feeder"
    assert harness.of("metric", "status-full")[-1].data["context"]["configGeneration"] == 2
    hops = item["observability"]["hops"]
    assert [hop["service"] for hop in hops] == ["feeder"], "one hop per role: the generator's own, once"
    assert hops[0]["receivedAt"] <= hops[0]["processedAt"]


async def test_a_rejected_update_answers_failed_and_keeps_the_old_config(harness: Harness) -> None:
    worker = await harness.worker("feeder", "generator", GENERATOR, work_out="build")
    outcome = await harness.signal(worker, "config-update", {"inputs": {"scheduler": {"ratePerSec": -5}}})
    assert outcome is not None
    assert outcome.data["status"] == "Failed"
    assert "inputs.scheduler.ratePerSec" in outcome.data["context"]["reason"]
    assert outcome.data["retryable"] is False
    assert worker.state.config.inputs.scheduler.ratePerSec == 1000
    alerts = harness.of("event", "alert")
    assert [a.data["code"] for a in alerts] == ["config.rejected"]


async def test_a_delayed_older_update_is_refused_with_a_warning_not_an_error(harness: Harness) -> None:
    worker = await harness.worker("feeder", "generator", GENERATOR, work_out="build")
    applied = await harness.signal(worker, "config-update", {"configGeneration": 5})
    assert applied is not None
    assert applied.data["status"] == "Applied"

    late = await harness.signal(worker, "config-update", {"configGeneration": 3, "message": {"body": "late"}})

    assert late is not None
    assert late.data["status"] == "Failed"
    assert "3 is older than generation 5" in late.data["context"]["reason"]
    assert worker.state.generation == 5
    assert [(a.data["code"], a.data["level"]) for a in harness.of("event", "alert")] == [("config.stale", "warning")]


async def test_a_template_that_does_not_compile_is_rejected_whole(harness: Harness) -> None:
    worker = await harness.worker("feeder", "generator", GENERATOR, work_out="build")
    outcome = await harness.signal(worker, "config-update", {"message": {"body": "{% if %}"}})
    assert outcome is not None
    assert outcome.data["status"] == "Failed"
    assert "template 'message.body' line 1: syntax error" in outcome.data["context"]["reason"]
    assert worker.state.config.message.body == GENERATOR["message"]["body"]  # type: ignore[attr-defined,index]


async def test_malformed_control_json_raises_an_alert_and_the_worker_keeps_listening(harness: Harness) -> None:
    worker = await harness.worker("feeder", "generator", GENERATOR, work_out="build")
    await harness.signal(worker, "config-update", raw=b"{not json")

    async def alerted() -> list[env.Envelope]:
        return harness.of("event", "alert")

    alerts = await eventually(alerted, timeout=5, what="an alert about the malformed control message")
    assert alerts[0].data["code"] == "control.invalid-message"
    assert "not valid JSON" in alerts[0].data["message"]
    outcome = await harness.signal(worker, "status-request")
    assert outcome is not None
    assert outcome.data["status"] == "Applied"


async def test_an_unknown_signal_type_is_answered_failed_naming_the_known_ones(harness: Harness) -> None:
    worker = await harness.worker("feeder", "generator", GENERATOR, work_out="build")
    outcome = await harness.signal(worker, "self-destruct")
    assert outcome is not None
    assert outcome.data["status"] == "Failed"
    assert "unknown signal type 'self-destruct'" in outcome.data["context"]["reason"]
    assert "config-update, status-request" in outcome.data["context"]["reason"]


async def test_status_request_gets_a_status_full_and_deltas_keep_coming(harness: Harness) -> None:
    worker = await harness.worker("feeder", "generator", GENERATOR, work_out="build")
    await harness.signal(worker, "status-request")
    assert len(harness.of("metric", "status-full")) == 2

    async def deltas() -> bool:
        return len(harness.of("metric", "status-delta")) >= 2

    await eventually(deltas, timeout=5, what="two status-delta metrics")
    delta = harness.of("metric", "status-delta")[-1]
    assert set(delta.data) == {"enabled", "tps", "ioState", "context"}, "exactly PocketHive's status-delta keys"
    assert isinstance(delta.data["tps"], int)
    assert delta.data["context"]["configGeneration"] == 0


async def test_an_invalid_work_item_is_dropped_counted_and_alerted(harness: Harness) -> None:
    worker = await harness.worker(
        "builder", "request-builder", {"serviceId": "cards"}, work_in="build", work_out="call"
    )
    await harness.signal(worker, "config-update", {"enabled": True})
    await harness.queue("build").put(b"{broken")
    await harness.queue("build").put(
        b'{"messageId": "m", "steps": [], "observability": {"traceId": "t", "swarmId": "unit"}}'
    )

    async def dropped() -> bool:
        return worker.stats.dropped == 2

    await eventually(dropped, timeout=5, what="both bad items to be dropped")
    codes = {a.data["code"] for a in harness.of("event", "alert")}
    assert codes == {"work.invalid-item"}
    assert worker.stats.processed == 0


async def test_a_call_id_without_template_is_dropped_with_the_known_templates_named(harness: Harness) -> None:
    config = {
        "serviceId": "cards",
        "templates": [{"serviceId": "cards", "callId": "balance", "pathTemplate": "/cards/{{ payload.n }}"}],
    }
    worker = await harness.worker("builder", "request-builder", config, work_in="build", work_out="call")
    await harness.signal(worker, "config-update", {"enabled": True})
    item = new_item('{"n": 7}', swarm=SWARM, service="feeder", instance="f-0", headers={"x-ph-call-id": "refund"})
    await harness.queue("build").put(item.to_json())
    good = new_item('{"n": 7}', swarm=SWARM, service="feeder", instance="f-0", headers={"x-ph-call-id": "balance"})
    await harness.queue("build").put(good.to_json())

    async def built() -> bytes | None:
        return harness.queue("call").get_nowait() if harness.queue("call").qsize() else None

    body = await eventually(built, timeout=5, what="the request built from the balance template")
    request = orjson.loads(orjson.loads(body)["steps"][-1]["payload"])
    assert request == {"kind": "http.request", "request": {"method": "GET", "path": "/cards/7", "headers": {}}}
    alert = harness.of("event", "alert")[0]
    assert alert.data["code"] == "request-builder.missing-template"
    assert "no template 'cards::refund'" in alert.data["message"]
    assert "cards::balance" in alert.data["message"]
    assert worker.stats.dropped == 1


async def test_disabling_stops_consuming_and_leaves_items_queued(harness: Harness) -> None:
    config = {"serviceId": "cards", "passThroughOnMissingTemplate": True}
    worker = await harness.worker("builder", "request-builder", config, work_in="build", work_out="call")
    for n in range(5):
        item = new_item(str(n), swarm=SWARM, service="f", instance="f-0", headers={"x-ph-call-id": "x"})
        await harness.queue("build").put(item.to_json())
    await asyncio.sleep(0.1)
    assert harness.queue("build").qsize() == 5, "a disabled worker does not consume"
    await harness.signal(worker, "config-update", {"enabled": True})

    async def passed() -> bool:
        return harness.queue("call").qsize() == 5

    await eventually(passed, timeout=5, what="all five items passed through")
    assert worker.stats.processed == 5
