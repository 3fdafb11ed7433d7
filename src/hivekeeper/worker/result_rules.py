"""The result-rule engine: reads a business code, success and dimensions from one call (``api.result_rules``).

It works on an :class:`Exchange`, what one call sent and got whatever the protocol: an HTTP call gives its
request body and headers and its response body and headers; a TCP call its request body and template headers
(metadata) and its reply as the response body. :meth:`CompiledRules.apply` returns :class:`RuleValues`, whose
:meth:`~RuleValues.headers` are the result step's headers (PocketHive's names) and which
:class:`~hivekeeper.worker.result_counts.ResultTally` counts.

Bounded: every pattern runs on RE2 (time linear in its input, whatever the pattern), each source is read up to
the rules' ``maxScanBytes``, a value is cut at :data:`MAX_VALUE` characters, and once the patterns of one result
have run for the template budget's wall time the rest are skipped (``RuleValues.over_budget``). Pure: no I/O.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from time import perf_counter
from typing import Any

import orjson
from pydantic import ValidationError

from hivekeeper.api.result_rules import HEADER_SOURCES, ResultRules, RuleProblem, RuleSource, rule_problems
from hivekeeper.errors import InvalidInput
from hivekeeper.templating.budget import DEFAULT as TEMPLATE_BUDGET
from hivekeeper.templating.regex import Pattern

CODE_HEADER = "x-ph-business-code"
SUCCESS_HEADER = "x-ph-business-success"
DIMENSION_PREFIX = "x-ph-dim-"
BUSINESS_ERROR = "business"
"""The error kind of a result the protocol calls a success (a 2xx, a TCP reply) and its rules a failure."""
MAX_VALUE = 64
"""Characters of a value kept (header and counts): a code or a channel is short; a runaway group is cut."""
CACHE_SIZE = 64
"""Distinct rule sets from request envelopes kept compiled per processor (one per template that has rules)."""


class ResultRulesError(InvalidInput, ValueError):
    """Result rules that cannot run; ``problems`` holds each (path below the rules, message)."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        self.problems = problems
        super().__init__("; ".join(f"{path}: {message}" if path else message for path, message in problems))


@dataclass(frozen=True, slots=True)
class Exchange:
    """One call as the rules see it. Header names in lower case; bodies as the bytes sent and kept."""

    response_body: bytes = b""
    response_headers: Mapping[str, str] = field(default_factory=dict)
    request_body: bytes = b""
    request_headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RuleValues:
    """What the rules read from one call: the business code (None: not found or not asked), whether the result
    is a business success (None: no successRegex, or not judged in time) and the dimensions found."""

    code: str | None = None
    success: bool | None = None
    dimensions: tuple[tuple[str, str], ...] = ()
    over_budget: bool = False
    """The patterns ran out of the template budget's wall time; the values after that point are missing."""

    @property
    def business_failure(self) -> bool:
        """The rules judged the result a failure (a 2xx with this is an error of kind ``business``)."""
        return self.success is False

    def headers(self) -> dict[str, Any]:
        """The result step's headers: ``x-ph-business-code``, ``x-ph-business-success``, ``x-ph-dim-<name>``."""
        out: dict[str, Any] = {}
        if self.code is not None:
            out[CODE_HEADER] = self.code
        if self.success is not None:
            out[SUCCESS_HEADER] = self.success
        for name, value in self.dimensions:
            out[DIMENSION_PREFIX + name] = value
        return out


def values_from_headers(headers: Mapping[str, Any]) -> RuleValues | None:
    """The values a processor put on a result step's headers (None when it put none): the postprocessor's read."""
    code = headers.get(CODE_HEADER)
    success = headers.get(SUCCESS_HEADER)
    dimensions = tuple(
        (name[len(DIMENSION_PREFIX) :], str(value)[:MAX_VALUE])
        for name, value in headers.items()
        if name.startswith(DIMENSION_PREFIX) and len(name) > len(DIMENSION_PREFIX)
    )
    if code is None and success is None and not dimensions:
        return None
    if isinstance(success, str):  # a foreign producer may write the flag as text
        success = {"true": True, "false": False}.get(success.lower())
    return RuleValues(
        code=str(code)[:MAX_VALUE] if code is not None else None,
        success=success if isinstance(success, bool) else None,
        dimensions=dimensions,
    )


