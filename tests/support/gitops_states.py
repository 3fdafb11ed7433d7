"""Swarm and WorkerRole objects in each state GitOps tools must tell apart, built by the operator's own code.

The statuses come from ``hivekeeper.operator.status`` (the pure functions the operator patches with), fed
with the facts of each situation: so the Argo CD fixtures in ``gitops/argocd/hivekeeper.io/*/testdata`` and
the objects ``tests/e2e/test_kstatus.py`` writes to a real API server are what the operator really writes,
and a change of the operator's conditions shows up as fixture drift (``tests/integration/test_argocd_health.py``).

    python tests/support/gitops_states.py        # rewrite the Argo CD testdata from the current status code
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from hivekeeper.api.run_status import RunStatus
from hivekeeper.api.status import Condition
from hivekeeper.api.verdict import ThresholdResult, Verdict
from hivekeeper.operator import latency, run_apply, run_play
from hivekeeper.operator import status as rules
from hivekeeper.operator.manifests import selector_string
from hivekeeper.operator.plan import LABEL_ROLE, LABEL_SWARM

REPO = Path(__file__).resolve().parents[2]
ARGOCD = REPO / "gitops" / "argocd" / "hivekeeper.io"
NOW = "2026-11-28T12:00:00Z"
CLOCK = 1000.0
SWARM = "quickstart"
NAMESPACE = "perf"
SWARM_UID = "6c1f3f0e-4b7a-4d7e-9a52-2f3b7c9d1e08"
CALLER = f"{SWARM}-caller"
PODS = (f"{CALLER}-7d9f8b6c4-2x5kq", f"{CALLER}-7d9f8b6c4-q8w4n")
REFUSAL = "config.threadCount: Input should be less than or equal to 1024 (got 5000)"
MISSING_SECRET = f'pod {PODS[0]} is CreateContainerConfigError: secret "hivekeeper-broker" not found'


@dataclass(frozen=True)
class Facts:
    """What the operator observed about the caller role (2 replicas) in one situation."""

    config_generation: int = 2
    """The config generation the operator wants (it pushed it)."""
    applied: tuple[int, ...] = (2, 2)
    """The config generation each live instance runs (one entry per reporting pod)."""
    paused: bool = False
    rejected: bool = False
    pod_problem: str = ""


STATES: dict[str, Facts] = {
    "healthy": Facts(),
    "progressing-config-pending": Facts(applied=(1, 2)),
    "progressing-workers-missing": Facts(applied=(2,)),
    "degraded-config-refused": Facts(applied=(1, 1), rejected=True),
    "degraded-missing-secret": Facts(applied=(2,), pod_problem=MISSING_SECRET),
    "suspended-paused": Facts(config_generation=3, applied=(3, 3), paused=True),
    "progressing-pausing": Facts(config_generation=3, applied=(2, 3), paused=True),
}
"""Situations computed from facts; the fixtures add three more by editing these objects (see ``fixtures``)."""


def _observed(facts: Facts, generation: int) -> rules.Observed:
    instances = [
        rules.InstanceReport(
            name=PODS[i],
            enabled=not (facts.paused and gen == facts.config_generation),
            config_generation=gen,
            seen_at=CLOCK - 1.0,
            seen_at_text=NOW,
            tps=0.0 if facts.paused else 40.0,
            io_input="ok",
            io_output="ok",
            rejected_generation=facts.config_generation if facts.rejected else None,
            rejected_reason=REFUSAL if facts.rejected else "",
            latency_ms=(1.2, 3.4, 7.9),
        )
        for i, gen in enumerate(facts.applied)
    ]
    return rules.Observed(
        generation=generation,
        desired_replicas=2,
        desired_config_generation=facts.config_generation,
        paused=facts.paused,
        now=CLOCK,
        instances=instances,
        pod_problem=facts.pod_problem,
    )


def _dump(conditions: list[Condition]) -> list[dict[str, Any]]:
    return [c.model_dump(mode="json") for c in conditions]


def workerrole_status(facts: Facts, generation: int) -> dict[str, Any]:
    """The WorkerRole status the operator writes: the reconcile's fields plus the 2 s roll-up's."""
    observed = _observed(facts, generation)
    live = rules.live_instances(observed)
    return {
        "observedGeneration": generation,
        "replicas": 2,
        "readyReplicas": len(live),
        "selector": selector_string(SWARM, "caller"),
        "configGeneration": facts.config_generation,
        "configDigest": "3f1c0e9a2b7d4c58",
        "rolloutDigest": "9b2e41d07c6a5f13",
        "appliedGeneration": rules.applied_generation(observed),
        "tps": round(sum(r.tps for r in live), 2),
        "errors": 0,
        "latencyMs": latency.recent_latency(rules.live_instances(observed)).model_dump(mode="json"),
        "instances": [i.model_dump(mode="json") for i in rules.instance_statuses(observed)],
        "conditions": _dump(rules.conditions(observed, [], NOW)),
    }


def feeder_conditions(generation: int, *, paused: bool) -> list[Condition]:
    """The swarm's other role, a settled generator, so the Swarm's summary names the caller."""
    config_generation = 3 if paused else 2
    observed = rules.Observed(
        generation=generation,
        desired_replicas=1,
        desired_config_generation=config_generation,
        paused=paused,
        now=CLOCK,
        instances=[
            rules.InstanceReport(
                name=f"{SWARM}-feeder-5c4d9f7b8-kq2mz",
                enabled=not paused,
                config_generation=config_generation,
                seen_at=CLOCK - 1.0,
            )
        ],
    )
    return rules.conditions(observed, [], NOW)


def swarm_status(facts: Facts, generation: int) -> dict[str, Any]:
    """The Swarm status the operator's roll-up writes over its two WorkerRoles."""
    caller = workerrole_status(facts, generation)
    children = [
        rules.ChildState(role="feeder", desired=1, ready=1, conditions=feeder_conditions(1, paused=facts.paused)),
        rules.ChildState(
            role="caller",
            desired=2,
            ready=caller["readyReplicas"],
            conditions=[Condition.model_validate(c) for c in caller["conditions"]],
        ),
    ]
    return {
        "observedGeneration": generation,
        "roles": [
            {
                "name": "feeder",
                "replicas": 1,
                "readyReplicas": 1,
                "configGeneration": 3 if facts.paused else 2,
                "appliedGeneration": 3 if facts.paused else 2,
                "tps": 0.0 if facts.paused else 80.0,
                "errors": 0,
                "latencyMs": {"p50": 0.0, "p95": 0.0, "p99": 0.0},
            },
            {
                "name": "caller",
                "replicas": 2,
                "readyReplicas": caller["readyReplicas"],
                "configGeneration": caller["configGeneration"],
                "appliedGeneration": caller["appliedGeneration"],
                "tps": caller["tps"],
                "errors": 0,
                "latencyMs": caller["latencyMs"],
            },
        ],
        "queues": [{"name": f"hivekeeper.{NAMESPACE}_{SWARM}.call", "depth": 0, "consumers": caller["readyReplicas"]}],
        "totals": {"tps": caller["tps"], "errors": 0, "workers": f"{1 + caller['readyReplicas']}/3"},
        "conditions": _dump(
            rules.swarm_conditions(children, paused=facts.paused, generation=generation, previous=[], now_text=NOW)
        ),
    }


