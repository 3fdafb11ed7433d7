"""The template budget: every bomb is refused fast, with an error naming the template and the limit.

Each case used to hang or exhaust a worker: ``{{ 10**100000000 }}`` hung the compiler (Jinja folded the
constant), nested ``range(100000)`` loops hung the render, ``'a' * 10**9`` took 1 GB, a recursive macro
raised a RecursionError that escaped the error handling.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest

from hivekeeper.templating import sandbox
from hivekeeper.templating.budget import Budget, BudgetExceeded, Meter
from hivekeeper.templating.engine import TemplateBudgetError, TemplateEngine, TemplateError

FAST = 1.0
"""Seconds any refusal may take (the wall-time budget is 0.1 s; the rest is refused before it runs)."""

CONTEXT = {"payload": {"n": 10, "big": 10**9, "small": 3, "items": [1, 2, 3]}}


@pytest.fixture
def engine() -> TemplateEngine:
    return TemplateEngine()


@pytest.fixture
def timed() -> Callable[[], float]:
    started = time.monotonic()
    return lambda: time.monotonic() - started


def refused(engine: TemplateEngine, source: str, *, name: str = "message.body") -> TemplateBudgetError:
    started = time.monotonic()
    with pytest.raises(TemplateBudgetError) as caught:
        engine.render(name, source, CONTEXT)
    elapsed = time.monotonic() - started
    assert elapsed < FAST, f"refusing {source[:60]!r} took {elapsed:.2f} s"
    error = caught.value
    assert error.template == name
    assert f"template {name!r}" in str(error)
    assert f"({error.limit})" in str(error), "the message names the limit"
    assert "the template budget allows" in str(error)
    return error


BOMBS = [
    pytest.param("{{ 10**100000000 }}", "maxIntBits", id="a-huge-constant-power"),
    pytest.param("{{ payload.n ** 100000000 }}", "maxIntBits", id="a-huge-power"),
    pytest.param("{{ payload.big * payload.big * payload.big ** 200 }}", "maxIntBits", id="a-huge-product"),
    pytest.param("{{ 'a' * 10**9 }}", "maxSize", id="a-repeated-string"),
    pytest.param("{{ 'a' * payload.big }}", "maxSize", id="a-string-repeated-per-item"),
    pytest.param("{{ [0] * payload.big }}", "maxSize", id="a-repeated-list"),
    pytest.param(
        "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
        "wallTime",
        id="nested-loops",
    ),
    pytest.param(
        "{% for a in payload['items'] * 21 %}{% for b in range(63) %}{% for c in range(63) %}{% for d in range(63) %}"
        "{% for e in 'x' * 63 %}{% endfor %}{% endfor %}{% endfor %}{% endfor %}{% endfor %}",
        "wallTime",
        id="many-nested-short-loops",
    ),
    pytest.param("{% for i in range(payload.big) %}{% endfor %}", "maxRange", id="a-long-range"),
    pytest.param("{% macro m(n) %}{{ m(n + 1) }}{% endmacro %}{{ m(0) }}", "maxDepth", id="a-recursive-macro"),
    pytest.param("{% for x in [1] recursive %}{{ loop([1]) }}{% endfor %}", "maxDepth", id="a-recursive-loop"),
    pytest.param("{{ 'a'|center(payload.big) }}", "maxSize", id="a-padding-filter"),
    pytest.param("{{ 'a'.ljust(payload.big) }}", "maxSize", id="a-padding-method"),
    pytest.param("{{ (1).to_bytes(payload.big, 'big') }}", "maxSize", id="an-int-to-bytes"),
    pytest.param("{{ '{:>1000000000}'.format(1) }}", "maxSize", id="a-format-width"),
    pytest.param("{{ '%01000000000d' % 1 }}", "maxSize", id="a-percent-width"),
    pytest.param("{{ '%*d' % (payload.big, 1) }}", "maxSize", id="a-percent-star-width"),
    pytest.param("{{ 'x'|indent(payload.big) }}", "maxSize", id="an-indent"),
    pytest.param("{{ lipsum(100000, max=100000) }}", "maxSize", id="lipsum"),
    pytest.param(
        "{% set ns = namespace(s='a') %}{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}",
        "maxSize",
        id="doubling-with-tilde",
    ),
    pytest.param(
        "{% set ns = namespace(s='a') %}{% for i in range(40) %}{% set ns.s = ns.s + ns.s %}{% endfor %}",
        "maxSize",
        id="doubling-with-plus",
    ),
    pytest.param("{% set s = 'x' * 1000000 %}{{ [s, s, s]|join }}", "maxSize", id="joining-references"),
    pytest.param("{% set s = 'x' * 1000000 %}{{ [s, s, s] }}", "maxSize", id="printing-references"),
    pytest.param("{% set s = 'x' * 1000000 %}{{ dict.fromkeys(range(100), s) }}", "maxSize", id="a-built-mapping"),
    pytest.param("{{ 'ab'.replace('', 'x' * 1000000) }}", "maxSize", id="a-replacement"),
    pytest.param("{% for i in range(20) %}{{ 'x' * 1000000 }}{% endfor %}", "maxBuilt", id="building-in-a-loop"),
    pytest.param("{% for i in range(1100) %}{{ 'x' * 1000 }}{% endfor %}", "maxOutput", id="a-long-output"),
    pytest.param("{{ payload['items']|sum(start=[]) }}", "maxSize", id="a-sum-of-lists"),
    pytest.param(
        "{% set ns = namespace(s='a') %}{% autoescape true %}{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}"
        "{% endfor %}{% endautoescape %}",
        "maxSize",
        id="doubling-in-an-autoescape-block",
    ),
    pytest.param(
        "{% set s = 'x' * 1000000 %}{% for i in range(100000) %}{% set x %}{{ s }}{% endset %}{% endfor %}",
        "maxBuilt",
        id="set-blocks-in-a-loop",
    ),
]


@pytest.mark.parametrize(("source", "limit"), BOMBS)
def test_each_bomb_is_refused_fast_naming_the_template_and_the_limit(
    engine: TemplateEngine, source: str, limit: str
) -> None:
    assert refused(engine, source).limit == limit


@pytest.mark.parametrize(
    ("source", "limit", "line"),
    [
        ("{{ 10**100000000 }}", "maxIntBits", 1),
        ("{{ 10**5000 }}", "maxIntBits", 1),  # Jinja's folding raised a bare ValueError here
        ("a\n{{ 'a' * 10**9 }}", "maxSize", 2),
        ("{% for i in range(10**7) %}{% endfor %}", "maxRange", 1),
        ("{{ 'a'|center(1000000000) }}", "maxSize", 1),
        ("{{ lipsum(100000) }}", "maxSize", 1),
    ],
)
def test_constants_that_break_the_budget_are_refused_when_compiled(
    engine: TemplateEngine, source: str, limit: str, line: int, timed: Callable[[], float]
) -> None:
    with pytest.raises(TemplateBudgetError) as caught:
        engine.validate("bodyTemplate", source)
    assert timed() < FAST
    assert (caught.value.limit, caught.value.line) == (limit, line)
    assert f"template 'bodyTemplate' line {line}" in str(caught.value)


@pytest.mark.parametrize(
    ("source", "limit"),
    [
        ("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}", "wallTime"),
        ("{% macro m(n) %}{{ m(n + 1) }}{% endmacro %}{{ m(0) }}", "maxDepth"),
        ("{% set s = 'x' * 1000000 %}{{ [s, s] }}", "maxSize"),
    ],
)
def test_a_probe_render_refuses_what_breaks_the_budget_without_any_item(
    engine: TemplateEngine, source: str, limit: str, timed: Callable[[], float]
) -> None:
    with pytest.raises(TemplateBudgetError) as caught:
        engine.validate("bodyTemplate", source)
    assert timed() < FAST
    assert caught.value.limit == limit
    assert engine.budget_exceeded == {}, "a refused config is not a dropped item"


def test_the_probe_ignores_what_depends_on_the_item(engine: TemplateEngine) -> None:
    engine.validate("t", "{{ payload.card.id }}{% for i in range(payload.n * 100000) %}{% endfor %}")
    engine.validate(
        "t", "{{ sequence('k') }}{% for i in range(100000) %}{% for j in range(99) %}{% endfor %}{% endfor %}"
    )


def test_a_template_past_the_source_limit_is_refused_before_compiling(engine: TemplateEngine) -> None:
    source = "{{ payload.n }}" + "x" * (1 << 20)
    with pytest.raises(TemplateBudgetError, match=r"has 1,048,591 characters.*\(maxSource\)"):
        engine.validate("bodyTemplate", source)


def test_a_template_with_too_many_tokens_is_refused_before_compiling(
    engine: TemplateEngine, timed: Callable[[], float]
) -> None:
    # 16,000 tags of 5 tokens: Jinja took 1.1 s to compile them, holding the event loop.
    with pytest.raises(TemplateBudgetError, match=r"more than 20,000 tokens.*\(maxTokens\)"):
        engine.validate("bodyTemplate", "{{ a }}" * 16000)
    assert timed() < 0.5
    engine.validate("bodyTemplate", "x" * 500_000 + "{{ a }}" * 3000)  # long text is one token


def test_deeply_nested_expressions_give_a_template_error_not_a_recursion_error(engine: TemplateEngine) -> None:
    with pytest.raises(TemplateError, match="nested too deeply"):
        engine.validate("t", "{{ " + "(" * 5000 + "1" + ")" * 5000 + " }}")


def test_any_exception_while_compiling_becomes_a_template_error(
    engine: TemplateEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise ValueError("something Jinja did not expect")

    monkeypatch.setattr(sandbox.BudgetedSandbox, "_parse", broken)
    with pytest.raises(TemplateError, match="does not compile: ValueError: something Jinja did not expect"):
        engine.validate("t", "{{ 1 }}")


def test_templates_within_the_budget_render_as_before(engine: TemplateEngine) -> None:
    source = (
        "{% macro fact(n) %}{{ 1 if n <= 1 else n * fact(n - 1)|int }}{% endmacro %}"
        "{{ fact(20) }}|{{ 2 ** 64 }}|{{ 'ab' * 3 }}|{{ [1, 2] * 2 }}|{{ '%05d' % 42 }}|{{ '{:>4}'.format(7) }}|"
        "{% for i in range(3) %}{{ loop.index }}{% endfor %}|{{ payload['items']|join(',') }}|"
        "{{ 'x'|center(5) }}|{{ 'a' ~ 1 ~ [2] }}|{{ payload.n * 3 + 1 }}"
    )
    assert engine.render("t", source, CONTEXT) == (
        "2432902008176640000|18446744073709551616|ababab|[1, 2, 1, 2]|00042|   7|123|1,2,3|  x  |a1[2]|31"
    )


def test_a_macro_may_recurse_to_the_depth_limit(engine: TemplateEngine) -> None:
    source = "{% macro down(n) %}{% if n > 0 %}{{ down(n - 1) }}{% else %}bottom{% endif %}{% endmacro %}"
    assert engine.render("t", source + "{{ down(63) }}", {}) == "bottom"
    assert refused(engine, source + "{{ down(64) }}").limit == "maxDepth"


def test_limits_at_their_edge_are_allowed(engine: TemplateEngine) -> None:
    assert len(engine.render("t", "{{ 'a' * 1048576 }}", {})) == 1 << 20
    assert engine.render("t", "{{ range(100000)|length }}", {}) == "100000"
    assert engine.render("t", "{{ (2 ** 4095).bit_length() }}", {}) == "4096"
    assert refused(engine, "{{ 2 ** 4097 }}").limit == "maxIntBits"


def test_a_smaller_budget_is_enforced_and_named() -> None:
    engine = TemplateEngine(budget=Budget(max_output=10))
    assert engine.render("t", "{{ 'a' * 10 }}", {}) == "a" * 10
    with pytest.raises(TemplateBudgetError, match=r"reached 11 characters; the template budget allows 10 characters"):
        engine.render("t", "{{ 'a' * 11 }}", {})


def test_refusals_are_counted_by_limit(engine: TemplateEngine) -> None:
    for source in (
        "{{ 'a' * payload.big }}",
        "{{ 'b' * payload.big }}",
        "{% for i in range(payload.big) %}{% endfor %}",
    ):
        with pytest.raises(TemplateBudgetError):
            engine.render("t", source, CONTEXT)
    assert dict(engine.budget_exceeded) == {"maxSize": 2, "maxRange": 1}


def test_a_stall_of_the_process_is_forgiven_once_but_a_runaway_is_not() -> None:
    meter = Meter()
    meter.deadline = time.monotonic() - 1  # as after a 1 s garbage collection in the middle of a render
    meter.check_time()  # forgiven: the grace period starts
    assert meter.graced
    meter.deadline = time.monotonic() - 1
    with pytest.raises(BudgetExceeded, match=r"\(wallTime\)"):
        meter.check_time()


async def test_a_render_that_awaits_sequence_is_timed_without_the_wait(engine: TemplateEngine) -> None:
    class SlowSequences:
        async def next(self, key: str) -> int:
            await asyncio.sleep(0.15)  # a slow Redis: longer than the whole wall-time budget
            return 1

    slow = TemplateEngine(SlowSequences())
    assert await slow.render_async("t", "{{ sequence('a') }}-{{ sequence('b') }}", {}) == "1-1"


async def test_bombs_rendered_per_item_are_refused_in_the_asynchronous_environment_too(engine: TemplateEngine) -> None:
    for source, limit in (
        (
            "{{ sequence('k') }}{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
            "wallTime",
        ),
        ("{{ sequence('k') }}{% macro m(n) %}{{ m(n + 1) }}{% endmacro %}{{ m(0) }}", "maxDepth"),
        ("{{ sequence('k') }}{{ 'a' * payload.big }}", "maxSize"),
        ("{{ sequence('k') }}{% for i in range(1100) %}{{ 'x' * 1000 }}{% endfor %}", "maxOutput"),
    ):
        started = time.monotonic()
        with pytest.raises(TemplateBudgetError) as caught:
            await engine.render_async("message.body", source, CONTEXT)
        assert time.monotonic() - started < FAST
        assert caught.value.limit == limit


async def test_the_event_loop_keeps_answering_while_bombs_render(engine: TemplateEngine) -> None:
    ticked = asyncio.Event()

    async def ticker() -> None:  # stands for the status loop, the control consumer, the metrics endpoint
        while True:
            await asyncio.sleep(0.005)
            ticked.set()

    task = asyncio.create_task(ticker())
    bomb = "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}"
    held: list[float] = []
    try:
        for _ in range(5):
            ticked.clear()
            started = time.monotonic()
            with pytest.raises(TemplateBudgetError):
                await engine.render_async("message.body", bomb, CONTEXT)
            held.append(time.monotonic() - started)  # the render never awaits: the loop is held this long
            await asyncio.wait_for(ticked.wait(), timeout=0.5)  # and answers right after it
    finally:
        task.cancel()
    # Each bomb asks for 10^10 iterations (minutes); it holds the loop for the 0.1 s budget plus the 0.02 s
    # grace. The bound leaves room for a machine busy with other work (the budget is wall time).
    assert max(held) < 0.5, f"a bomb held the event loop for {max(held):.3f} s"
    assert min(held) >= 0.1
