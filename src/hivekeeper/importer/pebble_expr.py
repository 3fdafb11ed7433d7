"""One Pebble expression (the inside of ``{{ }}`` or a tag's arguments) rewritten for Jinja. Pure.

The passes, in order: ``eval("<SpEL>")`` calls (:mod:`.spel`); names (``payloadAsJson``, bare
``payload``, ``equals``, ``null``, ``loop.index``); ``sut.endpoints['id']``; Java method calls;
tests (``is empty``, ``is map``); the ``contains`` operator; filters; and, for expressions, the
ternary ``c ? a : b``. What no pass can translate is an :class:`Issue`, and that part is left as is.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from jinja2.filters import FILTERS as JINJA_FILTERS

from hivekeeper.importer import spel, spel_built
from hivekeeper.importer.pebble_tokens import (
    CLOSE,
    OPEN,
    Tok,
    Tokens,
    each,
    is_,
    match_forward,
    name_at,
    next_,
    operand_end,
    operand_start,
    prev,
    splice,
    string_pairs,
    text,
    tokenize,
    unquote,
)
from hivekeeper.templating import helpers
from hivekeeper.validate.findings import Severity

_FILTERS = set(JINJA_FILTERS) | set(helpers.FILTERS)
_RENAMED_FILTERS = {"base64encode": "base64", "base64decode": "base64Decode", "rsort": "sort(reverse=true)"}
_METHOD_FILTERS = {"size": "length", "length": "length", "toUpperCase": "upper", "toLowerCase": "lower"}
_METHOD_FILTERS |= {"trim": "trim", "toString": "string"}
_IDENT = re.compile(r"^[A-Za-z_]\w*$")
TRANSLATE_BY_HAND = "rewrite it with our helpers and Jinja (docs/import.md lists both)"


@dataclass(frozen=True)
class Issue:
    severity: Severity
    """``error`` (not translated, left as is) or ``warning`` (translated, behaves a little differently)."""
    code: str
    expression: str
    message: str
    fix: str


@dataclass
class ExpressionRewriter:
    """Rewrites expressions of one template and keeps what they read and what failed."""

    raw_payload: bool = True
    """PocketHive's ``payload`` is the raw text here (not an http-sequence journey): bare -> ``payloadRaw``."""
    upstream: dict[str, str] = field(default_factory=dict)
    """Endpoint id -> its ``upstreamBaseUrl`` (inlined: our SUT model has only ``baseUrl``)."""
    issues: list[Issue] = field(default_factory=list)
    vars: set[str] = field(default_factory=set)
    endpoints: set[str] = field(default_factory=set)

    def issue(self, code: str, expression: str, message: str, fix: str, severity: Severity = "error") -> None:
        self.issues.append(Issue(severity, code, expression.strip(), message, fix))

    def rewrite(self, code: str, *, expression: bool) -> str:
        """``code`` rewritten; ``expression``: it is a whole expression (the ternary is rewritten too)."""
        try:
            tokens = tokenize(code)
        except ValueError as exc:
            self.issue("pebble-unsupported", code, str(exc), "check the quotes and brackets of this expression")
            return code
        self._check(code, tokens)
        for step in (self._evals, self._names, self._sut, self._methods, self._tests, self._contains, self._filters):
            tokens = step(tokens)
        if expression:
            tokens = _ternary(tokens)
        return "".join(t.text for t in tokens)

    def _check(self, code: str, tokens: Tokens) -> None:
        for tok in tokens:
            if tok.kind == "str" and tok.text.startswith('"') and "#{" in tok.text:
                self.issue(
                    "pebble-unsupported",
                    tok.text,
                    "string interpolation #{...} is not available",
                    "concatenate with ~: 'text ' ~ value",
                )
            if tok.kind == "op" and tok.text == "..":
                self.issue(
                    "pebble-unsupported", code, "the range operator .. is not translated", "use range(start, end + 1)"
                )

    def _value(self, code: str) -> str:
        """A computed part of a SpEL text built at run time, rewritten (its reads are noted here too)."""
        inner = ExpressionRewriter(self.raw_payload, self.upstream, self.issues, self.vars, self.endpoints)
        return inner.rewrite(code, expression=True).strip()

    # -- passes ---------------------------------------------------------------------------------
    def _evals(self, tokens: Tokens) -> Tokens:
        def apply(tokens: Tokens, i: int) -> tuple[Tokens, int]:
            paren = next_(tokens, i)
            if name_at(tokens, i) != "eval" or is_(tokens, prev(tokens, i), ".") or not is_(tokens, paren, "("):
                return tokens, i + 1
            close = match_forward(tokens, paren)
            whole = text(tokens, i, close if close >= 0 else len(tokens) - 1)
            operands = spel_built.parts(tokens[paren + 1 : close]) if close >= 0 else None
            built = spel_built.build(operands, self._value) if operands else None
            if built is None:
                self.issue(
                    "spel-unsupported",
                    whole,
                    "eval(...) takes a SpEL text: a string literal, or literals joined with ~ to values "
                    "(here no part of the SpEL text is known before run time)",
                    TRANSLATE_BY_HAND,
                )
                return tokens, i + 1
            try:
                done = spel.translate(built.text, raw_payload=self.raw_payload, holes=built.holes)
            except spel.SpelUnsupported as exc:
                self.issue("spel-unsupported", whole, exc.problem, exc.fix)
                return tokens, close + 1
            self.vars |= done.vars
            for pattern in done.date_patterns:
                if letters := spel.untranslated_date_letters(pattern):
                    self.issue(
                        "date-pattern-partial",
                        whole,
                        f"the Java date pattern {pattern!r} uses letters ({letters}) our dateFormat prints literally",
                        "use yyyy, yy, MM, dd, HH, mm, ss, SSS, XXX, Z, or a strftime pattern such as %a",
                        severity="warning",
                    )
            return splice(tokens, i, close, done.expr.operand()), i + 1

        return each(tokens, apply)

    def _names(self, tokens: Tokens) -> Tokens:
        for i, tok in enumerate(tokens):
            if tok.kind != "name":
                continue
            after_dot, nxt = is_(tokens, prev(tokens, i), "."), next_(tokens, i)
            if tok.text == "payloadAsJson" and not after_dot:
                tok.text = "payload"
            elif tok.text == "payload" and not after_dot and self.raw_payload:
                if not (is_(tokens, nxt, ".") or is_(tokens, nxt, "[")):
                    tok.text = "payloadRaw"
            elif tok.text == "equals" and not after_dot and not is_(tokens, nxt, "("):
                tok.text = "=="
            elif tok.text == "null" and not after_dot:
                tok.text = "none"
            elif tok.text in ("index", "revindex") and after_dot and name_at(tokens, prev(tokens, i - 1)) == "loop":
                tok.text += "0"  # Pebble counts loop.index from 0, Jinja from 1
            elif tok.text == "vars" and not after_dot:
                key = next_(tokens, nxt)
                if is_(tokens, nxt, ".") and name_at(tokens, key):
                    self.vars.add(tokens[key].text)
                elif is_(tokens, nxt, "[") and key < len(tokens) and tokens[key].kind == "str":
                    self.vars.add(unquote(tokens[key].text))
        return tokens

    def _sut(self, tokens: Tokens) -> Tokens:
        def apply(tokens: Tokens, i: int) -> tuple[Tokens, int]:
            dot = next_(tokens, i)
            if name_at(tokens, i) != "sut" or is_(tokens, prev(tokens, i), ".") or not is_(tokens, dot, "."):
                return tokens, i + 1
            if name_at(tokens, next_(tokens, dot)) != "endpoints":
                return tokens, i + 1
            key = next_(tokens, next_(tokens, dot))
            literal = next_(tokens, key)
            if is_(tokens, key, "[") and literal < len(tokens) and tokens[literal].kind == "str":
                endpoint, end = unquote(tokens[literal].text), next_(tokens, literal)
                if not is_(tokens, end, "]"):
                    return tokens, i + 1
            elif is_(tokens, key, ".") and name_at(tokens, literal):
                endpoint, end = tokens[literal].text, literal
            else:
                return tokens, i + 1
            self.endpoints.add(endpoint)
            ref = (
                f"sut.endpoints.{endpoint}"
                if _IDENT.match(endpoint)
                else f"sut.endpoints[{spel.jinja_string(endpoint)}]"
            )
            field_dot = next_(tokens, end)
            field_at = next_(tokens, field_dot)
            if is_(tokens, field_dot, ".") and name_at(tokens, field_at) == "upstreamBaseUrl":
                if endpoint in self.upstream:
                    return splice(tokens, i, field_at, spel.jinja_string(self.upstream[endpoint])), i + 1
                self.issue(
                    "sut-field-unsupported",
                    f"{ref}.upstreamBaseUrl",
                    f"endpoint {endpoint!r} of the chosen SUT has no upstreamBaseUrl",
                    "set endpoints.<id>.upstreamBaseUrl in sut.yaml (the importer inlines it) or use baseUrl",
                )
            return splice(tokens, i, end, ref), i + 1

        return each(tokens, apply)

    def _methods(self, tokens: Tokens) -> Tokens:
        def apply(tokens: Tokens, i: int) -> tuple[Tokens, int]:
            name = name_at(tokens, i + 1)
            if not (is_(tokens, i, ".") and name and is_(tokens, i + 2, "(")):
                return tokens, i + 1
            close, start = match_forward(tokens, i + 2), operand_start(tokens, prev(tokens, i))
            if close < 0 or start < 0:
                return tokens, i + 1
            target, args = text(tokens, start, i - 1), text(tokens, i + 3, close - 1)
            if target == "workItem" and name == "payload" and not args:
                return splice(tokens, start, close, "payloadRaw"), start + 1
            rewritten = _method(target, name, args)
            if rewritten is None:
                if any(c.isupper() for c in name):
                    self.issue(
                        "pebble-unsupported",
                        text(tokens, start, close),
                        f"the Java method {name}() has no Jinja equivalent",
                        TRANSLATE_BY_HAND,
                    )
                return tokens, i + 1
            return splice(tokens, start, close, rewritten), start + 1

        return each(tokens, apply)

    def _tests(self, tokens: Tokens) -> Tokens:
        def apply(tokens: Tokens, i: int) -> tuple[Tokens, int]:
            if name_at(tokens, i) != "is":
                return tokens, i + 1
            negated = name_at(tokens, next_(tokens, i)) == "not"
            test = next_(tokens, next_(tokens, i)) if negated else next_(tokens, i)
            if name_at(tokens, test) == "map":
                tokens[test].text = "mapping"
            if name_at(tokens, test) != "empty":
                return tokens, i + 1
            start = operand_start(tokens, prev(tokens, i))
            if start < 0:
                self.issue(
                    "pebble-unsupported",
                    text(tokens, 0, len(tokens)),
                    "`is empty` on this operand is not translated",
                    "use `not value`",
                )
                return tokens, i + 1
            operand = text(tokens, start, prev(tokens, i))
            rewritten = f"(true if {operand} else false)" if negated else f"(not {operand})"
            return splice(tokens, start, test, rewritten), start + 1

        return each(tokens, apply)

    def _contains(self, tokens: Tokens) -> Tokens:
        def apply(tokens: Tokens, i: int) -> tuple[Tokens, int]:
            if name_at(tokens, i) != "contains" or is_(tokens, prev(tokens, i), "."):
                return tokens, i + 1
            start, right = operand_start(tokens, prev(tokens, i)), next_(tokens, i)
            end = operand_end(tokens, right)
            if start < 0 or end < 0:
                self.issue(
                    "pebble-unsupported",
                    text(tokens, 0, len(tokens)),
                    "`contains` between these operands is not translated",
                    "write `needle in haystack`",
                )
                return tokens, i + 1
            haystack, needle = text(tokens, start, prev(tokens, i)), text(tokens, right, end)
            return splice(tokens, start, end, f"({needle} in {haystack})"), start + 1

        return each(tokens, apply)

    def _filters(self, tokens: Tokens) -> Tokens:
        def apply(tokens: Tokens, i: int) -> tuple[Tokens, int]:
            at = next_(tokens, i)
            name = name_at(tokens, at)
            if not is_(tokens, i, "|") or name is None:
                return tokens, i + 1
            paren = next_(tokens, at)
            close = match_forward(tokens, paren) if is_(tokens, paren, "(") else at
            args = text(tokens, paren + 1, close - 1) if close != at else ""
            rewritten = _filter(name, args)
            if name == "raw":  # Pebble's autoescape switch; ours never escapes
                start = prev(tokens, i) + 1
                return [*tokens[:start], *tokens[close + 1 :]], start
            if rewritten is not None:
                return splice(tokens, at, close, rewritten), at + 1
            if name not in _FILTERS:
                self.issue(
                    "pebble-unsupported",
                    text(tokens, i, close),
                    f"the filter {name!r} has no Jinja equivalent",
                    f"use a Jinja filter or one of our helpers ({', '.join(sorted(helpers.FILTERS))})",
                )
            return tokens, close + 1

        return each(tokens, apply)


