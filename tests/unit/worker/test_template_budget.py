"""A worker under the template budget: a bomb in a config-update is refused whole with a Failed outcome, a
bomb met per item drops that item (alert and counter), and any exception while applying a config is answered."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import pytest

from hivekeeper.protocol import envelope as env
from hivekeeper.templating.engine import TemplateEngine
from testbench.waiting import eventually
from testbench.workers import WorkerHarness

GENERATOR = {
    "inputs": {"scheduler": {"ratePerSec": 20}},
    "message": {"body": '{"n": {{ randInt(1, 9) }}}', "headers": {"x-ph-call-id": "balance"}},
}
NESTED_LOOPS = "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}"
PER_ITEM_BOMB = "{{ sequence('n') }}" + NESTED_LOOPS
"""Templates calling sequence() are not probed when the config is applied (the probe would move the counter),
so this one is only found by rendering it."""


@pytest.fixture
async def harness() -> AsyncIterator[WorkerHarness]:
    h = WorkerHarness("budget", check_schema=True)
    await h.start()
    yield h
    await h.stop()


async def test_a_bomb_in_a_config_update_is_refused_naming_the_template_and_the_limit(harness: WorkerHarness) -> None:
    worker = await harness.worker("feeder", "generator", GENERATOR, work_out="build")
    await harness.enable(worker)
    started = time.monotonic()
    outcome = await harness.signal(
        worker, "config-update", {"message": {"body": "{{ 10**100000000 }}"}, "configGeneration": 7}
    )
    assert time.monotonic() - started < 2.0
    assert outcome is not None
    assert outcome.data["status"] == "Failed"
    reason = outcome.data["context"]["reason"]
    assert reason.startswith("template 'message.body' line 1: 10 ** 100000000 would be an integer of about")
    assert "(maxIntBits)" in reason
    assert outcome.data["context"]["problems"][0]["path"] == "message.body"
    assert outcome.data["requestedGeneration"] == 7
    assert worker.state.config.message.body == GENERATOR["message"]["body"]  # type: ignore[attr-defined,index]
    assert [a.data["code"] for a in harness.alerts("config.rejected")] == ["config.rejected"]

    async def flowing() -> int:
        return harness.queue("build").qsize()

    await eventually(flowing, timeout=5, what="items still generated with the old config")


@pytest.mark.parametrize(
    ("body", "limit", "problem"),
    [
        (NESTED_LOOPS, "wallTime", "rendering ran for more than 100 ms"),
        ("{% macro m(n) %}{{ m(n + 1) }}{% endmacro %}{{ m(0) }}", "maxDepth", "macro m() calls nested more than 64"),
        ("{% for i in range(20) %}{{ 'x' * 1000000 }}{% endfor %}", "maxBuilt", "the strings and lists built"),
    ],
)
async def test_a_bomb_a_probe_render_finds_is_refused_with_the_config(
    harness: WorkerHarness, body: str, limit: str, problem: str
) -> None:
    worker = await harness.worker("feeder", "generator", GENERATOR, work_out="build")
    started = time.monotonic()
    outcome = await harness.signal(worker, "config-update", {"message": {"body": body}})
    assert time.monotonic() - started < 2.0
    assert outcome is not None
    assert outcome.data["status"] == "Failed"
    reason = outcome.data["context"]["reason"]
    assert reason.startswith(f"template 'message.body' line 1: {problem}")
    assert f"({limit})" in reason
    assert worker.state.config.message.body == GENERATOR["message"]["body"]  # type: ignore[attr-defined,index]


async def test_the_probe_moves_no_seeded_stream(harness: WorkerHarness) -> None:
    body = "{{ pickWeightedSeeded('calls', 7, 'a', 1, 'b', 1, 'c', 1) }}"
    config = {**GENERATOR, "message": {"body": body}}
    worker = await harness.worker("feeder", "generator", config, work_out="build")
    first = [worker.engine.render("message.body", body, {}) for _ in range(10)]
    worker.engine.reseed()
    for _ in range(3):
        worker.engine.validate("message.body", body)
    assert [worker.engine.render("message.body", body, {}) for _ in range(10)] == first


async def test_any_exception_while_applying_a_config_is_answered_failed(
    harness: WorkerHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    worker = await harness.worker("feeder", "generator", GENERATOR, work_out="build")

    def broken(self: TemplateEngine, name: str, source: str, context: object = None) -> None:
        raise RecursionError("maximum recursion depth exceeded")

    monkeypatch.setattr(TemplateEngine, "validate", broken)
    outcome = await harness.signal(worker, "config-update", {"message": {"body": "{{ 2 }}"}})
    assert outcome is not None
    assert outcome.data["status"] == "Failed"
    assert outcome.data["context"]["reason"] == (
        "the config could not be applied: RecursionError: maximum recursion depth exceeded"
    )
    assert worker.state.config.message.body == GENERATOR["message"]["body"]  # type: ignore[attr-defined,index]


async def test_an_item_that_breaks_the_budget_is_dropped_with_an_alert_and_a_counter(harness: WorkerHarness) -> None:
    config = {**GENERATOR, "inputs": {"scheduler": {"ratePerSec": 5}}, "message": {"body": PER_ITEM_BOMB}}
    worker = await harness.worker("feeder", "generator", config, work_out="build")
    await harness.enable(worker)

    async def counted() -> dict[str, int] | None:
        statuses = harness.of("metric", "status-delta")
        return statuses[-1].data["context"].get("templateBudgetExceeded") if statuses else None

    exceeded = await eventually(counted, timeout=5, what="a status-delta counting the budget refusals")
    assert exceeded["wallTime"] >= 1
    alert = harness.alerts("template.budget-exceeded")[0]
    assert alert.data["message"].startswith("template 'message.body' line 1: rendering ran for more than 100 ms")
    assert harness.queue("build").qsize() == 0
    assert worker.stats.dropped >= 1
    outcome = await harness.signal(worker, "status-request")  # the control plane still answers
    assert outcome is not None
    assert outcome.data["status"] == "Applied"
    assert isinstance(harness.of("metric", "status-full")[-1], env.Envelope)
