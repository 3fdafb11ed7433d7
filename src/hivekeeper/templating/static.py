"""The compile-time half of the budget: constant expressions are folded *under the budget*.

Jinja's own constant folding computed ``{{ 10**100000000 }}`` while compiling, with no bound, and hung.
The sandbox turns that folding off; this pass does it again with every operation checked, so a template
whose constants already break the budget (``10**100000000``, ``'a' * 10**9``, ``range(10**7)``,
``|center(10**9)``) or name a regular expression RE2 cannot run is refused when the config is applied,
with the line, instead of failing on every item. Nothing it folds is kept: the render computes again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from jinja2 import nodes

from hivekeeper.templating import bounded, regex
from hivekeeper.templating.budget import BudgetExceeded, Meter

if TYPE_CHECKING:
    from hivekeeper.templating.sandbox import BudgetedSandbox

_REGEX_HELPERS = {"regexMatch": 1, "regexExtract": 1}
"""Helpers whose pattern argument (at this position) is compiled here when it is a literal."""

_PLAIN_OPS = {"/": lambda a, b: a / b, "//": lambda a, b: a // b}


def check_constants(environment: BudgetedSandbox, tree: nodes.Template) -> None:
    """Raise :class:`BudgetExceeded` (or a helper's error) for the first constant that breaks the budget;
    the exception gets a ``template_line`` attribute."""
    folder = _Folder(environment)
    for node in tree.find_all((nodes.BinExpr, nodes.Call, nodes.Filter)):
        try:
            if isinstance(node, nodes.BinExpr):
                folder.fold(node)
            elif isinstance(node, nodes.Call):
                folder.call(node)
            elif isinstance(node, nodes.Filter):
                folder.filter(node)
        except nodes.Impossible:
            continue
        except (BudgetExceeded, regex.RegexError) as exc:
            exc.template_line = node.lineno
            raise


class _Folder:
    def __init__(self, environment: BudgetedSandbox) -> None:
        self.environment = environment
        self.meter = Meter(environment.budget)
        self.known: dict[int, Any] = {}
        """Folded values by node id: a long chain ``1 + 1 + ...`` is folded once, not once per link."""

    def fold(self, node: nodes.Node) -> Any:
        key = id(node)
        if key in self.known:
            value = self.known[key]
            if value is nodes.Impossible:
                raise nodes.Impossible()
            return value
        try:
            value = self._fold(node)
        except nodes.Impossible:
            self.known[key] = nodes.Impossible
            raise
        self.known[key] = value
        return value

    def _fold(self, node: nodes.Node) -> Any:
        if isinstance(node, nodes.Const):
            return node.value
        if isinstance(node, nodes.List | nodes.Tuple):
            return [self.fold(item) for item in node.items]
        if isinstance(node, nodes.Neg | nodes.Pos):
            value = self.fold(node.node)
            if not isinstance(value, int | float):
                raise nodes.Impossible()
            return -value if isinstance(node, nodes.Neg) else value
        if isinstance(node, nodes.Concat):
            return self.environment.budget_concat(tuple(self.fold(part) for part in node.nodes))
        if isinstance(node, nodes.BinExpr):
            left, right = self.fold(node.left), self.fold(node.right)
            try:
                if node.operator in self.environment.intercepted_binops:
                    return self.environment.call_binop(None, node.operator, left, right)
                if node.operator in _PLAIN_OPS:
                    return _PLAIN_OPS[node.operator](left, right)
            except BudgetExceeded:
                raise
            except Exception as exc:  # 1/0, 'a' - 1: the render reports it, with the item's context
                raise nodes.Impossible() from exc
        raise nodes.Impossible()

    def _constant_arguments(self, node: nodes.Call | nodes.Filter) -> tuple[list[Any], dict[str, Any]]:
        if node.dyn_args is not None or node.dyn_kwargs is not None:
            raise nodes.Impossible()
        kwargs = {str(kw.key): self.fold(kw.value) for kw in node.kwargs if isinstance(kw, nodes.Keyword)}
        return [self.fold(arg) for arg in node.args], kwargs

    def call(self, node: nodes.Call) -> None:
        if not isinstance(node.node, nodes.Name):
            raise nodes.Impossible()
        name = node.node.name
        if name == "range":
            args, _ = self._constant_arguments(node)
            if all(isinstance(arg, int) for arg in args):
                self.environment.budget_range(*args)
        elif name == "lipsum":
            args, kwargs = self._constant_arguments(node)
            bounded.int_arguments(self.meter, "lipsum()", args, kwargs)
            self.meter.build(int(args[0] if args else kwargs.get("n", 5)) * int(kwargs.get("max", 100)) * 8, "lipsum()")
        elif name in _REGEX_HELPERS:
            position = _REGEX_HELPERS[name]
            argument = node.args[position] if len(node.args) > position else None
            if isinstance(argument, nodes.Const):
                pattern = argument.value
                if isinstance(pattern, str):
                    regex.compile_pattern(name, pattern)

    def filter(self, node: nodes.Filter) -> None:
        args, kwargs = self._constant_arguments(node)
        try:
            value = self.fold(node.node) if node.node is not None else None
        except nodes.Impossible:
            bounded.int_arguments(self.meter, f"|{node.name}", args, kwargs)
            return
        if isinstance(value, str):
            bounded.check_filter(self.meter, node.name, (value, *args), kwargs)
        else:
            bounded.int_arguments(self.meter, f"|{node.name}", args, kwargs)
