"""What a template can render and which names it reads, from its Jinja2 syntax tree (nothing is rendered).

* :func:`outputs`: the strings a template can produce, when they are literal: text, constants, each value
  of ``pickWeighted('a', 1, 'b', 2)`` / ``pickWeightedSeeded(label, seed, ...)``, and both sides of
  ``{% if %}`` / ``x if c else y``. Anything computed is :data:`DYNAMIC`.
* :func:`references`: the keys read below a top-level name (``vars.currency`` -> ``("currency",)``), except
  where the template guards them (``| default(...)``, ``is defined``, ``vars.get(...)``).
* :func:`free_names`: the top-level names a template reads without defining or guarding them.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import lru_cache
from itertools import product

import jinja2
from jinja2 import meta, nodes

DYNAMIC = None
"""An output that depends on the item or on a helper's result: it cannot be known without rendering."""
MAX_OUTPUTS = 256
"""Past this many alternatives a template counts as dynamic (a combinatorial template is not a list)."""

_ENVIRONMENT = jinja2.Environment(keep_trailing_newline=True, autoescape=False)
"""Parsing only; the same delimiters and whitespace handling as the worker's sandboxed engine."""
_GUARDING_FILTERS = frozenset(("default", "d"))
_GUARDING_TESTS = frozenset(("defined", "undefined", "none"))
_MAP_METHODS = frozenset(("get", "items", "keys", "values"))

Outputs = frozenset[str | None]


@lru_cache(maxsize=1024)
def parse(source: str) -> nodes.Template:
    """The syntax tree of ``source``; raises ``jinja2.TemplateSyntaxError``. Trees are kept by source (an
    admission review sees the same templates again and again): read them, never change them."""
    return _ENVIRONMENT.parse(source)


def outputs(tree: nodes.Template) -> Outputs:
    """Every string ``tree`` can render, :data:`DYNAMIC` standing for the ones that cannot be known."""
    return _sequence(tree.body)


def _sequence(body: list[nodes.Node]) -> Outputs:
    result: Outputs = frozenset(("",))
    for statement in body:
        part = _statement(statement)
        result = frozenset(DYNAMIC if a is DYNAMIC or b is DYNAMIC else a + b for a, b in product(result, part))
        if len(result) > MAX_OUTPUTS:
            return frozenset((DYNAMIC,))
    return result


def _statement(node: nodes.Node) -> Outputs:
    if isinstance(node, nodes.Output):
        return _sequence(list(node.nodes))
    if isinstance(node, nodes.TemplateData):
        return frozenset((node.data,))
    if isinstance(node, nodes.If):
        found = set(_sequence(node.body))
        for branch in node.elif_:
            found |= _sequence(branch.body)
        found |= _sequence(node.else_)
        return frozenset(found)
    if isinstance(node, nodes.Assign | nodes.Macro):
        return frozenset(("",))  # `{% set %}` and macro definitions render nothing
    if isinstance(node, nodes.Expr):
        return _expression(node)
    return frozenset((DYNAMIC,))


def _expression(node: nodes.Expr) -> Outputs:
    if isinstance(node, nodes.Const):
        return frozenset((str(node.value),))
    if isinstance(node, nodes.CondExpr):
        otherwise = _expression(node.expr2) if node.expr2 is not None else frozenset(("",))
        return _expression(node.expr1) | otherwise
    if isinstance(node, nodes.Call) and isinstance(node.node, nodes.Name) and not node.kwargs:
        first_value = {"pickWeighted": 0, "pickWeightedSeeded": 2}.get(node.node.name)
        if first_value is not None and node.dyn_args is None:
            pairs = node.args[first_value:]
            if pairs and len(pairs) % 2 == 0 and all(isinstance(a, nodes.Const) for a in pairs):
                values = [p.value for p in pairs[0::2]]  # type: ignore[attr-defined]
                weights = [p.value for p in pairs[1::2]]  # type: ignore[attr-defined]
                return frozenset(str(v) for v, w in zip(values, weights, strict=True) if w != 0)
    return frozenset((DYNAMIC,))


def references(tree: nodes.Template, name: str) -> list[tuple[str, ...]]:
    """The constant key chains read below ``name`` (``sut.endpoints['a'].baseUrl`` -> endpoints, a, baseUrl)."""
    found: list[tuple[str, ...]] = []
    _visit(tree, name, False, found)
    return found


