"""Size checks for the calls a template makes: filters, ``str`` methods, ``str.format``, ``%``, ``lipsum``.

Each check runs *before* the call, from the arguments alone, wherever the call could allocate without
bound in one C-level step (``'a'|center(10**9)``, ``'%01000000000d' % 1``, ``(1).to_bytes(10**9)``):
once such a step has started nothing can stop it. Results are then counted against the budget by the
sandbox (``templating.sandbox``).
"""

from __future__ import annotations

import functools
import inspect
import string
import types
from collections.abc import Callable, Iterable
from typing import Any, cast

from jinja2.utils import _PassArg, generate_lorem_ipsum

from hivekeeper.templating.budget import BudgetExceeded, Meter, percent_widths, spec_widths, weight

MeterFn = Callable[[], Meter]

HARMLESS = frozenset(
    (
        "abs", "attr", "count", "d", "default", "dictsort", "first", "float", "groupby", "int", "items", "last",
        "length", "list", "map", "max", "min", "random", "reject", "rejectattr", "reverse", "round", "select",
        "selectattr", "sort", "unique",
    )
)  # fmt: skip
"""Filters left unwrapped: they build nothing larger than their value, and turn no value into text."""

_NOT_RENDERED = HARMLESS | {"batch", "slice", "sum"}
"""Filters that do not turn their value into text, so a large list given to them costs no more than it
did to build; every other filter is checked against how long the value's text would be."""


