"""How the processor applies result rules to its calls and counts what they read, whatever the protocol.

A call's rules are its request envelope's ``resultRules`` (its template's, put there by the request-builder),
else the processor's own ``config.resultRules``. After a call that got an answer, the protocol's code builds an
:class:`~hivekeeper.worker.result_rules.Exchange` and calls :meth:`ResultJudge.judge`; the values go on the
result step's headers (``RuleValues.headers()``) and into the role's counts.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hivekeeper.api.result_rules import ResultRules
from hivekeeper.api.roles import ConfigError
from hivekeeper.worker.result_rules import (
    BUSINESS_ERROR,
    CompiledRules,
    Exchange,
    ResultRulesError,
    RulesCache,
    RuleValues,
)
from hivekeeper.worker.roles.base import AlertFn, DropItem
from hivekeeper.worker.stats import RoleStats


class ResultJudge:
    """One processor's rules: its config's (compiled at build: a pattern RE2 refuses refuses the config) and
    those of the request envelopes (compiled once per distinct rule set)."""

    def __init__(self, rules: ResultRules | None, stats: RoleStats, alert: AlertFn) -> None:
        try:
            self.default = CompiledRules(rules) if rules is not None else None
        except ResultRulesError as exc:
            raise ConfigError("processor", [(f"resultRules.{path}", m) for path, m in exc.problems]) from exc
        self._cache = RulesCache()
        self._stats = stats
        self._alert = alert

    def rules_for(self, envelope: Mapping[str, Any], message_id: str) -> CompiledRules | None:
        """The rules of the call ``envelope`` describes; raises :class:`DropItem` for rules that cannot run
        (before anything is sent)."""
        raw = envelope.get("resultRules")
        if raw is None:
            return self.default
        try:
            return self._cache.get(raw)
        except ResultRulesError as exc:
            raise DropItem(
                "processor.bad-result-rules",
                f"item {message_id}: the request's resultRules cannot run ({exc}); fix its template's resultRules",
            ) from exc

    def judge(self, rules: CompiledRules, exchange: Exchange, *, succeeded: bool) -> RuleValues:
        """Read the values of one answered call and count them. ``succeeded``: the protocol calls it a success
        (a 2xx; a TCP reply); when the rules call it a failure it is counted as an error of kind ``business``
        here, and the caller must not count it as a success."""
        values = rules.apply(exchange)
        stats = self._stats
        stats.results.record(values)
        if succeeded and values.business_failure:
            stats.errors += 1
            stats.error_kinds[BUSINESS_ERROR] += 1
        if values.over_budget:
            self._alert(
                "processor.result-rules-over-budget",
                "result rules ran longer than the template budget's wall time on one result; its later values "
                "were skipped: simplify the patterns or lower maxScanBytes",
                {"maxScanBytes": rules.rules.maxScanBytes},
            )
        return values


def lower_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """Header names in lower case, as :class:`Exchange` takes them (the last of repeated names wins)."""
    return {name.lower(): value for name, value in headers.items()}
