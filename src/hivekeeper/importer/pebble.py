"""PocketHive (Pebble + SpEL) templates rewritten for our Jinja2 sandbox. Pure: text in, text out.

Pebble and Jinja share most syntax (``{{ }}``, ``{% set %}``, ``{% if %}``, filters, ``~``,
``and``/``or``/``not``, ``| default``). What differs is rewritten inside the ``{{ }}`` and ``{% %}``
blocks only (literal text and ``{# #}`` comments are never touched):

- ``eval("<SpEL>")`` becomes the same expression over our helpers (:mod:`.spel`);
- ``payloadAsJson`` becomes ``payload``, and a bare ``payload`` (PocketHive's raw text in generator,
  request-builder and processor templates) becomes ``payloadRaw`` (ours is the parsed JSON);
- ``equals`` -> ``==``, ``a contains b`` -> ``b in a``, ``null`` -> ``none``, ``is empty`` -> ``not``,
  ``is map`` -> ``is mapping``, ``c ? a : b`` -> ``a if c else b``, ``loop.index`` -> ``loop.index0``;
- tags: ``elseif`` -> ``elif``, ``verbatim`` -> ``raw``;
- filters (``raw`` dropped, ``abbreviate`` -> ``truncate``, ``rsort``, ``base64encode``,
  ``replace({'a': 'b'})``) and Java methods (``.size()``, ``.toUpperCase()``, ``.contains(x)``, ...);
- ``sut.endpoints['id'].baseUrl`` -> ``sut.endpoints.id.baseUrl``.

Anything else that Jinja would not run the same way is an :class:`Issue` naming the expression and
the fix, and that expression is left as it was (so ``hivekeeper validate`` flags it as well).
The result is compiled once to catch what the rewrite missed.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field

from hivekeeper.importer.pebble_expr import ExpressionRewriter, Issue
from hivekeeper.templating.engine import TemplateEngine, TemplateError, is_literal
from hivekeeper.templating.tag_newline import code_end, next_tag

__all__ = ["Issue", "Rewrite", "rewrite"]

_UNSUPPORTED_TAGS = ("include", "import", "from", "extends", "embed", "parallel", "cache", "flush")
_ENDVERBATIM = re.compile(r"\{%-?\s*endverbatim\s*-?%\}")
_BOOLEAN = re.compile(r"(-?\s*)vars\.(\w+)(\s*-?)")
_SET = re.compile(r"^(\s*[A-Za-z_]\w*\s*=)(?!=)")
_ENGINE = TemplateEngine()


@dataclass
class Rewrite:
    text: str
    issues: list[Issue] = field(default_factory=list)
    vars: set[str] = field(default_factory=set)
    """Names read as ``vars.<name>`` / ``vars['<name>']``."""
    endpoints: set[str] = field(default_factory=set)
    """SUT endpoint ids read as ``sut.endpoints.<id>``."""

    @property
    def errors(self) -> list[Issue]:
        return [i for i in self.issues if i.severity == "error"]


def rewrite(
    source: str,
    *,
    raw_payload: bool = True,
    upstream: Mapping[str, str] | None = None,
    booleans: Collection[str] = (),
) -> Rewrite:
    """``source`` rewritten for our engine, with what could not be (``issues``) and what it reads.

    ``raw_payload``: the template renders where PocketHive's ``payload`` is the raw text (anywhere but
    an http-sequence journey, whose ``payload`` is the journey map, as ours). ``upstream``: endpoint
    id -> its ``upstreamBaseUrl``. ``booleans``: variables holding true/false, which Pebble prints ``true`` and
    Jinja ``True``: ``{{ vars.flag }}`` becomes ``{{ vars.flag | tojson }}`` so JSON bodies stay JSON.
    """
    code = ExpressionRewriter(raw_payload=raw_payload, upstream=dict(upstream or {}))
    out: list[str] = []
    pos = 0
    while (start := next_tag(source, pos)) >= 0:
        out.append(source[pos:start])
        opener = source[start : start + 2]
        if opener == "{#":
            end = source.find("#}", start + 2)
            pos = len(source) if end < 0 else end + 2
            out.append(source[start:pos])
            continue
        end = code_end(source, start + 2, "}}" if opener == "{{" else "%}")
        if end < 0:
            code.issue("template-syntax", source[start : start + 60], "this block is never closed", "close it")
            pos = start
            break
        inner, pos = source[start + 2 : end], end + 2
        tag, rest = _tag(inner) if opener == "{%" else ("", inner)
        if tag == "verbatim":
            closing = _ENDVERBATIM.search(source, pos)
            stop = closing.start() if closing else len(source)
            out.append("{% raw %}" + source[pos:stop] + "{% endraw %}")
            pos = closing.end() if closing else len(source)
        elif opener == "{{":
            out.append("{{" + _output(code, inner, booleans) + "}}")
        else:
            out.append("{%" + _tag_block(code, inner, tag, rest) + "%}")
    out.append(source[pos:])
    result = Rewrite("".join(out), code.issues, code.vars, code.endpoints)
    if not result.errors and not is_literal(result.text):
        try:
            _ENGINE.validate("imported", result.text)
        except TemplateError as exc:
            result.issues.append(
                Issue(
                    "error",
                    "template-syntax",
                    source.strip(),
                    f"the rewritten template does not compile: {exc.problem}",
                    "fix this template by hand",
                )
            )
    return result


def _tag(inner: str) -> tuple[str, str]:
    match = re.match(r"^-?\s*([A-Za-z_]\w*)", inner)
    return (match.group(1), inner[match.end() :]) if match else ("", inner)


def _tag_block(code: ExpressionRewriter, inner: str, tag: str, rest: str) -> str:
    head = inner[: len(inner) - len(rest)]
    if tag in _UNSUPPORTED_TAGS:
        code.issue(
            "pebble-unsupported",
            "{%" + inner + "%}",
            f"the {tag} tag is not available (a template is one string; there is no template loader)",
            "inline the other template's text",
        )
        return inner
    if tag == "elseif":
        head = head.replace("elseif", "elif", 1)
    if tag == "set" and (target := _SET.match(rest)):
        return head + target.group(1) + _region(code, rest[target.end() :], expression=True)
    return head + _region(code, rest, expression=tag in ("if", "elseif"))


def _output(code: ExpressionRewriter, inner: str, booleans: Collection[str]) -> str:
    text = _region(code, inner, expression=True)
    flag = _BOOLEAN.fullmatch(text)
    return (
        f"{flag.group(1)}vars.{flag.group(2)} | tojson{flag.group(3)}" if flag and flag.group(2) in booleans else text
    )


def _region(code: ExpressionRewriter, inner: str, *, expression: bool) -> str:
    """Rewrite the code of a block, keeping whitespace-control dashes (``{{- x -}}``) where they are."""
    lead = "-" if inner.startswith("-") else ""
    trail = "-" if inner.endswith("-") and len(inner) > 1 else ""
    body = inner[len(lead) : len(inner) - len(trail)]
    return lead + code.rewrite(body, expression=expression) + trail
