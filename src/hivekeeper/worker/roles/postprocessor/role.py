"""postprocessor: aggregates what processors measured: latency percentiles, status codes, errors.

It reads the ``http.result`` (or ``tcp.result``) step each processor appends, plus the hops every role records, and
keeps the totals in its status context (and so in the Swarm status). Items are not forwarded unless
``forwardToOutput`` is set.

Result rules: the step's ``x-ph-business-code``, ``x-ph-business-success`` and ``x-ph-dim-<name>`` headers are
counted by code and dimension value (bounded), and a result the protocol called a success (a 2xx, a TCP reply)
whose rules said failure is an error of kind ``business``, as the processor counted it.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import orjson

from hivekeeper.api.roles.common import CommonConfig
from hivekeeper.api.roles.postprocessor.config import PostprocessorConfig
from hivekeeper.protocol.workitem import WorkItem
from hivekeeper.worker.result_counts import MAX_ERROR_KINDS, bounded_key
from hivekeeper.worker.result_rules import BUSINESS_ERROR, values_from_headers
from hivekeeper.worker.roles.base import DropItem, Role, RoleDeps, RoleKind, Wiring
from hivekeeper.worker.stats import Histogram


class Postprocessor:
    def __init__(self, config: PostprocessorConfig, deps: RoleDeps) -> None:
        self.config = config
        self.deps = deps
        self.total_latency = Histogram()
        self.results = 0

    async def handle(self, item: WorkItem | None, seq: int) -> WorkItem | None:
        if item is None:
            raise DropItem("postprocessor.no-item", "postprocessor needs items from work.in, not a SCHEDULER")
        stats = self.deps.stats
        try:
            result = orjson.loads(item.payload)
            outcome = result["outcome"]
            duration_ms = float(result.get("metrics", {}).get("durationMs", 0.0))
        except (orjson.JSONDecodeError, KeyError, TypeError, AttributeError, ValueError) as exc:
            raise DropItem(
                "postprocessor.bad-result",
                f"item {item.messageId}: the last step is not an http.result ({exc}); put a processor "
                "with an output before the postprocessor",
            ) from exc
        self.results += 1
        status = int(outcome.get("status") or 0)
        if outcome.get("type") == "transport_error" or item.headers.get("x-ph-error"):
            stats.errors += 1
            kind = str(outcome.get("error", {}).get("kind") or item.headers.get("x-ph-error"))
            stats.error_kinds[bounded_key(stats.error_kinds, kind, MAX_ERROR_KINDS)] += 1
        elif outcome.get("type") == "tcp_response":  # a complete TCP reply: no status code, a success
            stats.latency.record(duration_ms / 1000.0)
        else:
            stats.latency.record(duration_ms / 1000.0)
            stats.statuses[status] += 1
            if not 200 <= status < 300:
                stats.errors += 1
        self._count_rules(item.steps[-1].headers, status)
        hops = item.observability.hops
        if hops:
            try:
                first = dt.datetime.fromisoformat(hops[0].receivedAt.replace("Z", "+00:00"))
                self.total_latency.record((dt.datetime.now(dt.UTC) - first).total_seconds())
            except ValueError:
                pass  # a foreign producer's timestamp; the request latency above still counts
        return item if self.config.forwardToOutput else None

    def _count_rules(self, step_headers: dict[str, Any], status: int) -> None:
        """What the processor's result rules read; a result the protocol calls a success (the step's
        ``x-ph-processor-success``, else a 2xx) and the rules a failure is an error of kind ``business``."""
        values = values_from_headers(step_headers)
        if values is None:
            return
        stats = self.deps.stats
        stats.results.record(values)
        succeeded = step_headers.get("x-ph-processor-success")
        if not isinstance(succeeded, bool):
            succeeded = 200 <= status < 300
        if succeeded and values.business_failure:
            stats.errors += 1
            stats.error_kinds[BUSINESS_ERROR] += 1

    def context(self) -> dict[str, Any]:
        stats = self.deps.stats
        return {
            "results": self.results,
            "requestLatencyMs": stats.latency.summary(),
            "pipelineLatencyMs": self.total_latency.summary(),
            "statusCodes": {str(k): v for k, v in sorted(stats.statuses.items())},
            "errors": stats.errors,
        }


def build(config: CommonConfig, wiring: Wiring) -> Role:
    assert isinstance(config, PostprocessorConfig)  # the registry pairs this factory with its config model
    return Postprocessor(config, wiring.deps)


KIND = RoleKind(build)
