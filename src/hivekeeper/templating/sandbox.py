"""Jinja2's immutable sandbox with a budget: every compile and render is bounded in time and memory.

Jinja's sandbox stops a template from reaching Python internals, but not from computing
``10**100000000`` or looping 10^10 times. This environment adds the :mod:`budget`:

* no constant folding at compile time (Jinja folds constant expressions while compiling, so
  ``{{ 10**100000000 }}`` hung the compiler); instead a static pass folds constant arithmetic *under the
  budget*, so such a template is refused while the config is applied, naming the line;
* arithmetic (``+ - * % **``) goes through :meth:`call_binop`, which bounds integers in bits and
  repetitions in size before Python computes them;
* every ``{% for %}`` iterates through :meth:`budget_iter` (a clock check every 64 iterations), every call
  through :meth:`call` (a clock check, argument and result checks, macro depth), ``~`` through
  :meth:`budget_concat`, printed values through :meth:`budget_str`, output through :meth:`concat` (the
  compiled templates call these hooks: ``templating.codegen``);
* ``range`` and ``lipsum`` are bounded, and filters are wrapped (``templating.bounded``).

What a render has used is kept in a :class:`~hivekeeper.templating.budget.Meter`: in a slot of the
environment for synchronous renders (they never yield), in a context variable for asynchronous ones
(templates calling ``sequence()``), so renders that interleave at an ``await`` each keep their own.
"""

from __future__ import annotations

import contextvars
import time
import types
from collections.abc import AsyncIterator, Awaitable, Iterator
from typing import Any

import jinja2
from jinja2 import nodes
from jinja2.exceptions import SecurityError
from jinja2.runtime import AsyncLoopContext, LoopContext, Macro, markup_join
from jinja2.sandbox import ImmutableSandboxedEnvironment

from hivekeeper.templating import bounded
from hivekeeper.templating.budget import (
    BIG,
    DEFAULT,
    TICK_EVERY,
    Budget,
    BudgetExceeded,
    Meter,
    power_bits,
    weight,
)
from hivekeeper.templating.codegen import BudgetCodeGenerator

_METER: contextvars.ContextVar[Meter | None] = contextvars.ContextVar("hivekeeper_template_meter", default=None)

_INT_OPS = frozenset(("+", "-", "*", "%", "**"))


