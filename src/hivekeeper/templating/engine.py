"""The template engine: a Jinja2 sandbox with our helpers and a compiled-template cache.

Templates are Pebble-like (``{{ }}``, ``{% set %}``, ``| default('x')``) and run in Jinja2's
immutable sandbox: no attribute access to internals, no mutation of the context.

Two rules are a Swarm's choice (``spec.templating``, :class:`Semantics`): an undefined name is an error
(``strict``, the default: reported with the template name, the line and the name, so a typo in a 10k-rps
scenario fails loudly instead of sending empty fields) or renders as "" (``empty``, PocketHive's rule,
written by ``hivekeeper import``); and the newline right after a tag is output (``keep``, Jinja's rule) or
not (``trim``, PocketHive's: :mod:`.tag_newline`).

Every compile and render is bounded by a :class:`~hivekeeper.templating.budget.Budget` (time, output,
sizes, integers, ranges, recursion; see ``templating.sandbox``); going past it raises
:class:`TemplateBudgetError`, which names the template, the line and the limit.
"""

from __future__ import annotations

import traceback
from collections import Counter, OrderedDict
from dataclasses import dataclass
from typing import Any, Literal

import jinja2
from jinja2.exceptions import SecurityError

from hivekeeper.errors import InvalidInput, LimitExceeded
from hivekeeper.templating import helpers, regex, sandbox
from hivekeeper.templating.budget import DEFAULT, Budget, BudgetExceeded
from hivekeeper.templating.context import CONTEXT_NAMES, Origin
from hivekeeper.templating.tag_newline import trim_tag_newlines

CACHE_SIZE = 512
"""Compiled templates kept per engine; enough for every template of a large scenario."""


class TemplateError(InvalidInput, ValueError):
    """A template failed to compile or render; the message names the template and the line."""

    code = "template.error"
    """The alert code of an item dropped for this error."""

    def __init__(self, template: str, line: int | None, problem: str) -> None:
        self.template = template
        self.line = line
        self.problem = problem
        where = f"template {template!r}" + (f" line {line}" if line else "")
        super().__init__(f"{where}: {problem}")


class TemplateBudgetError(TemplateError, LimitExceeded):
    """A template went past its budget; ``limit`` names the limit (``wallTime``, ``maxIntBits``, ...)."""

    code = "template.budget-exceeded"

    def __init__(self, template: str, line: int | None, exc: BudgetExceeded) -> None:
        self.limit = exc.limit
        super().__init__(template, line, str(exc))


Undefined = Literal["strict", "empty"]
TagNewline = Literal["keep", "trim"]


@dataclass(frozen=True)
class Semantics:
    """How templates treat an undefined name and the newline after a tag (a Swarm's ``spec.templating``)."""

    undefined: Undefined = "strict"
    """``strict``: rendering fails naming the name; ``empty``: it renders as "" (``a.b.c`` too)."""
    tag_newline: TagNewline = "keep"
    """``keep``: Jinja's whitespace; ``trim``: the newline right after a tag is not output (PocketHive's)."""


STRICT = Semantics()
_UNDEFINED: dict[str, type[jinja2.Undefined]] = {"strict": jinja2.StrictUndefined, "empty": jinja2.ChainableUndefined}


