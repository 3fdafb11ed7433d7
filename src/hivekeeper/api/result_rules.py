"""Result rules: what a processor reads from each call it makes, beyond the status (PocketHive's ``resultRules``).

A system under test often answers 200 and says in the body that the business operation failed (a payment
declined with code ``51``). ``resultRules`` names where that code is (``businessCode``: a source and a regex
whose group 1 is the code), which codes are a success (``successRegex``) and further values to count results by
(``dimensions``: a channel, a tenant, a product). The processor puts the values on the result's step headers
(``x-ph-business-code``, ``x-ph-business-success``, ``x-ph-dim-<name>``), counts a result that the rules call
a failure as an error of kind ``business``, and counts results by code and by dimension value (bounded).

Rules sit on a call template (``templates[].resultRules``: the request-builder carries them in the request it
builds) or on the processor (``config.resultRules``: for every call without rules of its own).

Pure: the models, and :func:`rule_problems`, which says which patterns RE2 refuses or lack a group 1 (the
worker refuses such rules when it builds its role; ``hivekeeper validate`` reports them with their codes).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from hivekeeper.templating import regex

RuleSource = Literal["RESPONSE_BODY", "RESPONSE_HEADER", "REQUEST_BODY", "REQUEST_HEADER"]
"""Where a value is read: the body or one header of the response or of the request (as built, before any
credentials were added)."""
HEADER_SOURCES = ("RESPONSE_HEADER", "REQUEST_HEADER")
MAX_DIMENSIONS = 8
"""Dimensions per rule set: each one is a regex per result and a label of the counts."""
DIMENSION_NAME = r"^[a-z0-9]([a-z0-9_-]{0,30}[a-z0-9])?$"
"""A dimension's name: it becomes a header name (``x-ph-dim-<name>``) and a Prometheus label value."""
DEFAULT_SCAN_BYTES = 64 * 1024
"""Bytes of a body the rules read by default: RE2 runs in time linear in them (about 10 ms for the worst
pattern over 64 KiB on a 2020s core), and a business code is rarely further in."""
MAX_SCAN_BYTES = 1024 * 1024
"""The most a rule set may read of a body (the template budget's ``maxOutput``)."""
SCAN_HELP = (
    "Bytes of a body (and characters of a header) the rules read; a value further in is not found. RE2 runs in "
    "time linear in them, and all the patterns of one result together stop at the template budget's wallTime."
)
HELP = (
    "Result rules: a business code, the codes that are a success and dimensions, each read by a regex (group 1) "
    "from the request or response body or a header (docs/worker.md#result-rules)."
)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)


_HEADER_RULE = (
    "!has(self.source) || !(self.source in ['RESPONSE_HEADER', 'REQUEST_HEADER']) || "
    "(has(self.header) && size(self.header) > 0)"
)
_BODY_RULE = "!has(self.header) || (has(self.source) && self.source in ['RESPONSE_HEADER', 'REQUEST_HEADER'])"


class Extraction(_Model):
    """A value read from a call: regex ``pattern``'s group 1, searched in ``source`` (a header's value when the
    source is a header)."""

    model_config = ConfigDict(
        extra="forbid",
        populate_by_name=True,
        frozen=True,
        json_schema_extra={
            "x-kubernetes-validations": [
                {"rule": _HEADER_RULE, "message": "source RESPONSE_HEADER or REQUEST_HEADER needs header: its name"},
                {"rule": _BODY_RULE, "message": "header is read only with source RESPONSE_HEADER or REQUEST_HEADER"},
            ]
        },
    )

    source: RuleSource = Field(default="RESPONSE_BODY", description="Where the value is read.")
    pattern: str = Field(
        min_length=1,
        max_length=regex.MAX_PATTERN,
        description='RE2 regex searched in the source; its group 1 is the value (e.g. `"code":"([^"]*)"`).',
    )
    header: str | None = Field(
        default=None, min_length=1, max_length=256, description="The header's name (any case), for a header source."
    )

    @model_validator(mode="after")
    def _header_with_header_source(self) -> Extraction:
        if self.source in HEADER_SOURCES and not self.header:
            raise ValueError(f"source {self.source} needs header: the name of the header whose value is searched")
        if self.source not in HEADER_SOURCES and self.header is not None:
            raise ValueError(
                f"header {self.header!r} is read only with source RESPONSE_HEADER or REQUEST_HEADER (source is "
                f"{self.source}); set the source to a header one or remove header"
            )
        return self