class BudgetedSandbox(ImmutableSandboxedEnvironment):
    """The worker's template environment: Jinja's immutable sandbox, bounded by a :class:`Budget`."""

    code_generator_class = BudgetCodeGenerator
    intercepted_binops = _INT_OPS

    def __init__(self, budget: Budget = DEFAULT, **options: Any) -> None:
        super().__init__(**options)
        self.budget = budget
        self.current: Meter | None = None
        """The meter of the synchronous render in progress. Such a render never yields, so one slot per
        environment is enough (and cheaper than the context variable that asynchronous renders use). It is
        made at the first check that needs it: most templates never call one."""
        self.started = 0.0
        """When the synchronous render in progress started (0: none is)."""
        self.trusted: frozenset[Any] = frozenset()
        """Our own helper functions (see :meth:`trust_globals`)."""
        self.optimized = False  # no constant folding: see the module docstring
        self.globals["range"] = self.budget_range
        self.globals["lipsum"] = bounded.bounded_lipsum(self.meter)

    def add_filters(self, filters: dict[str, Any]) -> None:
        """Install ``filters`` (and re-wrap Jinja's own) with their budget checks."""
        merged = {**self.filters, **filters}
        self.filters = {
            name: func
            if name in bounded.HARMLESS or getattr(func, "budgeted", False)
            else _mark(bounded.wrap_filter(self.meter, name, func))
            for name, func in merged.items()
        }

    def trust_globals(self) -> None:
        """Mark the plain functions among the globals (our helpers, ``range``, ``lipsum``) as trusted.

        Jinja's sandbox asks of every call whether the callable is marked unsafe and whether it wants the
        context (two failed attribute look-ups and a dispatch: ~1.4 µs of a ~1.8 µs helper call). Our
        helpers are none of that, so :meth:`call` calls them directly and spends the time saved on the
        budget's checks instead. Call this after the globals are final.
        """
        plain = (types.FunctionType, types.BuiltinFunctionType, types.MethodType)
        self.trusted = frozenset(
            value
            for value in self.globals.values()
            if isinstance(value, plain) and not hasattr(value, "jinja_pass_arg") and self.is_safe_callable(value)
        )

    # -- the meter ----------------------------------------------------------------------------------
    def meter(self) -> Meter:
        """The meter of the render in progress (a fresh one outside a render: a check is never skipped)."""
        if self.is_async:
            meter = _METER.get()
            return meter if meter is not None else Meter(self.budget)
        if self.current is None:
            if not self.started:
                return Meter(self.budget)
            self.current = Meter(self.budget, self.started)
        return self.current

    # -- compiling ----------------------------------------------------------------------------------
    def _parse(self, source: str, name: str | None, filename: str | None) -> nodes.Template:
        self._check_size(source)
        tree = super()._parse(source, name, filename)
        from hivekeeper.templating.static import check_constants  # the static pass needs this class

        check_constants(self, tree)
        return tree

    def _check_size(self, source: str) -> None:
        """Refuse a source too long to compile quickly: compiling is the one step no clock can stop."""
        budget = self.budget
        if len(source) > budget.max_source:
            raise BudgetExceeded(
                "maxSource",
                f"the template has {len(source):,} characters",
                f"{budget.max_source:,} characters",
                "split it into several templates",
            )
        for count, _ in enumerate(self.lex(source), start=1):  # stops at the first token past the limit
            if count > budget.max_tokens:
                raise BudgetExceeded(
                    "maxTokens",
                    f"the template has more than {budget.max_tokens:,} tokens",
                    f"{budget.max_tokens:,} tokens (a few thousand {{{{ ... }}}} tags)",
                    "split it into several templates, or move repeated parts into a loop",
                )

    # -- hooks called by compiled templates ---------------------------------------------------------------
    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if (
            type(left) is int
            and type(right) is int
            and operator != "**"
            and -_SMALL < left < _SMALL
            and -_SMALL < right < _SMALL
        ):
            return self.binop_table[operator](left, right)  # at most 128 bits: nothing to check
        meter = self.meter()
        _check_binop(meter, operator, left, right)
        result = self.binop_table[operator](left, right)
        kind = type(result)
        if kind is int:
            if result.bit_length() > 64:
                meter.int_bits(result.bit_length(), f"{_short(left)} {operator} {_short(right)}")
        elif kind is str or kind is list or kind is tuple:
            meter.build(len(result), f"{_short(left)} {operator} {_short(right)}")
        return result

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        meter = __self.current or __self.meter()
        if _monotonic() > meter.deadline:
            meter.check_time()
        try:
            trusted = __obj in __self.trusted
        except TypeError:  # an unhashable callable: not one of ours
            trusted = False
        if trusted:
            kwargs.pop("_loop_vars", None)  # what Jinja adds to calls inside loops and blocks, for
            kwargs.pop("_block_vars", None)  # callables that take the context (ours do not)
            return _counted(meter, __obj, __obj(*args, **kwargs))
        kind = type(__obj)
        if kind is types.BuiltinMethodType:
            bounded.check_method(meter, __obj, args, kwargs)
        elif kind is Macro:
            return __self._call_macro(meter, __context, __obj, args, kwargs)
        elif (kind is LoopContext or kind is AsyncLoopContext) and __obj.depth >= __self.budget.max_depth:
            meter.depth = __self.budget.max_depth
            meter.enter("recursive loop")
        if not __self.is_safe_callable(__obj):
            raise SecurityError(f"{__obj!r} is not safely callable")
        return _counted(meter, __obj, __context.call(__obj, *args, **kwargs))

    def _call_macro(self, meter: Meter, context: Any, macro: Macro, args: Any, kwargs: dict[str, Any]) -> Any:
        meter.enter(f"macro {macro.name}()")
        try:
            result = context.call(macro, *args, **kwargs)
        except BaseException:
            meter.leave()
            raise
        if isinstance(result, Awaitable):
            return _leave_after(meter, result)  # an async macro runs when awaited
        meter.leave()
        return bounded.count_result(meter, result, f"macro {macro.name}()")

    def getattr(self, obj: Any, attribute: str) -> Any:
        """``obj.attribute``; of a plain dict (payloads, headers, vars) the key at once, unless ``dict`` has that
        attribute (``payload.items`` is the method, as in Jinja). Jinja's sandbox would first raise and catch an
        AttributeError (~1 µs of a ~3 µs look-up), then find the key, or else the same undefined value."""
        if type(obj) is dict and attribute not in _DICT_ATTRIBUTES:
            try:
                return obj[attribute]
            except KeyError:
                return self.undefined(obj=obj, name=attribute)
        return super().getattr(obj, attribute)

    def wrap_str_format(self, value: Any) -> Any:
        wrapper = super().wrap_str_format(value)
        if wrapper is None:
            return None
        return bounded.format_checker(self.meter, value.__self__, wrapper)

    def budget_iter(self, iterable: Any) -> Any:
        """A ``{% for %}`` iterable that looks at the clock every 64 iterations.

        A short list, tuple, dict or string is charged its length at once and iterated as it is, with no
        wrapper between the loop and its items; anything longer or of unknown length is wrapped.
        """
        meter = self.meter()
        if type(iterable) in _SIZED:
            size = len(iterable)
            if size < TICK_EVERY:
                meter.ticks -= size
                if meter.ticks <= 0:
                    meter.tick()
                return iterable
        if hasattr(iterable, "__aiter__"):
            return _metered_async(meter, iterable)
        return _metered(meter, iterable)

    def budget_range(self, *args: int) -> range:
        span = range(*args)
        try:
            items = len(span)
        except OverflowError:  # more than sys.maxsize items
            items = (args[1] if len(args) > 1 else args[0]) if args else 0
        self.meter().range_items(items)
        return span

    def budget_concat(self, values: tuple[Any, ...], autoescape: bool = False) -> str:
        """``a ~ b ~ c``: the parts' lengths are added up before they are joined."""
        meter = self.meter()
        parts = [value if type(value) is str else _text(meter, value) for value in values]
        meter.build(sum(map(len, parts)), "'~' concatenation")
        return markup_join(values) if autoescape else "".join(parts)

    def budget_str(self, value: Any) -> str:
        """``{{ value }}``: its text, refused when a list or mapping would print past the budget."""
        if type(value) in _PLAIN:
            return str(value)
        if isinstance(value, _CONTAINERS):
            meter = self.meter()
            meter.build(weight(value, meter.budget.max_size), "printing a list or mapping")
        return str(value)

    def concat(self, chunks: Any) -> str:
        """Join rendered chunks (output, ``{% set %}`` blocks, macro bodies); refuse past ``maxOutput``.

        The chunks are listed first: a list of references is cheap, and every chunk that is a newly built
        string was already counted (``maxBuilt``) when it was built, so only the join could be large.
        """
        if type(chunks) is not list:
            chunks = list(chunks)
        size = sum(map(len, chunks))
        if size > self.budget.max_output:
            self.meter().output(size)
        if size >= BIG:  # a {% set %} block in a loop builds a new string each time: count it like any other
            self.meter().build(size, "rendered text")
        return "".join(chunks)