def _visit(node: nodes.Node, name: str, guarded: bool, found: list[tuple[str, ...]]) -> None:
    if isinstance(node, nodes.Filter) and node.name in _GUARDING_FILTERS:
        if node.node is not None:
            _visit(node.node, name, True, found)
        for argument in (*node.args, *(kw.value for kw in node.kwargs)):
            _visit(argument, name, guarded, found)
        return
    if isinstance(node, nodes.Test) and node.name in _GUARDING_TESTS:
        _visit(node.node, name, True, found)
        return
    if isinstance(node, nodes.Call) and isinstance(node.node, nodes.Getattr) and node.node.attr in _MAP_METHODS:
        _visit(node.node.node, name, True, found)  # vars.get('x'): a lookup that tolerates absence
        for other in _children(node, skip=node.node):
            _visit(other, name, guarded, found)
        return
    if isinstance(node, nodes.Getattr | nodes.Getitem):
        chain, base, dynamic = _chain(node)
        if isinstance(base, nodes.Name) and base.name == name and base.ctx == "load":
            if chain and not guarded:
                found.append(chain)
            for index in dynamic:
                _visit(index, name, guarded, found)
            return
    for child in _children(node):
        _visit(child, name, guarded, found)


def _children(node: nodes.Node, skip: nodes.Node | None = None) -> Iterator[nodes.Node]:
    for child in node.iter_child_nodes():
        if child is not skip:
            yield child


def _chain(node: nodes.Node) -> tuple[tuple[str, ...], nodes.Node, list[nodes.Node]]:
    """(the constant keys from the base outwards, up to the first computed subscript; the base expression;
    the computed subscripts)."""
    parts: list[str | None] = []
    dynamic: list[nodes.Node] = []
    while isinstance(node, nodes.Getattr | nodes.Getitem):
        if isinstance(node, nodes.Getattr):
            parts.append(node.attr)
        elif isinstance(node.arg, nodes.Const) and isinstance(node.arg.value, str | int):
            parts.append(str(node.arg.value))
        else:
            parts.append(None)
            dynamic.append(node.arg)
        node = node.node
    keys: list[str] = []
    for part in reversed(parts):
        if part is None:
            break
        keys.append(part)
    return tuple(keys), node, dynamic


def called_names(tree: nodes.Template) -> set[str]:
    """Names called as plain functions (``uuid()``, ``eval(...)``), minus those the template defines itself."""
    defined = {n.name for n in tree.find_all(nodes.Name) if n.ctx in ("store", "param")}
    defined |= {m.name for m in tree.find_all(nodes.Macro)}
    return {
        call.node.name
        for call in tree.find_all(nodes.Call)
        if isinstance(call.node, nodes.Name) and call.node.name not in defined
    }


JAVA_ONLY_METHODS = frozenset(
    {
        "indexOf", "lastIndexOf", "substring", "charAt", "length", "size", "isEmpty", "isBlank", "toUpperCase",
        "toLowerCase", "equals", "equalsIgnoreCase", "contains", "startsWith", "endsWith", "trim", "strip",
        "toString", "hashCode", "matches", "replaceAll", "replaceFirst", "getBytes", "concat", "compareTo",
        "containsKey", "containsValue", "getOrDefault", "put", "asText", "asInt", "asLong", "asDouble", "asBoolean",
        "getTime", "toEpochMilli", "plusSeconds", "minusSeconds", "format",
    }
    - {name for kind in (str, bytes, dict, list, tuple, int, float, bool) for name in dir(kind)}
)  # fmt: skip
"""Methods of Java's strings, maps and JSON nodes (PocketHive's Pebble templates call them) that no value of a
template's context has: a call renders nothing but an error, on every item."""


def java_method_calls(tree: nodes.Template) -> set[str]:
    """Java-only methods the template calls on a value (``x.indexOf('a')``): see :data:`JAVA_ONLY_METHODS`."""
    return {
        call.node.attr
        for call in tree.find_all(nodes.Call)
        if isinstance(call.node, nodes.Getattr) and call.node.attr in JAVA_ONLY_METHODS
    }


def free_names(tree: nodes.Template) -> set[str]:
    """Top-level names the template reads that it neither defines (``{% set %}``, loops, macros) nor guards
    anywhere (``| default(...)``, ``{% if x is defined %}``) nor calls (``template-unknown-function`` says those):
    each must come from the render's context."""
    read: set[str] = set()
    guarded: set[str] = set()
    _names(tree, False, read, guarded)
    return (meta.find_undeclared_variables(tree) & read) - guarded - called_names(tree)


def _names(node: nodes.Node, under_guard: bool, read: set[str], guarded: set[str]) -> None:
    if isinstance(node, nodes.Filter) and node.name in _GUARDING_FILTERS:
        if node.node is not None:
            _names(node.node, True, read, guarded)
        for argument in (*node.args, *(kw.value for kw in node.kwargs)):
            _names(argument, under_guard, read, guarded)
        return
    if isinstance(node, nodes.Test) and node.name in _GUARDING_TESTS:
        _names(node.node, True, read, guarded)
        return
    if isinstance(node, nodes.Name) and node.ctx == "load":
        (guarded if under_guard else read).add(node.name)
    for child in node.iter_child_nodes():
        _names(child, under_guard, read, guarded)