def check_filter(meter: Meter, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, ...]:
    """Refuse a filter call whose result would break the budget; returns the (possibly listed) arguments."""
    cap = meter.budget.max_size
    if not args:
        return args
    value = args[0]
    if type(value) is not str and name not in _NOT_RENDERED:
        meter.build(weight(value, cap), f"the |{name} filter on a value whose text")
    int_arguments(meter, f"|{name}", args[1:], kwargs)
    if name == "indent" and isinstance(value, str):
        width = args[1] if len(args) > 1 else kwargs.get("width", 4)
        per_line = len(width) if isinstance(width, str) else int(width)
        meter.build(len(value) + (value.count("\n") + 1) * per_line, "|indent")
    elif name == "center" and isinstance(value, str):
        meter.build(max(len(value), int(args[1] if len(args) > 1 else kwargs.get("width", 80))), "|center")
    elif name == "format" and isinstance(value, str):
        meter.build(_percent_size(meter, value, (args[1:], kwargs)), "|format")
    elif name == "wordwrap" and isinstance(value, str):
        width = args[1] if len(args) > 1 else kwargs.get("width", 79)
        wrap = kwargs.get("wrapstring") or (args[3] if len(args) > 3 else None) or "\n"
        meter.build(len(value) + (len(value) // max(int(width), 1) + 1) * len(str(wrap)), "|wordwrap")
    elif name == "join":
        if not isinstance(value, list | tuple):
            value = list(value) if isinstance(value, Iterable) and not hasattr(value, "__aiter__") else value
            args = (value, *args[1:])
        if isinstance(value, list | tuple):
            separator = str(args[1] if len(args) > 1 else kwargs.get("d", ""))
            meter.build(weight(value, cap) + len(separator) * len(value), "|join")
    elif name == "replace" and isinstance(value, str) and len(args) > 2:
        meter.build(_replaced_size(value, str(args[1]), str(args[2])), "|replace")
    elif name == "sum" and not isinstance(args[2] if len(args) > 2 else kwargs.get("start", 0), int | float):
        raise BudgetExceeded(
            "maxSize",
            "|sum with a list start copies the whole list at every step (quadratic)",
            f"{meter.budget.max_size:,} characters or items",
            "print the items in a loop, or join strings with |join",
        )
    return args


def check_method(meter: Meter, method: types.BuiltinMethodType, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    """Refuse a ``str``/``bytes``/``int`` method call that would allocate past the budget."""
    owner = method.__self__
    if not isinstance(owner, str | bytes | int):
        return
    name = method.__name__
    int_arguments(meter, f".{name}()", args, kwargs)
    if not isinstance(owner, str | bytes):
        return
    if name == "replace" and len(args) >= 2:
        meter.build(_replaced_size(owner, args[0], args[1]), ".replace()")
    elif name == "join" and args:
        items = args[0]
        if isinstance(items, list | tuple):
            meter.build(weight(items, meter.budget.max_size) + len(owner) * len(items), ".join()")
    elif name == "expandtabs":
        size = args[0] if args else kwargs.get("tabsize", 8)
        tabs = owner.count("\t") if isinstance(owner, str) else owner.count(b"\t")
        meter.build(len(owner) + tabs * int(size), ".expandtabs()")
    elif name == "translate" and args and isinstance(args[0], dict):
        longest = max((len(v) for v in args[0].values() if isinstance(v, str | bytes)), default=1)
        meter.build(len(owner) * max(longest, 1), ".translate()")


def int_arguments(meter: Meter, what: str, args: Iterable[Any], kwargs: dict[str, Any]) -> None:
    # Widths, counts and lengths are plain integers; one past the size limit is an allocation past it.
    for value in (*args, *kwargs.values()):
        if isinstance(value, int) and not isinstance(value, bool) and value > meter.budget.max_size:
            meter.build(value, f"{what} with the argument {value:,}")


def _replaced_size(text: Any, old: Any, new: Any) -> int:
    if not isinstance(old, str | bytes) or not isinstance(new, str | bytes) or type(old) is not type(text):
        return len(text)
    hits = len(text) + 1 if not old else int(cast(Any, text).count(old))
    return len(text) + hits * max(len(new) - len(old), 0)


def _percent_size(meter: Meter, fmt: str, arguments: Any) -> int:
    size = len(fmt) + sum(percent_widths(fmt)) + weight(arguments, meter.budget.max_size)
    if "*" in fmt:  # '%*d' % (width, value): the widths are among the arguments
        int_arguments(meter, "a '%*' format", _flatten(arguments), {})
    return size


def percent(meter: Meter, fmt: str, arguments: Any) -> None:
    """``fmt % arguments``: refuse before Python pads a field a billion characters wide."""
    meter.build(_percent_size(meter, fmt, arguments), "'%' formatting")


def _flatten(arguments: Any) -> list[Any]:
    out: list[Any] = []
    stack = [arguments]
    while stack:
        item = stack.pop()
        if isinstance(item, list | tuple):
            stack.extend(item)
        elif isinstance(item, dict):
            stack.extend(item.values())
        else:
            out.append(item)
    return out


def format_checker(meter_of: MeterFn, fmt: str, call: Callable[..., str]) -> Callable[..., str]:
    """Wrap the sandbox's ``str.format``/``format_map`` of ``fmt`` with a width check."""

    def checked(*args: Any, **kwargs: Any) -> str:
        meter = meter_of()
        size = len(fmt) + weight((args, kwargs), meter.budget.max_size)
        for _, _, spec, _ in string.Formatter().parse(fmt):
            if spec:
                size += sum(spec_widths(spec))
                if "{" in spec:  # '{:{}}'.format(x, width): the width is an argument
                    int_arguments(meter, "a nested format width", _flatten((args, kwargs)), {})
        meter.build(size, "str.format()")
        return call(*args, **kwargs)

    return checked


def bounded_lipsum(meter_of: MeterFn) -> Callable[..., str]:
    """Jinja's ``lipsum(n, html, min, max)``, refused when it would write more than the budget allows."""

    def lipsum(n: int = 5, html: bool = True, min: int = 20, max: int = 100) -> str:
        meter_of().build(int(n) * int(max) * 8, f"lipsum({n}, max={max})")
        return generate_lorem_ipsum(n, html, min, max)

    return lipsum


def wrap_filter(meter_of: MeterFn, name: str, func: Callable[..., Any]) -> Callable[..., Any]:
    """``func`` with :func:`check_filter` before it and its result counted after it."""
    skip = 1 if _PassArg.from_obj(func) is not None else 0  # context/environment first: the value is next

    def checked(*args: Any, **kwargs: Any) -> Any:
        meter = meter_of()
        args = (*args[:skip], *check_filter(meter, name, args[skip:], kwargs))
        result = func(*args, **kwargs)
        if inspect.isawaitable(result):
            return _counted_later(meter, name, result)
        return count_result(meter, result, f"the |{name} filter")

    return functools.update_wrapper(checked, func)


async def _counted_later(meter: Meter, name: str, result: Any) -> Any:
    return count_result(meter, await result, f"the |{name} filter")


def count_result(meter: Meter, result: Any, what: str) -> Any:
    """Count a string or list a call returned against the budget; returns it unchanged."""
    kind = type(result)
    if kind is str or kind is bytes:
        if len(result) > 64:
            meter.build(len(result), what)
    elif kind is list or kind is dict or kind is tuple or kind is set:
        meter.build(weight(result, meter.budget.max_size), what)
    return result