class Dimension(Extraction):
    """A value results are counted by (`x-ph-dim-<name>`; at most 32 distinct values per worker, the rest as
    `(other)`)."""

    name: str = Field(
        pattern=DIMENSION_NAME, max_length=32, description="Lowercase letters, digits, `-` and `_` (`channel`)."
    )


class ResultRules(_Model):
    """What the processor reads from each call's request and response (PocketHive's `resultRules`)."""

    businessCode: Extraction | None = Field(
        default=None, description="The business code (`x-ph-business-code`), e.g. from the response body."
    )
    successRegex: str | None = Field(
        default=None,
        min_length=1,
        max_length=regex.MAX_PATTERN,
        description="RE2 regex a successful result matches: the business code when businessCode is set (no code "
        "found is a failure), else the response body. A 2xx result it does not match is an error of kind "
        "`business` (`x-ph-business-success`).",
    )
    dimensions: list[Dimension] = Field(
        default_factory=list,
        max_length=MAX_DIMENSIONS,
        description="Values to count results by (`x-ph-dim-<name>`).",
        json_schema_extra={
            "x-kubernetes-validations": [
                {"rule": "self.all(d, self.exists_one(e, e.name == d.name))", "message": "dimension names are unique"}
            ]
        },
    )
    maxScanBytes: int = Field(default=DEFAULT_SCAN_BYTES, ge=1, le=MAX_SCAN_BYTES, description=SCAN_HELP)

    @field_validator("dimensions")
    @classmethod
    def _unique_names(cls, dimensions: list[Dimension]) -> list[Dimension]:
        names = [d.name for d in dimensions]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"dimension name(s) {', '.join(twice)} given more than once; give each a unique name")
        return dimensions


@dataclass(frozen=True)
class RuleProblem:
    """A pattern the rules cannot run: ``path`` below the rules (``dimensions[0].pattern``), what is wrong
    (``regex``: RE2 refuses it; ``group``: it has no group 1 where the value is group 1), the message (without the
    path) and the fix."""

    path: str
    kind: Literal["regex", "group"]
    message: str
    fix: str


def rule_problems(rules: ResultRules) -> list[RuleProblem]:
    """Every pattern of ``rules`` that RE2 refuses, or that has no group 1 where the value is group 1."""
    problems = []
    for path, pattern, needs_group in _patterns(rules):
        try:
            compiled = regex.compile_pattern("", pattern)
        except regex.RegexError as exc:
            problems.append(
                RuleProblem(path, "regex", str(exc), "write a pattern RE2 accepts (docs/worker.md#result-rules)")
            )
            continue
        if needs_group and compiled.groups < 1:
            problems.append(
                RuleProblem(
                    path,
                    "group",
                    f"pattern {pattern!r} has no group: the value is what group 1 matched",
                    'put the value\'s part in parentheses, e.g. \'"code":"([^"]*)"\'',
                )
            )
    return problems


def _patterns(rules: ResultRules) -> Iterator[tuple[str, str, bool]]:
    if rules.businessCode is not None:
        yield "businessCode.pattern", rules.businessCode.pattern, True
    if rules.successRegex is not None:
        yield "successRegex", rules.successRegex, False
    for index, dimension in enumerate(rules.dimensions):
        yield f"dimensions[{index}].pattern", dimension.pattern, True


def envelope_rules(rules: ResultRules) -> dict[str, Any]:
    """The rules as a request envelope carries them (``resultRules`` of an ``http.request``): unset keys left out."""
    return rules.model_dump(mode="json", exclude_none=True, exclude_defaults=True)