def swarm_spec(*, paused: bool = False, rate: int = 40) -> dict[str, Any]:
    return {
        "paused": paused,
        "sut": {"endpoints": {"default": {"baseUrl": "http://cards-api.perf.svc:8080"}}},
        "templates": [{"serviceId": "cards", "callId": "balance", "pathTemplate": "/cards/{{ payload.cardId }}"}],
        "roles": [
            {
                "name": "feeder",
                "role": "generator",
                "work": {"out": "call"},
                "config": {
                    "inputs": {"type": "SCHEDULER", "scheduler": {"ratePerSec": rate}},
                    "message": {"body": '{"cardId": "card-1"}', "headers": {"x-ph-call-id": "balance"}},
                },
            },
            {
                "name": "caller",
                "role": "processor",
                "replicas": 2,
                "work": {"in": "call"},
                "config": {"baseUrl": "{{ sut.endpoints.default.baseUrl }}", "threadCount": 16},
            },
        ],
    }


def workerrole_spec(*, paused: bool = False, threads: int = 16) -> dict[str, Any]:
    return {
        "swarmRef": SWARM,
        "role": "processor",
        "replicas": 2,
        "paused": paused,
        "work": {"in": "call"},
        "config": {"baseUrl": "http://cards-api.perf.svc:8080", "threadCount": threads},
    }