class TemplateEngine:
    """Compiles and renders templates; one engine per worker (it owns seeded-pick state).

    ``semantics`` is the worker's :class:`Semantics` and ``origin`` who renders (``swarmId``, ``runId``, ...,
    in every render's context); :meth:`configure` changes them when a config is applied.
    """

    def __init__(
        self,
        sequences: helpers.Sequences | None = None,
        budget: Budget = DEFAULT,
        semantics: Semantics = STRICT,
        origin: Origin | None = None,
    ) -> None:
        self.budget = budget
        self.semantics = semantics
        self.origin = origin or Origin()
        self._names = self.origin.names()
        self.budget_exceeded: Counter[str] = Counter()
        """Renders refused by the budget, by limit (reported in status and metrics)."""
        self.picks = helpers.SeededPicks()
        self.sequences = sequences or helpers.MemorySequences()
        # One environment per (undefined rule, async): templates that call sequence() need an awaited helper
        # (Redis INCR), so they compile in an async environment; everything else stays on the cheaper
        # synchronous one. Environments are made on first use.
        self._envs: dict[tuple[str, bool], sandbox.BudgetedSandbox] = {}
        self._cache: OrderedDict[tuple[str, str, str, str], jinja2.Template] = OrderedDict()
        """Compiled templates by name, source and semantics (its two fields: hashing the dataclass itself is a
        Python call, and this is looked up on every render)."""

    def configure(self, semantics: Semantics, origin: Origin | None = None) -> None:
        """Render with ``semantics`` (and as ``origin``, when given) from now on; templates compiled under other
        semantics stay cached."""
        self.semantics = semantics
        if origin is not None:
            self.origin = origin
            self._names = origin.names()

    def _environment(self, undefined: str, enable_async: bool) -> sandbox.BudgetedSandbox:
        env = self._envs.get((undefined, enable_async))
        if env is not None:
            return env
        env = sandbox.BudgetedSandbox(
            self.budget,
            undefined=_UNDEFINED[undefined],
            autoescape=False,
            keep_trailing_newline=True,
            cache_size=0,  # we cache compiled templates ourselves, keyed by name, source and semantics
            enable_async=enable_async,
        )
        env.globals.update(helpers.globals_for(self.picks))
        env.add_filters(helpers.FILTERS)
        counters = helpers.sequence_helpers(self.sequences)
        env.globals.update(counters if enable_async else dict.fromkeys(counters, _sequence_needs_async))
        env.trust_globals()
        self._envs[(undefined, enable_async)] = env
        return env

    def compile(self, name: str, source: str) -> jinja2.Template:
        """The compiled template for ``source`` under the current semantics; syntax errors name the template
        and line."""
        semantics = self.semantics
        key = (name, source, semantics.undefined, semantics.tag_newline)
        template = self._cache.get(key)
        if template is not None:
            self._cache.move_to_end(key)
            return template
        env = self._environment(semantics.undefined, helpers.uses_sequence(source))
        text = trim_tag_newlines(source) if semantics.tag_newline == "trim" else source
        try:
            template = env.from_string(text)
        except jinja2.TemplateSyntaxError as exc:
            raise TemplateError(name, exc.lineno, f"syntax error: {exc.message}") from exc
        except BudgetExceeded as exc:
            raise TemplateBudgetError(name, getattr(exc, "template_line", None), exc) from exc
        except regex.RegexError as exc:
            raise TemplateError(name, getattr(exc, "template_line", None), str(exc)) from exc
        except RecursionError as exc:
            raise TemplateError(name, None, "expressions nested too deeply to compile; flatten them") from exc
        except Exception as exc:  # anything else Jinja or Python's compiler raises: never escape as is
            raise TemplateError(name, None, f"does not compile: {type(exc).__name__}: {exc}") from exc
        template.name = name
        # Jinja keeps a template's globals as a ChainMap and copies it on every render; one plain dict
        # copied up front makes each render ~8x cheaper (measured: 32 µs -> 4 µs with our helpers).
        template.globals = dict(template.globals)
        self._cache[key] = template
        if len(self._cache) > CACHE_SIZE:
            self._cache.popitem(last=False)
        return template

    def render(self, name: str, source: str, context: dict[str, Any]) -> str:
        """Render ``source`` with ``context``; any failure becomes a :class:`TemplateError`.

        For templates rendered per item use :meth:`render_async`, which also supports ``sequence``.
        """
        if is_literal(source):
            return source  # nothing to compile or render (JSON bodies without markers included)
        if helpers.uses_sequence(source):
            raise TemplateError(
                name,
                None,
                "sequence() cannot be used here (this value is rendered once, when the config is "
                "applied); use sequence() and sequenceWith() in message or request templates",
            )
        return self._render(name, source, context)

    def _render(self, name: str, source: str, context: dict[str, Any]) -> str:
        """Render a template that has markers and does not call ``sequence()``."""
        template = self.compile(name, source)
        try:
            return sandbox.render(template, context, self._names)
        except Exception as exc:
            raise self._render_error(name, exc) from exc

    async def render_async(self, name: str, source: str, context: dict[str, Any]) -> str:
        """Render a per-item template; ``sequence(...)`` is awaited (Redis INCR in a cluster)."""
        if is_literal(source):
            return source
        if not helpers.uses_sequence(source):
            return self._render(name, source, context)
        template = self.compile(name, source)
        try:
            return await sandbox.render_async(template, context, self._names)
        except ConnectionError:
            raise  # sequence()'s store is unreachable: not the template's fault; the worker says what it is
        except Exception as exc:
            raise self._render_error(name, exc) from exc

    def _render_error(self, name: str, exc: Exception) -> TemplateError:
        error = _template_error(name, exc)
        if isinstance(error, TemplateBudgetError):
            self.budget_exceeded[error.limit] += 1
        return error

    def function_names(self) -> frozenset[str]:
        """Every name a template can call: our helpers and Jinja's own globals (range, dict, ...)."""
        return frozenset(self._environment("strict", False).globals)

    def reseed(self) -> None:
        """Restart every ``pickWeightedSeeded`` stream (config-update ``templating.reseed``)."""
        self.picks.reseed()

    def validate(self, name: str, source: str, context: dict[str, Any] | None = None) -> None:
        """Check a template before it is used: raise :class:`TemplateError` for syntax errors and regular
        expressions RE2 cannot run, :class:`TemplateBudgetError` for a template that breaks the budget.

        Besides compiling (which refuses constants that break the budget), the template is rendered once, as
        a probe, with ``context`` (the context of an item-less render: a generator's tick) or an empty one. A
        template that breaks the budget with no item at all (nested loops, endless recursion) breaks it on
        every item, so it is refused now, with the config. Any other error of the probe is ignored: it depends
        on the item (a payload field the empty context lacks), and each render reports it. Templates calling
        ``sequence()`` are not probed (the probe would move a shared counter).
        """
        template = self.compile(name, source)
        if is_literal(source) or helpers.uses_sequence(source):
            return
        probe = {**self._names, **(context or _PROBE), "pickWeightedSeeded": _unseeded_pick}  # no stream moves
        try:
            sandbox.render(template, probe)
        except BudgetExceeded as exc:
            raise TemplateBudgetError(name, _template_line(exc), exc) from exc
        except Exception:
            return