def _mark(func: Any) -> Any:
    func.budgeted = True
    return func


def render(template: jinja2.Template, context: dict[str, Any], names: dict[str, Any] | None = None) -> str:
    """``template.render({**names, **context})`` with a fresh meter (one copy of the context, globals included)."""
    environment = template.environment
    assert isinstance(environment, BudgetedSandbox)
    previous = environment.current, environment.started
    environment.current, environment.started = None, _monotonic()
    try:
        ctx = template.new_context({**template.globals, **(names or {}), **context}, shared=True)
        try:
            return environment.concat(template.root_render_func(ctx))
        except Exception:
            environment.handle_exception()  # rewrites the traceback to template lines, then raises
    finally:
        environment.current, environment.started = previous


async def render_async(template: jinja2.Template, context: dict[str, Any], names: dict[str, Any] | None = None) -> str:
    """``await template.render_async({**names, **context})`` with a fresh meter, checking the output as it grows."""
    environment = template.environment
    assert isinstance(environment, BudgetedSandbox)
    token = _METER.set(Meter(environment.budget))
    try:
        ctx = template.new_context({**template.globals, **(names or {}), **context}, shared=True)
        try:
            return environment.concat([chunk async for chunk in template.root_render_func(ctx)])  # type: ignore[attr-defined]
        except Exception:
            environment.handle_exception()  # rewrites the traceback to template lines, then raises
    finally:
        _METER.reset(token)