def _method(target: str, name: str, args: str) -> str | None:  # noqa: PLR0911 - one return per Java method
    if name in _METHOD_FILTERS and not args:
        return f"({target} | {_METHOD_FILTERS[name]})"
    if name == "isEmpty" and not args:
        return f"(not {target})"
    if name in ("startsWith", "endsWith"):
        return f"{target}.{name.lower()}({args})"
    if name == "contains" and args:
        return f"({args} in {target})"
    if name == "equals" and args:
        return f"({target} == {args})"
    if name == "substring" and args:
        return f"{target}[{':'.join(a.strip() for a in args.split(',', 1))}]"
    return None


def _filter(name: str, args: str) -> str | None:
    """The Jinja filter call for Pebble's filter ``name(args)``, when it is written differently."""
    if name in _RENAMED_FILTERS:
        base = _RENAMED_FILTERS[name]
        return f"{base}({args})" if args and "(" not in base else base
    if name == "abbreviate" and args:
        return f"truncate({args}, true, '...', 0)"
    pairs = string_pairs(args) if name == "replace" else None
    if pairs:
        return " | ".join(f"replace({spel.jinja_string(a)}, {spel.jinja_string(b)})" for a, b in pairs)
    return None


def _ternary(tokens: Tokens) -> Tokens:
    """``c ? a : b`` -> ``a if c else b``, in brackets and nested ternaries too."""
    tokens = _in_groups(tokens)
    depth, question, colon, nested = 0, -1, -1, 0
    for j, tok in enumerate(tokens):
        if tok.kind != "op":
            continue
        if tok.text in OPEN:
            depth += 1
        elif tok.text in CLOSE:
            depth -= 1
        elif depth == 0 and tok.text == "?":
            nested += 1 if question >= 0 else 0
            question = question if question >= 0 else j
        elif depth == 0 and tok.text == ":" and question >= 0:
            if nested == 0:
                colon = j
                break
            nested -= 1
    if colon < 0:
        return tokens
    condition = text(tokens, 0, question - 1)
    yes, no = _branch(tokens[question + 1 : colon]), _branch(tokens[colon + 1 :])
    lead = " " if tokens[0].kind == "ws" else ""
    trail = " " if tokens[-1].kind == "ws" else ""
    return [Tok("code", f"{lead}{yes} if {condition} else {no}{trail}")]


def _branch(tokens: Tokens) -> str:
    before = "".join(t.text for t in tokens).strip()
    after = "".join(t.text for t in _ternary(tokens)).strip()
    return after if after == before else f"({after})"


def _in_groups(tokens: Tokens) -> Tokens:
    """``tokens`` with the ternaries inside each ``( )`` / ``[ ]`` group (argument by argument) rewritten."""
    out: Tokens = []
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        close = match_forward(tokens, i) if tok.kind == "op" and tok.text in ("(", "[") else -1
        if close < 0:
            out.append(tok)
            i += 1
            continue
        parts: list[Tokens] = [[]]
        depth = 0
        for inner in tokens[i + 1 : close]:
            if inner.kind == "op" and inner.text in OPEN:
                depth += 1
            elif inner.kind == "op" and inner.text in CLOSE:
                depth -= 1
            if depth == 0 and inner.kind == "op" and inner.text == ",":
                parts.append([])
            else:
                parts[-1].append(inner)
        rewritten = ",".join("".join(t.text for t in _ternary(part)) for part in parts)
        out += [tok, Tok("code", rewritten), tokens[close]]
        i = close + 1
    return out
