"""How templates are compiled under the budget: the code generator of ``templating.sandbox``.

Jinja's generator is kept whole; four places change, each writing a call to a hook of the sandbox into the
compiled template where Jinja would compute something the budget must see:

* ``{% for x in xs %}`` iterates ``environment.budget_iter(xs)`` (a clock check every 64 iterations);
* ``{{ value }}`` becomes ``environment.budget_str(value)`` instead of ``str(value)``;
* ``a ~ b`` becomes ``environment.budget_concat((a, b))``;
* no output expression is computed while compiling (Jinja folded ``{{ 10**100000000 }}`` here, unbounded);
  ``templating.static`` does that folding again, under the budget.
"""

from __future__ import annotations

from typing import Any

from jinja2 import nodes
from jinja2.compiler import CodeGenerator, Frame


class BudgetCodeGenerator(CodeGenerator):
    """Jinja's code generator, writing the sandbox's budget hooks into the compiled template."""

    _loop_iterables: set[int]
    """ids of the ``{% for %}`` iterables met so far: each is compiled inside ``environment.budget_iter(...)``
    (Jinja forbids custom node types, so the wrapping happens where the iterable is written)."""

    def visit_For(self, node: nodes.For, frame: Frame) -> None:
        if not hasattr(self, "_loop_iterables"):
            self._loop_iterables = set()
        self._loop_iterables.add(id(node.iter))
        super().visit_For(node, frame)

    def visit(self, node: nodes.Node, *args: Any, **kwargs: Any) -> Any:
        if id(node) in getattr(self, "_loop_iterables", ()):
            self.write("environment.budget_iter(")
            super().visit(node, *args, **kwargs)
            self.write(")")
            return None
        return super().visit(node, *args, **kwargs)

    def _output_child_to_const(self, node: nodes.Expr, frame: Frame, finalize: Any) -> str:
        # Jinja evaluates constant output expressions while compiling, outside any budget; only
        # template text is constant here, everything else is computed (and measured) at render.
        if not isinstance(node, nodes.TemplateData):
            raise nodes.Impossible()
        return super()._output_child_to_const(node, frame, finalize)

    def _output_child_pre(self, node: nodes.Expr, frame: Frame, finalize: Any) -> None:
        # ``{{ value }}`` is written as ``environment.budget_str(value)`` instead of ``str(value)``: one call
        # that turns the value into text after checking what that text would cost.
        if frame.eval_ctx.volatile or frame.eval_ctx.autoescape or finalize.src is not None:
            super()._output_child_pre(node, frame, finalize)
        else:
            self.write("environment.budget_str(")

    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:
        self.write("environment.budget_concat((")
        for argument in node.nodes:
            self.visit(argument, frame)
            self.write(", ")
        if frame.eval_ctx.volatile:  # inside {% autoescape %}: Jinja joins with escaping (markup_join)
            self.write("), context.eval_ctx.autoescape)")
        else:
            self.write("), True)" if frame.eval_ctx.autoescape else "))")