STATUS: dict[str, Callable[[Facts, int], dict[str, Any]]] = {"Swarm": swarm_status, "WorkerRole": workerrole_status}
SPEC: dict[str, Callable[..., dict[str, Any]]] = {"Swarm": swarm_spec, "WorkerRole": workerrole_spec}
NAME = {"Swarm": SWARM, "WorkerRole": CALLER}


def resource(kind: str, state: str, generation: int = 1) -> dict[str, Any]:
    """A whole object (as ``kubectl get -o yaml`` shows it) of ``kind`` in ``state`` (a key of STATES)."""
    facts = STATES[state]
    metadata: dict[str, Any] = {
        "name": NAME[kind],
        "namespace": NAMESPACE,
        "generation": generation,
        "uid": SWARM_UID if kind == "Swarm" else "0d5e8b2a-93c1-4f6e-8a7d-5b2c1e9f4a36",
        "creationTimestamp": "2026-11-28T11:58:00Z",
    }
    if kind == "WorkerRole":  # as the operator creates it (operator/plan.py)
        metadata["labels"] = {
            LABEL_SWARM: SWARM,
            LABEL_ROLE: "caller",
            "app.kubernetes.io/part-of": "hivekeeper",
            "app.kubernetes.io/managed-by": "hivekeeper",
        }
        metadata["ownerReferences"] = [
            {
                "apiVersion": "hivekeeper.io/v1alpha1",
                "kind": "Swarm",
                "name": SWARM,
                "uid": SWARM_UID,
                "controller": True,
                "blockOwnerDeletion": True,
            }
        ]
    return {
        "apiVersion": "hivekeeper.io/v1alpha1",
        "kind": kind,
        "metadata": metadata,
        "spec": SPEC[kind](paused=facts.paused),
        "status": STATUS[kind](facts, generation),
    }


def fixtures(kind: str) -> dict[str, dict[str, Any]]:
    """Every Argo CD testdata object of ``kind`` by file stem: the STATES plus three made by hand from them."""
    out = {state: resource(kind, state, generation=3) for state in STATES}
    fresh = resource(kind, "healthy", generation=1)
    del fresh["status"]
    out["progressing-no-status"] = fresh
    edited = resource(kind, "healthy", generation=3)
    edited["metadata"]["generation"] = 4  # spec edited; the operator has not reconciled it yet
    out["progressing-generation-not-observed"] = edited
    deleting = resource(kind, "healthy", generation=3)
    deleting["metadata"]["deletionTimestamp"] = "2026-11-28T12:05:00Z"
    # The Swarm's finalizer cleans up its queues; a WorkerRole goes by owner reference (foreground here).
    deleting["metadata"]["finalizers"] = ["hivekeeper.io/queue-cleanup" if kind == "Swarm" else "foregroundDeletion"]
    out["progressing-deleting"] = deleting
    if kind == "Swarm":
        out["progressing-run-running"] = with_run(resource(kind, "healthy", generation=3), "Running")
        out["healthy-run-passed"] = with_run(resource(kind, "healthy", generation=3), "Succeeded")
        out["degraded-run-failed"] = with_run(resource(kind, "healthy", generation=3), "Failed")
    return out


