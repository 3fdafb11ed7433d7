"""Outcomes of a worker that names no generation (a PocketHive worker): matched by their correlationId to the push
they answer, so an Applied one means that instance runs the pushed generation and a Failed one (the reason in
``context.exception``) means it refused it."""

from __future__ import annotations

from typing import Any

from hivekeeper.operator.observations import Observations, PushedSignals
from hivekeeper.operator.status import InstanceReport
from hivekeeper.protocol import envelope as env
from hivekeeper.protocol import naming
from operator_harness import Operator

SWARM, ROLE, POD = "perf_cards", "caller", "cards-caller-7d9f-abcde"
SCOPE = env.Scope(swarmId=SWARM, role=ROLE, instance=POD)


def _running(generation: int = 0) -> Observations:
    """A managed role whose one instance sent a status-full with no configGeneration (as theirs do)."""
    seen = Observations()
    seen.manage(SWARM, ROLE)
    status = {"enabled": False, "tps": 0, "ioState": {"work": {"input": "ok", "output": "ok"}}, "context": {}}
    seen.record(env.metric("status-full", SCOPE, status, origin=POD), now=1.0)
    if generation:
        _push(seen, generation, "c-before")
        seen.record(_answer("c-before", "Applied"), now=1.5)
    return seen


def _push(seen: Observations, generation: int, correlation_id: str, instance: str = naming.ALL) -> None:
    seen.pushed(SWARM, ROLE, instance, generation, now=2.0, correlation_id=correlation_id)


def _answer(correlation_id: str, status: env.OutcomeStatus, **context: Any) -> env.Envelope:
    """Their outcome: the ids echoed, `enabled` on an applied config-update, no generation anywhere."""
    pushed = env.signal("config-update", SCOPE, {}, origin="hivekeeper-operator", correlation_id=correlation_id)
    extra = {"enabled": True} if status == "Applied" else {}
    return env.outcome(pushed, status, SCOPE, origin=POD, context=context, extra=extra)


def _report(seen: Observations) -> InstanceReport:
    [report] = seen.instances(SWARM, ROLE)
    return report


def test_an_applied_outcome_without_a_generation_means_the_instance_runs_the_generation_pushed() -> None:
    seen = _running()
    _push(seen, 3, "c-3")
    latency = seen.record(_answer("c-3", "Applied", worker="processorWorker", config={"configGeneration": 3}), now=2.25)
    report = _report(seen)
    assert (report.config_generation, report.enabled) == (3, True)
    assert latency == 0.25, "the push-to-ack time is measured as for our workers"


def test_its_next_status_without_a_generation_keeps_the_generation_it_applied() -> None:
    seen = _running(generation=3)
    status = {"enabled": True, "tps": 4, "ioState": {"work": {"input": "ok", "output": "ok"}}}
    seen.record(env.metric("status-delta", SCOPE, status, origin=POD), now=3.0)
    seen.record(env.metric("status-full", SCOPE, status, origin=POD), now=4.0)
    assert _report(seen).config_generation == 3


def test_a_failed_outcome_is_a_refusal_of_the_pushed_generation_with_the_exception_as_reason() -> None:
    seen = _running(generation=3)
    _push(seen, 4, "c-4", instance=POD)
    reason = "IllegalArgumentException: ratePerSec must be >= 0"
    seen.record(_answer("c-4", "Failed", exception=reason, worker="processorWorker"), now=2.5)
    report = _report(seen)
    assert (report.config_generation, report.rejected_generation, report.rejected_reason) == (3, 4, reason)
    assert seen.behind(SWARM, ROLE, 4) == [], "a refused generation is not re-sent to it"


def test_an_exception_given_as_an_object_gives_its_message() -> None:
    seen = _running(generation=1)
    _push(seen, 2, "c-2")
    seen.record(_answer("c-2", "Failed", exception={"type": "BindException", "message": "threadCount: must be > 0"}), 3)
    assert _report(seen).rejected_reason == "threadCount: must be > 0"


def test_a_refusal_is_cleared_when_a_later_push_applies() -> None:
    seen = _running(generation=1)
    _push(seen, 2, "c-2")
    seen.record(_answer("c-2", "Failed", exception="bad"), now=2.5)
    _push(seen, 3, "c-3")
    seen.record(_answer("c-3", "Applied"), now=3.0)
    report = _report(seen)
    assert (report.config_generation, report.rejected_generation, report.rejected_reason) == (3, None, "")


def test_a_late_answer_to_an_older_push_moves_nothing_back() -> None:
    seen = _running(generation=1)
    _push(seen, 2, "c-2")
    _push(seen, 3, "c-3")
    seen.record(_answer("c-3", "Applied"), now=3.0)
    seen.record(_answer("c-2", "Applied"), now=3.5)
    seen.record(_answer("c-2", "Failed", exception="stale"), now=3.6)
    report = _report(seen)
    assert (report.config_generation, report.rejected_generation) == (3, None)


def test_an_answer_to_a_signal_the_operator_did_not_push_changes_no_generation() -> None:
    seen = _running(generation=2)
    seen.record(_answer("someone-else", "Applied"), now=3.0)
    seen.record(_answer("someone-else", "Failed", exception="x"), now=3.1)
    report = _report(seen)
    assert (report.config_generation, report.rejected_generation) == (2, None)


def test_a_push_to_another_role_is_not_taken_for_this_ones() -> None:
    seen = _running(generation=1)
    seen.pushed(SWARM, "builder", naming.ALL, 9, now=2.0, correlation_id="c-builder")
    seen.record(_answer("c-builder", "Applied"), now=3.0)
    assert _report(seen).config_generation == 1


def test_a_generation_the_worker_names_wins_over_the_push_it_answers() -> None:
    seen = _running(generation=1)
    _push(seen, 2, "c-2")
    pushed = env.signal("config-update", SCOPE, {}, origin="hivekeeper-operator", correlation_id="c-2")
    ours = env.outcome(pushed, "Applied", SCOPE, origin=POD, extra={"configGeneration": 5})
    seen.record(ours, now=3.0)
    assert _report(seen).config_generation == 5


def test_the_pushed_ids_are_bounded() -> None:
    seen = _running()
    pushes = PushedSignals.KEPT + 10
    for n in range(pushes):
        seen.pushed(SWARM, ROLE, naming.ALL, n + 1, now=2.0, correlation_id=f"c-{n}")
    seen.record(_answer("c-0", "Applied"), now=3.0)
    assert _report(seen).config_generation == 0, "the oldest ids were forgotten"
    seen.record(_answer(f"c-{pushes - 1}", "Applied"), now=3.0)
    assert _report(seen).config_generation == pushes


async def test_the_operator_remembers_the_correlation_id_it_pushes_each_generation_with() -> None:
    operator = Operator()
    operator.observations.manage(SWARM, ROLE)
    operator.observations.record(env.metric("status-full", SCOPE, {"enabled": False}, origin=POD), now=1.0)
    await operator.runtime.push_config(SWARM, ROLE, naming.ALL, {"configGeneration": 6, "enabled": True}, reason="t")
    [sent] = operator.broker.correlation_ids
    assert sent
    operator.observations.record(_answer(sent, "Applied"), now=2.0)
    assert _report(operator.observations).config_generation == 6
