"""The kopf adapter unpacks kopf's arguments into the typed bodies, calls the core and maps its errors."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import kopf
import pytest

from hivekeeper.operator import handlers, metrics
from operator_harness import NAMESPACE, Operator, swarm_body


@pytest.fixture
def op() -> Iterator[Operator]:
    operator = Operator()
    handlers.RUNTIME["current"] = operator.runtime
    yield operator
    handlers.RUNTIME.clear()


def _kopf_arguments(body: dict[str, Any]) -> dict[str, Any]:
    """What kopf passes a handler (the parts ours read; kopf's own views are mappings like these)."""
    meta = body["metadata"]
    return {
        "body": body,
        "spec": body["spec"],
        "meta": meta,
        "status": body.get("status", {}),
        "namespace": meta["namespace"],
        "name": meta["name"],
        "retry": 0,
        "logger": None,
    }


def _count(kind: str, result: str) -> float:
    return (
        metrics.REGISTRY.get_sample_value("hivekeeper_operator_reconciles_total", {"kind": kind, "result": result}) or 0
    )


async def test_a_swarm_and_its_roles_reconcile_and_roll_up_through_the_handlers(op: Operator) -> None:
    swarm = swarm_body().model_dump(mode="json", by_alias=True, exclude_none=True)
    op.cluster.swarms[(NAMESPACE, "quickstart")] = swarm["metadata"]["uid"]
    ok = _count("WorkerRole", "ok")

    await handlers.reconcile_swarm(**_kopf_arguments(swarm))
    for (_, name), body in sorted(op.cluster.workerrole_bodies.items()):
        body["metadata"].update(uid=f"uid-{name}", generation=1)
        await handlers.reconcile_role(**_kopf_arguments(body))
        await handlers.roll_up(**_kopf_arguments(op.cluster.workerrole_bodies[(NAMESPACE, name)]))
    await handlers.swarm_roll_up(**_kopf_arguments(swarm))

    assert _count("WorkerRole", "ok") == ok + 4
    assert len(op.cluster.deployments) == 4
    assert [r["configGeneration"] for r in op.cluster.swarm_statuses[(NAMESPACE, "quickstart")]["roles"]] == [1] * 4


async def test_a_deletion_the_broker_blocks_is_a_kopf_temporary_error_with_the_delay(op: Operator) -> None:
    op.broker.failing = ConnectionError("broker down")
    swarm = swarm_body().model_dump(mode="json", by_alias=True, exclude_none=True)
    retries = _count("SwarmDeletion", "retry")
    with pytest.raises(kopf.TemporaryError, match="skip-queue-cleanup") as raised:
        await handlers.delete_swarm(**_kopf_arguments(swarm))
    assert raised.value.delay == op.timing.cleanup_retry_delay
    assert _count("SwarmDeletion", "retry") == retries + 1


async def test_an_unreadable_workerrole_is_a_kopf_permanent_error_naming_the_field(op: Operator) -> None:
    body = {"metadata": {"name": "x", "namespace": NAMESPACE}, "spec": {"role": "processor"}}
    with pytest.raises(kopf.PermanentError, match=r"spec\.swarmRef"):
        await handlers.reconcile_role(**_kopf_arguments(body))