_monotonic = time.monotonic
_CONTAINERS = (list, tuple, dict, set, frozenset)
_PLAIN = frozenset((str, int, float, bool))
_SCALARS = frozenset((int, float, bool, type(None)))
_SIZED = frozenset((list, tuple, dict, str, range))
_DICT_ATTRIBUTES = frozenset(dir(dict))  # all ``getattr`` finds on a plain dict (an instance has no others)
_SMALL = 1 << 64


def _check_binop(meter: Meter, operator: str, left: Any, right: Any) -> None:
    """Refuse an operation whose result would break the budget before Python computes it."""
    left_int = isinstance(left, int)
    right_int = isinstance(right, int)
    if operator == "**":
        if left_int and right_int and right > 0:
            meter.int_bits(power_bits(left, right), f"{_short(left)} ** {_short(right)}")
    elif operator == "*":
        if left_int and right_int:
            meter.int_bits(left.bit_length() + right.bit_length(), f"{_short(left)} * {_short(right)}")
        elif right_int and isinstance(left, str | bytes | list | tuple):
            meter.build(_repeat(meter, left, right), f"repeating {_short(left)} {right:,} times")
        elif left_int and isinstance(right, str | bytes | list | tuple):
            meter.build(_repeat(meter, right, left), f"repeating {_short(right)} {left:,} times")
    elif operator == "%":
        if isinstance(left, str):
            bounded.percent(meter, left, right)
    elif operator == "+" and isinstance(left, str | list | tuple) and isinstance(right, str | list | tuple):
        meter.build(len(left) + len(right), f"{_short(left)} + {_short(right)}")


def _repeat(meter: Meter, value: Any, times: int) -> int:
    if times <= 0:
        return 0
    unit = len(value) if isinstance(value, str | bytes) else weight(value, meter.budget.max_size)
    return max(unit, 1) * times if unit else 0


def _text(meter: Meter, value: Any) -> str:
    if isinstance(value, _CONTAINERS):
        meter.build(weight(value, meter.budget.max_size), "'~' on a list or mapping")
    return str(value)


def _short(value: Any) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value) if value.bit_length() < 64 else f"<an integer of {value.bit_length():,} bits>"
    if isinstance(value, str | bytes | list | tuple):
        text = repr(value[:20])
        return text if len(value) <= 20 else f"<{type(value).__name__} of {len(value):,}: {text}...>"
    return f"<{type(value).__name__}>"


def _metered(meter: Meter, iterable: Any) -> Iterator[Any]:
    for item in iterable:
        meter.ticks -= 1
        if meter.ticks <= 0:
            meter.tick()
        yield item


async def _metered_async(meter: Meter, iterable: Any) -> AsyncIterator[Any]:
    async for item in iterable:
        meter.ticks -= 1
        if meter.ticks <= 0:
            meter.tick()
        yield item


def _counted(meter: Meter, called: Any, result: Any) -> Any:
    if type(result) in _SCALARS or (type(result) is str and len(result) <= 64):
        return result  # the common case: a helper's id, number or hash (nothing to count)
    if isinstance(result, Awaitable):
        return _awaited(meter, result)  # sequence(): waiting for Redis does not hold the event loop
    return bounded.count_result(meter, result, f"{getattr(called, '__name__', 'the call')}()")


async def _awaited(meter: Meter, result: Awaitable[Any]) -> Any:
    started = _monotonic()
    try:
        return await result
    finally:
        meter.deadline += _monotonic() - started


async def _leave_after(meter: Meter, result: Awaitable[Any]) -> Any:
    try:
        return bounded.count_result(meter, await result, "a macro")
    finally:
        meter.leave()


__all__ = ["BudgetExceeded", "BudgetedSandbox", "render", "render_async"]
