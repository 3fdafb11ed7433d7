"""The figures a bounded run is judged on, from the workers' reports to the WorkerRole's status: items handled,
dropped and HTTP answers by status code, summed over the live instances."""

from __future__ import annotations

import pytest

from hivekeeper.operator import plan, role_rollup
from hivekeeper.operator.observations import MalformedEvent, Observations
from hivekeeper.operator.reports import MAX_CODES
from hivekeeper.protocol import envelope as env
from hivekeeper.protocol import naming
from operator_harness import NAMESPACE, Operator, pod, swarm_body

SWARM_ID = naming.swarm_id("quickstart", NAMESPACE)


def _report(instance: str, context: dict[str, object]) -> env.Envelope:
    scope = env.Scope(swarmId=SWARM_ID, role="caller", instance=instance)
    data = {"enabled": True, "tps": 5, "context": {"configGeneration": 1, **context}}
    return env.metric("status-full", scope, data, origin=instance)


def test_a_report_carries_processed_dropped_and_status_codes() -> None:
    seen = Observations()
    seen.manage(SWARM_ID, "caller")
    seen.record(_report("a", {"processed": 10, "errors": 2, "dropped": 1, "statusCodes": {"200": 8, "503": 2}}), 1.0)
    [report] = seen.instances(SWARM_ID, "caller")
    assert (report.processed, report.errors, report.dropped) == (10, 2, 1)
    assert report.status_codes == {"200": 8, "503": 2}


@pytest.mark.parametrize(
    "codes",
    [{str(code): 1 for code in range(MAX_CODES + 1)}, {"200": "many"}, ["200"]],
    ids=["too-many-codes", "a-count-that-is-text", "not-an-object"],
)
def test_status_codes_that_are_not_bounded_counts_make_the_event_malformed(codes: object) -> None:
    seen = Observations()
    seen.manage(SWARM_ID, "caller")
    with pytest.raises(MalformedEvent):
        seen.record(_report("a", {"processed": 1, "statusCodes": codes}), 1.0)


async def test_the_workerrole_status_sums_the_live_instances_figures() -> None:
    op = Operator()
    swarm = swarm_body()
    op.add_swarm(swarm)
    role = op.add_workerrole(op.child(swarm, "caller").manifest)
    digest = plan.config_digest(role.spec.config, True)
    op.cluster.workerrole_bodies[(NAMESPACE, role.metadata.name)]["status"] = {
        "configGeneration": 1,
        "configDigest": digest,
    }
    op.pods("quickstart", "caller", pod("a"), pod("b"))
    op.observations.manage(SWARM_ID, "caller")
    op.observations.record(_report("a", {"processed": 10, "dropped": 1, "statusCodes": {"200": 9}}), op.clock.now)
    op.observations.record(_report("b", {"processed": 5, "statusCodes": {"200": 3, "500": 2}}), op.clock.now)

    await role_rollup.roll_up_role(op.runtime, op.workerrole(role.metadata.name))

    status = op.workerrole(role.metadata.name).status
    assert (status.processed, status.dropped) == (15, 1)
    assert status.statusCodes == {"200": 12, "500": 2}


async def test_the_workerrole_status_sums_error_kinds_and_business_codes_bounded() -> None:
    op = Operator()
    swarm = swarm_body()
    op.add_swarm(swarm)
    role = op.add_workerrole(op.child(swarm, "caller").manifest)
    digest = plan.config_digest(role.spec.config, True)
    op.cluster.workerrole_bodies[(NAMESPACE, role.metadata.name)]["status"] = {
        "configGeneration": 1,
        "configDigest": digest,
    }
    op.pods("quickstart", "caller", pod("a"), pod("b"))
    op.observations.manage(SWARM_ID, "caller")
    many = {f"c{n:02d}": 40 - n for n in range(40)}  # 40 codes: the 32 largest are kept, the rest is "(other)"
    op.observations.record(
        _report("a", {"processed": 9, "errorKinds": {"business": 2, "timeout": 1}, "businessCodes": many}),
        op.clock.now,
    )
    op.observations.record(
        _report("b", {"processed": 5, "errorKinds": {"business": 1}, "businessCodes": {"c00": 10}}), op.clock.now
    )

    await role_rollup.roll_up_role(op.runtime, op.workerrole(role.metadata.name))

    status = op.workerrole(role.metadata.name).status
    assert status.errorKinds == {"business": 3, "timeout": 1}
    assert len(status.businessCodes) == 33
    assert status.businessCodes["c00"] == 50
    assert status.businessCodes["(other)"] == sum(40 - n for n in range(32, 40))


@pytest.mark.parametrize(
    "context",
    [
        {"businessCodes": {str(n): 1 for n in range(65)}},
        {"errorKinds": {"timeout": "many"}},
        {"dimensions": {f"d{n}": {"a": 1} for n in range(9)}},
        {"dimensions": {"channel": ["web"]}},
    ],
    ids=["too-many-codes", "a-count-that-is-text", "too-many-dimensions", "a-dimension-that-is-a-list"],
)
def test_unbounded_or_malformed_result_counts_make_the_event_malformed(context: dict[str, object]) -> None:
    seen = Observations()
    seen.manage(SWARM_ID, "caller")
    with pytest.raises(MalformedEvent):
        seen.record(_report("a", {"processed": 1, **context}), 1.0)