RUN = {
    "id": "7",
    "duration": "10m",
    "thresholds": [
        {"role": "caller", "metric": "p95", "max": 300},
        {"role": "caller", "metric": "errorRate", "max": 0.01},
    ],
}


def with_run(swarm: dict[str, Any], phase: str) -> dict[str, Any]:
    """``swarm`` with ``spec.run`` and the run's status in ``phase``, as the operator's run code writes it."""
    swarm["spec"]["run"] = RUN
    state = RunStatus(id="7", phase=phase, startedAt="2026-11-28T11:50:00Z")  # type: ignore[arg-type]
    if phase in ("Succeeded", "Failed"):
        slow = phase == "Failed"
        results = [
            ThresholdResult(
                threshold="caller p95 <= 300",
                observed=912.0 if slow else 41.0,
                passed=not slow,
                message=f"caller p95 <= 300: observed {912 if slow else 41}" + (" (failed)" if slow else ""),
            ),
            ThresholdResult(
                threshold="caller errorRate <= 0.01",
                observed=0.0,
                passed=True,
                message="caller errorRate <= 0.01: observed 0",
            ),
        ]
        reason = (
            "1 of 2 thresholds failed: caller p95 <= 300: observed 912 (failed)" if slow else "all 2 thresholds held"
        )
        state = state.model_copy(
            update={
                "finishedAt": NOW,
                "endedBecause": "the run's 600 s are over",
                "verdict": Verdict(result="Failed" if slow else "Passed", reason=reason, thresholds=results),
            }
        )
    status = swarm["status"]
    status["run"] = run_play.status_dump(state, None)
    completed = run_apply.completed_condition(state, [], status["observedGeneration"], NOW)
    assert completed is not None
    status["conditions"].append(completed.model_dump(mode="json"))
    return swarm


SANDBOX_RUNNER = """
function(source, obj)
  local chunk, problem = loadstring(source, "health.lua")
  if chunk == nil then error(problem) end
  -- Only the base functions, string and table: what Argo CD opens for health scripts (no os, io, require).
  setfenv(chunk, {
    obj = obj, ipairs = ipairs, pairs = pairs, next = next, tostring = tostring, tonumber = tonumber,
    type = type, error = error, pcall = pcall, select = select, string = string, table = table,
  })
  local hs = chunk()
  return hs.status, hs.message
end
"""


def lua_runtime() -> Any:
    """A Lua 5.1 runtime (LuaJIT 2.1 when lupa has it) like the gopher-lua Argo CD runs health checks in."""
    try:
        import lupa.luajit21 as lua
    except ImportError:  # a lupa built without LuaJIT still has the reference Lua 5.1
        import lupa.lua51 as lua
    return lua.LuaRuntime()


def argo_health(kind: str, obj: dict[str, Any]) -> tuple[str, str]:
    """(status, message) of ``gitops/argocd/hivekeeper.io/<kind>/health.lua`` for ``obj``, in the sandbox."""
    runtime = lua_runtime()
    runner = runtime.eval(SANDBOX_RUNNER)
    status, message = runner((ARGOCD / kind / "health.lua").read_text(), runtime.table_from(obj, recursive=True))
    return str(status), str(message)


def render(obj: dict[str, Any]) -> str:
    return yaml.safe_dump(obj, sort_keys=False, width=120)


def write() -> list[Path]:
    written = []
    for kind in ("Swarm", "WorkerRole"):
        for stem, obj in fixtures(kind).items():
            path = ARGOCD / kind / "testdata" / f"{stem}.yaml"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(render(obj))
            written.append(path)
    return written


if __name__ == "__main__":
    for path in write():
        print(path.relative_to(REPO))
    sys.exit(0)