@dataclass(frozen=True, slots=True)
class _Read:
    """One value to read: group 1 of ``pattern`` in ``source`` (``header``: its name, lower case)."""

    source: RuleSource
    header: str | None
    pattern: Pattern


class CompiledRules:
    """A rule set ready to run on many calls; raises :class:`ResultRulesError` for patterns it cannot run."""

    __slots__ = ("_code", "_dimensions", "_scan", "_success", "_wall", "rules")

    def __init__(self, rules: ResultRules, *, wall_seconds: float = TEMPLATE_BUDGET.wall_seconds) -> None:
        problems = rule_problems(rules)
        if problems:
            raise ResultRulesError([(p.path, _sentence(p)) for p in problems])
        self.rules = rules
        self._scan = rules.maxScanBytes
        self._wall = wall_seconds
        code = rules.businessCode
        self._code = _Read(code.source, _lower(code.header), Pattern(code.pattern)) if code is not None else None
        self._success = Pattern(rules.successRegex) if rules.successRegex is not None else None
        self._dimensions = tuple(
            (d.name, _Read(d.source, _lower(d.header), Pattern(d.pattern))) for d in rules.dimensions
        )

    def apply(self, exchange: Exchange) -> RuleValues:
        """The values of one call; stops reading (``over_budget``) once the patterns ran past the wall time."""
        deadline = perf_counter() + self._wall
        code = None
        if self._code is not None:
            code = self._read(self._code, exchange)
            if perf_counter() > deadline:
                return RuleValues(code=code, over_budget=True)
        success = None
        if self._success is not None:
            if self._code is not None:
                success = code is not None and self._success.found_in(code.encode())
            else:
                success = self._success.found_in(exchange.response_body[: self._scan])
            if perf_counter() > deadline:
                return RuleValues(code=code, success=success, over_budget=True)
        dimensions = []
        for name, read in self._dimensions:
            value = self._read(read, exchange)
            if value is not None:
                dimensions.append((name, value))
            if perf_counter() > deadline:
                return RuleValues(code, success, tuple(dimensions), over_budget=True)
        return RuleValues(code, success, tuple(dimensions))

    @property
    def reads_response_headers(self) -> bool:
        reads = [self._code] if self._code is not None else []
        reads += [read for _, read in self._dimensions]
        return any(read.source == "RESPONSE_HEADER" for read in reads)

    def _read(self, read: _Read, exchange: Exchange) -> str | None:
        if read.source in HEADER_SOURCES:
            headers = exchange.response_headers if read.source == "RESPONSE_HEADER" else exchange.request_headers
            text = headers.get(read.header or "")
            if text is None:
                return None
            data = text.encode("utf-8", "replace")
        else:
            data = exchange.response_body if read.source == "RESPONSE_BODY" else exchange.request_body
        found = read.pattern.group1(data[: self._scan])
        if found is None:
            return None
        return found[: MAX_VALUE * 4].decode("utf-8", "replace")[:MAX_VALUE]


def _lower(name: str | None) -> str | None:
    return name.lower() if name is not None else None


def _sentence(problem: RuleProblem) -> str:
    return f"{problem.message}; {problem.fix}"


class RulesCache:
    """Rule sets that arrive in request envelopes (``resultRules`` of an ``http.request``), compiled once each.

    Keyed by their JSON text; bounded (least recently used out). A rule set that does not validate raises
    :class:`ResultRulesError` every time it is seen (cheap: it is refused before any pattern compiles again)."""

    def __init__(self, size: int = CACHE_SIZE) -> None:
        self._size = size
        self._compiled: OrderedDict[bytes, CompiledRules] = OrderedDict()

    def get(self, raw: Any) -> CompiledRules:
        key = orjson.dumps(raw, option=orjson.OPT_SORT_KEYS)
        compiled = self._compiled.get(key)
        if compiled is not None:
            self._compiled.move_to_end(key)
            return compiled
        if not isinstance(raw, dict):
            raise ResultRulesError([("", f"resultRules must be an object, not {type(raw).__name__}")])
        try:
            rules = ResultRules.model_validate(raw)
        except ValidationError as exc:
            problems = [(".".join(str(p) for p in e["loc"]), e["msg"]) for e in exc.errors()]
            raise ResultRulesError(problems) from exc
        compiled = CompiledRules(rules)
        self._compiled[key] = compiled
        if len(self._compiled) > self._size:
            self._compiled.popitem(last=False)
        return compiled
