"""PocketHive's ``eval("<SpEL>")`` expressions as Jinja expressions over our template helpers. Pure.

PocketHive templates call helpers through a sandboxed SpEL: ``eval("#uuid()")``,
``eval("#randInt(1, 100)")``, ``eval("vars.quantity + 1")``. We have the same helpers as plain
template functions (``uuid()``, ``randInt(1, 100)``), so an ``eval`` call becomes an ordinary Jinja
expression. This module parses the small part of SpEL such expressions use (literals, the roots
``payload``/``headers``/``workItem``/``vars``/``now``/``nowIso``, property and index access,
arithmetic, comparisons, logic, the ternary and Elvis operators, and the registered ``#functions``)
and raises :class:`SpelUnsupported` for anything else (type references, constructors, bean
references, method calls, selections and projections, unknown functions), naming the expression,
the part that is not translated and what to write instead.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from hivekeeper.errors import InvalidInput
from hivekeeper.importer.spel_built import HOLE, interpolated

HELPERS: dict[str, tuple[str, int, int, str]] = {
    "uuid": ("uuid", 0, 0, "str"),
    "randInt": ("randInt", 2, 2, "num"),
    "randLong": ("randLong", 2, 2, "num"),
    "md5_hex": ("md5", 1, 1, "str"),
    "sha256_hex": ("sha256", 1, 1, "str"),
    "base64_encode": ("base64", 1, 1, "str"),
    "base64_decode": ("base64Decode", 1, 1, "str"),
    "hmac_sha256_hex": ("hmacSha256", 2, 2, "str"),
    "regex_match": ("regexMatch", 2, 2, "bool"),
    "regex_extract": ("regexExtract", 2, 3, "str"),
    "json_path": ("jsonPointer", 2, 2, "any"),
    "date_format": ("dateFormat", 2, 2, "str"),
    "datetime_offset": ("dateOffset", 2, 2, "str"),
    "sequence": ("sequence", 1, 3, "any"),
    "sequenceWith": ("sequenceWith", 5, 5, "any"),
}
"""SpEL function -> (our helper, fewest arguments, most arguments, result kind)."""

DATE_HELPERS = ("dateFormat", "dateOffset")
JAVA_DATE_TOKENS = ("yyyy", "yy", "MM", "dd", "HH", "mm", "ss", "SSS", "XXX", "Z")
"""The Java date pattern letters our ``dateFormat`` translates (templating.helpers)."""

_ROOTS = ("payload", "payloadAsJson", "headers", "workItem", "vars", "now", "nowIso", "ctx")
_TOKEN = re.compile(
    r"""(?P<ws>\s+)
    |(?P<str>'(?:[^']|'')*'|"(?:[^"]|"")*")
    |(?P<num>0[xX][0-9a-fA-F]+[lL]?|\d+(?:\.\d+)?(?:[eE][+-]?\d+)?[lLfFdD]?)
    |(?P<hole>\ue000\d+\ue001)
    |(?P<name>[A-Za-z_$][\w$]*)
    |(?P<op>\?\.|\?:|==|!=|<=|>=|&&|\|\||\.[?!^$]\[|[-+*/%^!<>?:.,()\[\]{}@#&=|])
    """,
    re.VERBOSE,
)
_WORD_OPS = {"eq": "==", "ne": "!=", "lt": "<", "gt": ">", "le": "<=", "ge": ">=", "div": "/", "mod": "%"}
_COMPARE = ("==", "!=", "<", ">", "<=", ">=")


class SpelUnsupported(InvalidInput, ValueError):
    """An expression (or a part of it) has no translation; ``problem`` says what and ``fix`` what to do."""

    def __init__(self, expression: str, problem: str, fix: str) -> None:
        self.expression = expression
        self.problem = problem
        self.fix = fix
        super().__init__(f"eval({expression!r}): {problem}")


@dataclass(frozen=True)
class Expr:
    """A translated (sub)expression: Jinja text, what it yields, and whether it needs no parentheses."""

    text: str
    kind: str = "any"
    """``str``, ``num``, ``bool`` or ``any`` (decides whether SpEL ``+`` is Jinja ``+`` or ``~``)."""
    atomic: bool = True
    literal: str | None = None
    """The value of a string literal (patterns of dateFormat, matches)."""

    def operand(self) -> str:
        return self.text if self.atomic else f"({self.text})"


_LITERALS = {"true": Expr("true", "bool"), "false": Expr("false", "bool"), "null": Expr("none")}
_RENAMED_ROOTS = {"now": Expr("now()"), "nowIso": Expr("nowIso()", "str"), "payloadAsJson": Expr("payload")}


@dataclass(frozen=True)
class Translation:
    expr: Expr
    vars: frozenset[str]
    date_patterns: tuple[str, ...]
    """Literal patterns passed to dateFormat / dateOffset (checked for untranslated Java letters)."""


def jinja_string(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def untranslated_date_letters(pattern: str) -> str:
    """Java pattern letters of ``pattern`` our dateFormat does not translate (printed literally), e.g. ``E``."""
    if "%" in pattern:
        return ""  # a strftime pattern: our dateFormat takes it as it is
    text = re.sub(r"'[^']*'?", "", pattern)
    for token in JAVA_DATE_TOKENS:
        text = text.replace(token, "")
    return "".join(sorted({c for c in text if c.isascii() and c.isalpha()}))


def translate(expression: str, *, raw_payload: bool = True, holes: Mapping[int, str] | None = None) -> Translation:
    """The Jinja expression for SpEL ``expression``; raises :class:`SpelUnsupported`.

    ``raw_payload``: PocketHive's ``payload`` is the raw text here (generator, request-builder and
    processor templates); ours is the parsed JSON, so a bare ``payload`` becomes ``payloadRaw``.
    ``holes``: for a SpEL text built at run time, the Jinja expression of each computed part, marked in
    ``expression`` by :func:`.spel_built.hole`: inside a string literal the part is its text, elsewhere its value.
    """
    parser = _Parser(expression, raw_payload, dict(holes or {}))
    expr = parser.ternary()
    if parser.peek() is not None:
        raise parser.unsupported(f"unexpected {parser.peek()!r}")
    return Translation(expr, frozenset(parser.vars), tuple(parser.date_patterns))


class _Parser:
    def __init__(self, expression: str, raw_payload: bool, holes: dict[int, str]) -> None:
        self.expression = HOLE.sub(lambda m: "' ~ " + holes.get(int(m.group(1)), "?") + " ~ '", expression)
        self.raw_payload = raw_payload
        self.holes = holes
        self.tokens = self._tokenize(expression)
        self.pos = 0
        self.vars: set[str] = set()
        self.date_patterns: list[str] = []

    def _tokenize(self, text: str) -> list[tuple[str, str]]:
        tokens, pos = [], 0
        while pos < len(text):
            match = _TOKEN.match(text, pos)
            if match is None:
                raise self.unsupported(f"cannot read {text[pos : pos + 20]!r}")
            kind = match.lastgroup or ""
            if kind != "ws":
                tokens.append((kind, match.group()))
            pos = match.end()
        return tokens

    def unsupported(self, problem: str, fix: str = "") -> SpelUnsupported:
        return SpelUnsupported(
            self.expression,
            problem,
            fix
            or "rewrite it with our template helpers and Jinja expressions (docs/import.md, SpEL helper table) "
            "or compute the value elsewhere (vars, a generator field)",
        )

    # -- tokens ---------------------------------------------------------------------------------
    def peek(self, ahead: int = 0) -> str | None:
        index = self.pos + ahead
        return self.tokens[index][1] if index < len(self.tokens) else None

    def kind(self) -> str | None:
        return self.tokens[self.pos][0] if self.pos < len(self.tokens) else None

    def take(self) -> str:
        if self.pos >= len(self.tokens):
            raise self.unsupported("the expression ends too early")
        value = self.tokens[self.pos][1]
        self.pos += 1
        return value

    def expect(self, value: str) -> None:
        found = self.take()
        if found != value:
            raise self.unsupported(f"expected {value!r}, found {found!r}")

    # -- grammar (lowest precedence first) ------------------------------------------------------
    def ternary(self) -> Expr:
        condition = self.logical_or()
        if self.peek() == "?:":
            self.take()
            fallback = self.ternary()
            return Expr(f"{condition.operand()} | default({fallback.text}, true)", "any", atomic=False)
        if self.peek() == "?":
            self.take()
            yes = self.ternary()
            self.expect(":")
            no = self.ternary()
            kind = yes.kind if yes.kind == no.kind else "any"
            return Expr(f"{yes.operand()} if {condition.operand()} else {no.operand()}", kind, atomic=False)
        return condition

    def logical_or(self) -> Expr:
        left = self.logical_and()
        while self.peek() in ("or", "||"):
            self.take()
            right = self.logical_and()
            left = Expr(f"{left.operand()} or {right.operand()}", "bool", atomic=False)
        return left

    def logical_and(self) -> Expr:
        left = self.relational()
        while self.peek() in ("and", "&&"):
            self.take()
            right = self.relational()
            left = Expr(f"{left.operand()} and {right.operand()}", "bool", atomic=False)
        return left

    def relational(self) -> Expr:
        left = self.additive()
        op = self.peek()
        op = _WORD_OPS.get(op or "", op)
        if op in _COMPARE:
            self.take()
            right = self.additive()
            return Expr(f"{left.operand()} {op} {right.operand()}", "bool", atomic=False)
        if op == "matches":
            self.take()
            pattern = self.additive()
            if pattern.literal is None:
                raise self.unsupported("`matches` needs a string literal pattern", "use regexMatch(value, '^(?:...)$')")
            anchored = jinja_string(f"^(?:{pattern.literal})$")
            return Expr(f"regexMatch({left.text}, {anchored})", "bool")
        if op in ("instanceof", "between"):
            raise self.unsupported(f"the {op} operator is not translated")
        return left

    def additive(self) -> Expr:
        left = self.multiplicative()
        while self.peek() in ("+", "-"):
            op = self.take()
            right = self.multiplicative()
            if op == "+" and "str" in (left.kind, right.kind):
                left = Expr(f"{left.operand()} ~ {right.operand()}", "str", atomic=False)
            else:
                kind = "num" if left.kind == right.kind == "num" else "any"
                left = Expr(f"{left.operand()} {op} {right.operand()}", kind, atomic=False)
        return left

    def multiplicative(self) -> Expr:
        left = self.unary()
        while _WORD_OPS.get(self.peek() or "", self.peek()) in ("*", "/", "%", "^"):
            token = self.take()
            op = _WORD_OPS.get(token, token)
            right = self.unary()
            op = "**" if op == "^" else op
            left = Expr(f"{left.operand()} {op} {right.operand()}", "num", atomic=False)
        return left

    def unary(self) -> Expr:
        if self.peek() in ("!", "not"):
            self.take()
            return Expr(f"not {self.unary().operand()}", "bool", atomic=False)
        if self.peek() == "-":
            self.take()
            return Expr(f"-{self.unary().operand()}", "num", atomic=False)
        if self.peek() == "+":
            self.take()
        return self.postfix(self.primary())

    def postfix(self, expr: Expr) -> Expr:
        while True:
            token = self.peek()
            if token == ".":
                self.take()
                if self.kind() != "name":
                    raise self.unsupported(f"expected a property name after {expr.text!r}.")
                name = self.take()
                if self.peek() == "(":
                    self.method(expr, name)
                expr = Expr(f"{expr.operand()}.{name}")
            elif token == "[":
                self.take()
                index = self.ternary()
                self.expect("]")
                expr = Expr(f"{expr.operand()}[{index.text}]")
            elif token == "?.":
                raise self.unsupported("safe navigation (?.) is not translated", "use `| default(...)` on the value")
            elif token in (".?[", ".![", ".^[", ".$["):
                raise self.unsupported("collection selection and projection are not translated")
            else:
                return expr

    def method(self, target: Expr, name: str) -> None:
        raise self.unsupported(
            f"the method call {target.text}.{name}(...) is not translated (eval may only call the registered "
            "#functions)",
            "use a helper (uuid, randInt, md5, ...), a Jinja filter, or plain property access",
        )

    def primary(self) -> Expr:
        kind, token = self.kind(), self.take()
        if kind == "str":
            return self._string(token)
        if kind == "hole":
            return Expr(f"({self.holes[int(token[1:-1])]})")
        if kind == "num":
            return Expr(self._number(token), "num")
        if token == "(":
            inner = self.ternary()
            self.expect(")")
            return Expr(f"({inner.text})", inner.kind)
        if token == "#":
            return self.function()
        if kind == "name":
            return self.name(token)
        if token == "{":
            raise self.unsupported("inline lists and maps are not translated")
        if token in ("@", "&"):
            raise self.unsupported("bean references are not available in the sandbox")
        raise self.unsupported(f"unexpected {token!r}")

    def _string(self, token: str) -> Expr:
        """A string literal; one with computed parts (holes) is their concatenation: 'id-' ~ value."""
        value = token[1:-1].replace(token[0] * 2, token[0])
        if HOLE.search(value):
            return Expr(interpolated(value, self.holes, jinja_string), "str", atomic=False)
        return Expr(jinja_string(value), "str", literal=value)

    @staticmethod
    def _number(token: str) -> str:
        text = token.rstrip("lLfFdD") if not token.lower().startswith("0x") else token.rstrip("lL")
        return str(int(text, 16)) if text.lower().startswith("0x") else text

    def name(self, token: str) -> Expr:
        if token.lower() in _LITERALS:
            return _LITERALS[token.lower()]
        if token == "T" and self.peek() == "(":
            raise self.unsupported(
                "type references (T(...)) reach Java classes and are not available",
                "use one of our helpers instead (now(), dateFormat, randInt, uuid, ...; docs/import.md lists them)",
            )
        if token == "new":
            raise self.unsupported("constructors (new ...) are not available", "use a helper or a literal")
        if token not in _ROOTS:
            raise self.unsupported(
                f"unknown name {token!r} (eval reads payload, payloadAsJson, headers, workItem, vars, now, nowIso)",
                "refer to one of those roots, e.g. vars.x or headers['x-ph-call-id']",
            )
        if token == "vars":
            self._note_var()
        if token == "payload":
            bare = self.peek() not in (".", "[")
            return Expr("payloadRaw" if bare and self.raw_payload else "payload", "str" if bare else "any")
        if token == "workItem" and (self.peek(), self.peek(1), self.peek(2)) == (".", "payload", "("):
            self.pos += 3
            self.expect(")")
            return Expr("payloadRaw", "str")
        return _RENAMED_ROOTS.get(token, Expr(token))

    def _note_var(self) -> None:
        if self.peek() == "." and self.pos + 1 < len(self.tokens) and self.tokens[self.pos + 1][0] == "name":
            self.vars.add(self.tokens[self.pos + 1][1])
        elif self.peek() == "[" and self.pos + 1 < len(self.tokens) and self.tokens[self.pos + 1][0] == "str":
            literal = self.tokens[self.pos + 1][1]
            self.vars.add(literal[1:-1])

    def function(self) -> Expr:
        if self.kind() == "hole":
            raise self.unsupported(
                "the function's name is computed at run time, so which helper it calls is unknown",
                "name the helper in the text (#sha256_hex(...), #md5_hex(...)) and compute only its arguments",
            )
        if self.kind() != "name":
            raise self.unsupported("expected a function name after #")
        name = self.take()
        if self.peek() != "(":
            raise self.unsupported(f"the variable #{name} is not available (only #functions can be called)")
        self.take()
        args: list[Expr] = []
        while self.peek() != ")":
            args.append(self.ternary())
            if self.peek() == ",":
                self.take()
            elif self.peek() != ")":
                raise self.unsupported(f"expected ',' or ')' in the arguments of #{name}, found {self.peek()!r}")
        self.take()
        if name == "resetSequence":
            raise self.unsupported(
                "#resetSequence has no template helper (our counters are only reset outside templates)",
                "delete the counter key in Redis instead: DEL hivekeeper:seq:<key>",
            )
        if name not in HELPERS:
            known = ", ".join(f"#{n}" for n in HELPERS)
            raise self.unsupported(f"#{name} is not a registered function (known: {known})")
        ours, fewest, most, kind = HELPERS[name]
        if not fewest <= len(args) <= most:
            wanted = str(fewest) if fewest == most else f"{fewest} to {most}"
            raise self.unsupported(f"#{name} takes {wanted} arguments, got {len(args)}")
        if ours in DATE_HELPERS and args[-1].literal is not None:
            self.date_patterns.append(args[-1].literal)
        return Expr(f"{ours}({', '.join(a.text for a in args)})", kind)
