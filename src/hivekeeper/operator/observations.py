"""What the operator's event consumer remembers about each worker instance (pure).

Workers report ``status-full`` (on start, on request, after a config change), ``status-delta``
(every few seconds) and one outcome per config-update. :class:`Observations` folds those envelopes
into the last known :class:`~hivekeeper.operator.status.InstanceReport` per instance, which the
status functions and the level-based config re-send read. Deltas never erase what a full status
said (they carry no config), and a ``Failed`` outcome is remembered with the generation it refused.

It also remembers when each generation was pushed, so that an instance's first acknowledgement of
it yields the push-to-ack latency the operator exports as a metric.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict

from hivekeeper.operator.status import InstanceReport
from hivekeeper.protocol.envelope import Envelope
from hivekeeper.protocol.naming import ALL


class Observations:
    KEPT_PUSHES = 8
    """Push times remembered per role: enough for edits that overtake each other, bounded for long runs."""

    def __init__(self) -> None:
        self._instances: dict[tuple[str, str], dict[str, InstanceReport]] = defaultdict(dict)
        self._pushed: dict[tuple[str, str, str], dict[int, float]] = defaultdict(dict)

    def pushed(self, swarm_id: str, role: str, instance: str, generation: int, now: float) -> None:
        """Remember that ``generation`` was sent to ``instance`` (or to every instance: ``ALL``) at ``now``."""
        times = self._pushed[(swarm_id, role, instance)]
        times[generation] = now
        for old in sorted(times)[: -self.KEPT_PUSHES]:
            del times[old]

    def _ack_latency(self, swarm_id: str, role: str, instance: str, generation: int, now: float) -> float | None:
        for target in (instance, ALL):
            sent = self._pushed.get((swarm_id, role, target), {}).get(generation)
            if sent is not None:
                return max(0.0, now - sent)
        return None

    def record(self, event: Envelope, now: float) -> float | None:
        """Fold one envelope in; anything that is not a worker's status or outcome is ignored.

        Returns the push-to-ack latency in seconds when the envelope is an instance's first
        acknowledgement of a generation this operator pushed, else None.
        """
        scope = event.scope
        key = (scope.swarmId, scope.role)
        previous = self._instances[key].get(scope.instance)
        data = event.data
        if event.kind == "metric" and event.type in ("status-full", "status-delta"):
            io = (data.get("ioState") or {}).get("work") or {}
            context = data.get("context") or {}
            report = InstanceReport(
                name=scope.instance,
                enabled=bool(data.get("enabled", False)),
                config_generation=int(data.get("configGeneration", previous.config_generation if previous else 0)),
                seen_at=now,
                seen_at_text=event.timestamp,
                tps=float(data.get("tps", 0.0)),
                errors=int(context.get("errors", 0)),
                io_input=str(io.get("input", "unknown")),
                io_output=str(io.get("output", "unknown")),
                rejected_generation=previous.rejected_generation if previous else None,
                rejected_reason=previous.rejected_reason if previous else "",
                latency_ms=_latency(context.get("latencyMs")),
            )
            if report.rejected_generation is not None and report.config_generation >= report.rejected_generation:
                report = dataclasses.replace(report, rejected_generation=None, rejected_reason="")
            self._instances[key][scope.instance] = report
        elif event.kind == "outcome" and event.type == "config-update" and previous is not None:
            if data.get("status") == "Failed":
                requested = data.get("requestedGeneration")
                if isinstance(requested, int):
                    reason = str((data.get("context") or {}).get("reason", "no reason given"))
                    self._instances[key][scope.instance] = dataclasses.replace(
                        previous, rejected_generation=requested, rejected_reason=reason, seen_at=now
                    )
            else:
                generation = int(data.get("configGeneration", previous.config_generation))
                self._instances[key][scope.instance] = dataclasses.replace(
                    previous,
                    config_generation=generation,
                    seen_at=now,
                    enabled=bool(data.get("enabled", previous.enabled)),
                )
                if generation > previous.config_generation:
                    return self._ack_latency(scope.swarmId, scope.role, scope.instance, generation, now)
        return None

    def instances(self, swarm_id: str, role: str) -> list[InstanceReport]:
        return sorted(self._instances[(swarm_id, role)].values(), key=lambda report: report.name)

    def forget(self, swarm_id: str, role: str, keep: set[str]) -> None:
        """Drop instances whose pods are gone (``keep`` holds the pod names that still exist)."""
        known = self._instances[(swarm_id, role)]
        for name in [n for n in known if n not in keep]:
            del known[name]
            self._pushed.pop((swarm_id, role, name), None)

    def behind(self, swarm_id: str, role: str, generation: int) -> list[str]:
        """Instances that report an older config generation and have not refused this one."""
        return [
            r.name
            for r in self.instances(swarm_id, role)
            if r.config_generation < generation and r.rejected_generation != generation
        ]


def _latency(summary: object) -> tuple[float, float, float] | None:
    """(p50, p95, p99) from a worker's ``context.latencyMs``, or None when it has none (or a malformed one)."""
    if not isinstance(summary, dict):
        return None
    try:
        return (float(summary["p50"]), float(summary["p95"]), float(summary["p99"]))
    except (KeyError, TypeError, ValueError):
        return None
