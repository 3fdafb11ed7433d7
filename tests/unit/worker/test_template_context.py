"""Workers render every template with who renders it (swarmId, runId, role, instanceId, correlationId) and under
the template semantics of their config (templating.undefined, templating.tagNewline), changed live."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest

from hivekeeper.protocol.workitem import new_item
from testbench.waiting import eventually
from testbench.workers import WorkerHarness

SWARM = "names"
WHO = '{"swarm": "{{ swarmId }}", "run": "{{ runId }}", "role": "{{ role }}", "instance": "{{ instanceId }}", '
WHO += '"correlation": "{{ correlationId }}"}'


@pytest.fixture
async def harness() -> AsyncIterator[WorkerHarness]:
    h = WorkerHarness(SWARM)
    await h.start()
    yield h
    await h.stop()


def generator(body: str, **templating: Any) -> dict[str, Any]:
    return {"inputs": {"scheduler": {"ratePerSec": 200}}, "message": {"body": body}, "templating": templating}


async def first_item(harness: WorkerHarness, alias: str) -> dict[str, Any]:
    async def produced() -> int:
        return harness.queue(alias).qsize()

    await eventually(produced, timeout=5, what=f"an item on {alias}")
    return dict(orjson.loads(harness.queue(alias).get_nowait()))


async def test_a_generated_body_names_its_swarm_run_role_instance_and_the_items_correlation_id(
    harness: WorkerHarness,
) -> None:
    worker = await harness.worker("feeder", "generator", generator(WHO, runId="run-7"), work_out="out")
    await harness.enable(worker)
    item = await first_item(harness, "out")
    body = orjson.loads(item["steps"][0]["payload"])
    assert body == {
        "swarm": SWARM,
        "run": "run-7",
        "role": "feeder",
        "instance": "feeder-0",
        "correlation": item["headers"]["correlationId"],
    }
    assert item["headers"]["correlationId"] == item["messageId"]


async def test_a_request_builder_renders_the_correlation_id_of_the_item_it_builds(harness: WorkerHarness) -> None:
    template = {"serviceId": "s", "callId": "who", "pathTemplate": "/{{ swarmId }}/{{ correlationId }}"}
    config = {"templates": [template], "serviceId": "s"}
    worker = await harness.worker("builder", "request-builder", config, work_in="in", work_out="out")
    await harness.enable(worker)
    item = new_item("{}", swarm=SWARM, service="t", instance="t-0", headers={"x-ph-call-id": "who"})
    harness.queue("in").put_nowait(item.to_json())
    built = await first_item(harness, "out")
    request = orjson.loads(built["steps"][-1]["payload"])["request"]
    assert request["path"] == f"/{SWARM}/{item.correlation_id}"


async def test_strict_drops_an_item_whose_template_reads_an_undefined_name(harness: WorkerHarness) -> None:
    worker = await harness.worker("feeder", "generator", generator("{{ tenantId }}"), work_out="out")
    await harness.enable(worker)

    async def alerted() -> bool:
        return bool(harness.alerts("template.error"))

    await eventually(alerted, timeout=5, what="a template.error alert")
    assert "'tenantId' is undefined" in harness.alerts("template.error")[0].data["message"]
    assert harness.queue("out").qsize() == 0


async def test_an_update_to_empty_and_trim_takes_effect_live(harness: WorkerHarness) -> None:
    body = "{% set a = 1 %}\n<x>{{ tenantId }}</x>"
    worker = await harness.worker("feeder", "generator", generator(body), work_out="out")
    outcome = await harness.configure(
        worker, {"enabled": True, "templating": {"undefined": "empty", "tagNewline": "trim"}}
    )
    assert outcome.data["status"] == "Applied", outcome.data
    item = await first_item(harness, "out")
    assert item["steps"][0]["payload"] == "<x></x>"


async def test_a_refused_update_leaves_the_semantics_in_force(harness: WorkerHarness) -> None:
    config = generator("<x>{{ tenantId }}</x>", undefined="empty")
    worker = await harness.worker("feeder", "generator", config, work_out="out")
    refused = await harness.configure(worker, {"templating": {"undefined": "strict"}, "message": {"body": "{{ broken"}})
    assert refused.data["status"] == "Failed"
    assert worker.engine.semantics.undefined == "empty"
    await harness.enable(worker)
    item = await first_item(harness, "out")
    assert item["steps"][0]["payload"] == "<x></x>"
