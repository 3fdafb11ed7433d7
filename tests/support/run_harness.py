"""A staged Swarm's run on the operator core's fakes: examples/staged-run.yaml with its WorkerRoles as the API
server would hold them, and roll-up ticks at given wall times (shared by the run tests of tests/unit/operator)."""

from __future__ import annotations

import copy
from typing import Any

from hivekeeper.api.manifests import load_swarm
from hivekeeper.operator import plan, run_play
from hivekeeper.operator.bodies import SwarmBody
from hivekeeper.operator.swarm_rollup import roll_up_swarm
from operator_harness import NAMESPACE, REPO, SWARM_UID, Operator

START = "2026-01-01T00:00:00Z"


def _at(seconds: int) -> str:
    minutes, secs = divmod(seconds, 60)
    return f"2026-01-01T00:{minutes:02d}:{secs:02d}Z"


def staged(status: dict[str, Any] | None = None, **run_changes: Any) -> SwarmBody:
    """examples/staged-run.yaml (feeder staged 0 → 200 → 600 → 200 over 20 s; thresholds on caller and feeder)."""
    data = load_swarm(REPO / "examples" / "staged-run.yaml").model_dump(mode="json", by_alias=True, exclude_none=True)
    data["metadata"].update(namespace=NAMESPACE, uid=SWARM_UID, generation=1)
    data["spec"]["run"].update(run_changes)
    data["status"] = status or {}
    return SwarmBody.model_validate(data)


def with_children(op: Operator, swarm: SwarmBody, *, ready: bool = True, **figures: dict[str, Any]) -> None:
    """The Swarm's WorkerRoles as the API server holds them, with every worker reporting (``ready``) and each
    role's status figures (``figures[role]``: processed, errors, dropped, statusCodes, latencyMs)."""
    for child in plan.plan_children(swarm, swarm.metadata.uid):
        role = child.manifest["metadata"]["labels"][plan.LABEL_ROLE]
        existing = op.cluster.workerrole_bodies.get((NAMESPACE, child.name))
        body = copy.deepcopy(existing) if existing else copy.deepcopy(child.manifest)
        replicas = body["spec"]["replicas"]
        acknowledged = {  # the workers run the config the WorkerRole holds
            "configGeneration": 1,
            "appliedGeneration": 1,
            "configDigest": plan.config_digest(body["spec"]["config"], not body["spec"]["paused"]),
        }
        body["status"] = {"readyReplicas": replicas if ready else 0, **acknowledged, **figures.get(role, {})}
        op.cluster.workerrole_bodies[(NAMESPACE, child.name)] = body


def stored(op: Operator, swarm: SwarmBody) -> SwarmBody:
    """The Swarm with the status the roll-up patched (as the next tick would read it)."""
    status = {**swarm.status.model_dump(mode="json", exclude_unset=True)}
    for key, value in op.cluster.swarm_statuses.get((NAMESPACE, swarm.metadata.name), {}).items():
        status[key] = value
    if isinstance(status.get("run"), dict):
        status["run"] = {k: v for k, v in status["run"].items() if v is not None}
    data = swarm.model_dump(mode="json", by_alias=True, exclude_none=True)
    data["status"] = status
    return SwarmBody.model_validate(data)


def run_status(op: Operator) -> dict[str, Any]:
    run: dict[str, Any] = op.cluster.swarm_statuses[(NAMESPACE, "staged-run")]["run"]
    return run


def completed(op: Operator) -> dict[str, Any]:
    conditions = op.cluster.swarm_statuses[(NAMESPACE, "staged-run")]["conditions"]
    [found] = [c for c in conditions if c["type"] == "Completed"]
    return dict(found)


def feeder(op: Operator) -> dict[str, Any]:
    spec: dict[str, Any] = op.cluster.workerrole_bodies[(NAMESPACE, "staged-run-feeder")]["spec"]
    return spec


def feeder_rate(op: Operator) -> float:
    return float(feeder(op)["config"]["inputs"]["scheduler"]["ratePerSec"])


def applied(op: Operator) -> list[str]:
    return [call[2] for call in op.cluster.calls if call[0] == "apply"]


async def tick(op: Operator, swarm: SwarmBody, wall: str) -> SwarmBody:
    op.clock.wall = wall
    await roll_up_swarm(op.runtime, swarm)
    return stored(op, swarm)


async def end(op: Operator, swarm: SwarmBody, seconds: int) -> SwarmBody:
    """Ticks at the run's end and once the workers' last figures are in (the verdict's tick)."""
    swarm = await tick(op, swarm, _at(seconds))
    return await tick(op, swarm, _at(seconds + int(run_play.SETTLE_SECONDS)))


async def start(op: Operator, swarm: SwarmBody, wall: str, **figures: dict[str, Any]) -> SwarmBody:
    """Every worker reporting: the producers are released, their workers acknowledge, the run starts."""
    with_children(op, swarm, **figures)
    swarm = await tick(op, swarm, wall)
    with_children(op, swarm, **figures)
    return await tick(op, swarm, wall)


async def running(op: Operator, **figures: dict[str, Any]) -> SwarmBody:
    """A staged Swarm whose run started at START (every worker reporting)."""
    return await start(op, staged(), START, **figures)


CALLER_OK = {
    "processed": 3000,
    "errors": 0,
    "statusCodes": {"200": 3000},
    "latencyMs": {"p50": 5, "p95": 20, "p99": 40},
}