def is_literal(source: str) -> bool:
    """True when ``source`` has no Jinja markers, so rendering it would return it unchanged."""
    return "{{" not in source and "{%" not in source and "{#" not in source


_PROBE: dict[str, Any] = {"payload": {}, "payloadRaw": "", "headers": {}, "workItem": None, "vars": {}, "sut": {}}
"""The context of a probe render when the caller has none (see :meth:`TemplateEngine.validate`)."""


def _unseeded_pick(label: Any, seed: Any, *args: Any) -> Any:
    return helpers.pick_weighted(*args)


def _sequence_needs_async(*args: Any) -> Any:
    raise helpers.HelperError("sequence() and sequenceWith() are only available in templates rendered per item")


def _template_error(name: str, exc: BaseException) -> TemplateError:
    """The :class:`TemplateError` for ``exc``, naming the template, the line and the cause."""
    line = _template_line(exc)
    if isinstance(exc, BudgetExceeded):
        return TemplateBudgetError(name, line, exc)
    return TemplateError(name, line, _problem(exc))


def _problem(exc: BaseException) -> str:
    if isinstance(exc, RecursionError):
        return "recursion too deep (a macro or loop that calls itself without end?)"
    if isinstance(exc, jinja2.UndefinedError):
        return _undefined(exc)
    if isinstance(exc, helpers.HelperError):
        return str(exc)
    if isinstance(exc, SecurityError):
        return f"not allowed in the sandbox: {exc}"
    if isinstance(exc, OSError):  # ConnectionError included: the sequence store is unreachable
        return f"sequence store unavailable: {exc}"
    return f"{type(exc).__name__}: {exc}"


def _template_line(exc: BaseException) -> int | None:
    """The line inside the template where rendering failed, from Jinja2's rewritten traceback."""
    line = None
    for frame, lineno in traceback.walk_tb(exc.__traceback__):
        if frame.f_code.co_filename == "<template>":
            line = lineno
    return line


def _undefined(exc: jinja2.UndefinedError) -> str:
    message = str(exc.message or exc)
    # Jinja2 says "'payload' is undefined" or "'dict object' has no attribute 'cardId'".
    if "has no attribute" in message:
        missing = message.split("has no attribute", 1)[1].strip()
        return f"{missing} is not defined in the context (use `| default(...)` when it may be absent)"
    return (
        f"{message}; defined names are {', '.join(CONTEXT_NAMES)} and the helpers (or set "
        "spec.templating.undefined: empty to render undefined names as empty, as PocketHive does)"
    )
