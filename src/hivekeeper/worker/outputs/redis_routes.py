"""Where a Redis push goes and what it pushes. Pure: no I/O, no clock.

The target of an item is, in this order: the list of the first route whose conditions all hold,
else the rendered ``targetListTemplate`` when it is not blank, else ``defaultList``, else nothing
(the caller alerts ``redis.no-target``). A route's ``match`` is searched in the payload being pushed;
its ``header`` is looked up in the item headers (then in the current step's headers, so a processor's
``x-ph-processor-status`` can be routed on too) and a missing header never matches.

What is pushed is the payload of one step: ``FIRST`` (the original record, e.g. the dataset element
a pipeline started from) or ``LAST`` (the current payload).
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from hivekeeper.api.roles.outputs import RedisRoute
from hivekeeper.protocol.workitem import Step, WorkItem
from hivekeeper.templating import regex

SourceStep = Literal["FIRST", "LAST"]


@dataclass(frozen=True)
class Route:
    """A compiled route: every condition that is set must hold."""

    target: str
    match: regex.Pattern | None = None
    """RE2, like the template helpers: linear in the payload whatever the pattern (docs/decisions/0009)."""
    header: str | None = None
    header_match: regex.Pattern | None = None

    def matches(self, payload: str, item: WorkItem) -> bool:
        if self.match is not None and not self.match.found(payload):
            return False
        if self.header is not None and self.header_match is not None:
            value = header_value(item, self.header)
            if value is None:
                return False
            if not self.header_match.found(value if isinstance(value, str) else str(value)):
                return False
        return True


def compile_routes(routes: Sequence[RedisRoute]) -> tuple[Route, ...]:
    """The routes of a config, compiled once (the config already checked every regex)."""
    return tuple(
        Route(
            target=r.list,
            match=regex.Pattern(r.match) if r.match is not None else None,
            header=r.header,
            header_match=regex.Pattern(r.headerMatch) if r.headerMatch is not None else None,
        )
        for r in routes
    )


def header_value(item: WorkItem, name: str) -> Any:
    """An item header, else a header of the current step; ``None`` when neither has it."""
    value = item.headers.get(name)
    if value is None:
        value = item.steps[-1].headers.get(name)
    return value


def first_match(routes: Sequence[Route], payload: str, item: WorkItem) -> str | None:
    """The list of the first route that matches, or ``None``."""
    for route in routes:
        if route.matches(payload, item):
            return route.target
    return None


def resolve_target(
    routes: Sequence[Route], payload: str, item: WorkItem, rendered: Callable[[], str] | None, default: str
) -> str | None:
    """The list an item goes to, or ``None`` when nothing names one.

    ``rendered`` renders ``targetListTemplate`` (``None`` when there is none); it is called only when no
    route matched, so items that routes place never pay for a template render.
    """
    target = first_match(routes, payload, item)
    if target is not None:
        return target
    return fallback(rendered() if rendered is not None else None, default)


def fallback(rendered: str | None, default: str) -> str | None:
    """After no route matched: the rendered template when it is not blank, else ``default``, else ``None``."""
    if rendered is not None and rendered.strip():
        return rendered.strip()
    return default or None


def source_step(item: WorkItem, which: SourceStep) -> Step:
    """The step whose payload is pushed."""
    return item.steps[0] if which == "FIRST" else item.steps[-1]


def step_text(step: Step) -> str:
    """A step's payload as text (base64 payloads decoded as UTF-8 with replacement)."""
    if step.payloadEncoding == "base64":
        return base64.b64decode(step.payload).decode("utf-8", "replace")
    return step.payload


def step_bytes(step: Step) -> bytes:
    """A step's payload as the bytes that go into Redis (base64 payloads decoded, exactly)."""
    if step.payloadEncoding == "base64":
        return base64.b64decode(step.payload)
    return step.payload.encode()
