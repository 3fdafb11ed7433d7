"""Running a CRD's CEL rules (``x-kubernetes-validations``) on a manifest, as the API server does.

The API server defaults the object from the schema, then evaluates every rule at its schema location
with ``self`` bound to the value there (each item, for rules under ``items``). Property names that are CEL
keywords or hold ``-``, ``.``, ``/`` or ``__`` are escaped (``work.in`` is ``work.__in__``), fields the
schema does not declare are pruned, and ``number`` fields are doubles. This module does the same and
evaluates the rules with Google's CEL implementation (``cel-expr-python``, docs/decisions/0005-cel-library.md)
with the extensions Kubernetes enables: strings, math, optional, encoders, plus the Kubernetes list and
regex functions (``isSorted``, ``sum``, ``min``, ``max``, ``find``, ``findAll``). Transition rules (those using
``oldSelf``) need the stored object, so they are skipped and reported as such.
"""

from __future__ import annotations

import copy
import itertools
import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from typing import Any

from hivekeeper.validate.locate import Path

CEL_RESERVED = frozenset(
    {"true", "false", "null", "in", "as", "break", "const", "continue", "else", "for", "function", "if", "import"}
    | {"let", "loop", "package", "namespace", "return", "var", "void", "while"}
)
_ESCAPABLE = re.compile(r"^[a-zA-Z_.\-/][a-zA-Z0-9_.\-/]*$")
_OLD_SELF = re.compile(r"\boldSelf\b")


class CelUnavailable(RuntimeError):
    """No CEL implementation is installed (cel-expr-python has no wheel for this platform)."""


@dataclass(frozen=True)
class RuleFailure:
    """A rule that does not hold (``error`` is None) or could not be evaluated (``error`` says why)."""

    path: Path
    rule: str
    message: str
    error: str | None = None


@dataclass(frozen=True)
class SkippedRule:
    path: Path
    rule: str
    reason: str


def escape(name: str) -> str | None:
    """The CEL name of a schema property (Kubernetes' escaping), or None when CEL cannot reach it."""
    if name in CEL_RESERVED:
        return f"__{name}__"
    if not _ESCAPABLE.match(name):
        return None
    return (
        name.replace("__", "__underscores__").replace(".", "__dot__").replace("-", "__dash__").replace("/", "__slash__")
    )


def apply_defaults(schema: dict[str, Any], value: Any) -> Any:
    """A copy of ``value`` with the schema's defaults filled in, the way the API server stores it."""
    value = copy.deepcopy(value)
    _default(schema, value)
    return value


def _default(schema: dict[str, Any], value: Any) -> None:
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        for name, child in properties.items():
            if name not in value and "default" in child:
                value[name] = copy.deepcopy(child["default"])
        for name, item in value.items():
            if name in properties:
                _default(properties[name], item)
            elif isinstance(schema.get("additionalProperties"), dict):
                _default(schema["additionalProperties"], item)
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for item in value:
            _default(schema["items"], item)


def cel_value(schema: dict[str, Any], value: Any) -> Any:
    """``value`` as the API server shows it to CEL: escaped names, pruned unknown fields, typed numbers."""
    kind = schema.get("type")
    if isinstance(value, dict) and "properties" in schema:
        out = {}
        for name, item in value.items():
            child = schema["properties"].get(name)
            escaped = escape(name)
            if child is not None and escaped is not None:
                out[escaped] = cel_value(child, item)
        return out
    if isinstance(value, dict) and isinstance(schema.get("additionalProperties"), dict):
        return {name: cel_value(schema["additionalProperties"], item) for name, item in value.items()}
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        return [cel_value(schema["items"], item) for item in value]
    if kind == "number" and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


def rules(schema: dict[str, Any], path: Path = ()) -> Iterator[tuple[Path, dict[str, Any]]]:
    """Every rule of ``schema`` with its schema location (``"[]"`` stands for any item, ``"*"`` any key)."""
    for rule in schema.get("x-kubernetes-validations", []):
        yield path, rule
    for name, child in schema.get("properties", {}).items():
        yield from rules(child, (*path, name))
    if isinstance(schema.get("additionalProperties"), dict):
        yield from rules(schema["additionalProperties"], (*path, "*"))
    if isinstance(schema.get("items"), dict):
        yield from rules(schema["items"], (*path, "[]"))


def check(schema: dict[str, Any], value: Any, path: Path = ()) -> tuple[list[RuleFailure], list[SkippedRule]]:
    """Evaluate every rule of ``schema`` against ``value`` (already defaulted, see :func:`apply_defaults`)."""
    failures: list[RuleFailure] = []
    skipped: list[SkippedRule] = []
    _walk(schema, value, path, failures, skipped)
    return failures, skipped


def _fits(schema: dict[str, Any], value: Any) -> bool:
    """Whether ``value`` has the schema's type (rules are not run on values the schema already refuses)."""
    kind = schema.get("type")
    if kind == "object":
        return isinstance(value, dict)
    if kind == "array":
        return isinstance(value, list)
    return value is not None


def _walk(
    schema: dict[str, Any], value: Any, path: Path, failures: list[RuleFailure], skipped: list[SkippedRule]
) -> None:
    if not _fits(schema, value):
        return
    for rule in schema.get("x-kubernetes-validations", []):
        _evaluate(rule, schema, value, path, failures, skipped)
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        extra = schema.get("additionalProperties")
        for name, item in value.items():
            if name in properties:
                _walk(properties[name], item, (*path, name), failures, skipped)
            elif isinstance(extra, dict):
                _walk(extra, item, (*path, name), failures, skipped)
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for index, item in enumerate(value):
            _walk(schema["items"], item, (*path, index), failures, skipped)


def _evaluate(
    rule: dict[str, Any],
    schema: dict[str, Any],
    value: Any,
    path: Path,
    failures: list[RuleFailure],
    skipped: list[SkippedRule],
) -> None:
    text = str(rule.get("rule", ""))
    if _OLD_SELF.search(text) or rule.get("optionalOldSelf"):
        skipped.append(SkippedRule(path, text, "a transition rule (oldSelf) needs the stored object"))
        return
    try:
        program = compiled(text)
    except ValueError as exc:
        skipped.append(SkippedRule(path, text, f"the rule does not compile here: {exc}"))
        return
    where = (*path, *field_path(str(rule.get("fieldPath", ""))))
    self_value = cel_value(schema, value)
    outcome = program.run(self_value)
    if outcome is True:
        return
    if isinstance(outcome, str):  # an evaluation error: the API server refuses the object too
        failures.append(RuleFailure(where, text, str(rule.get("message") or text), error=outcome))
        return
    failures.append(RuleFailure(where, text, _message(rule, self_value)))


def _message(rule: dict[str, Any], self_value: Any) -> str:
    expression = rule.get("messageExpression")
    if expression:
        try:
            shown = compiled(str(expression)).run(self_value)
        except ValueError:
            shown = None
        if isinstance(shown, str) and shown.strip() and not shown.startswith("error: "):
            return shown
    return str(rule.get("message") or f"failed rule: {rule.get('rule')}")


_FIELD = re.compile(r"\.([A-Za-z_][A-Za-z0-9_]*)|\[['\"]([^'\"]*)['\"]\]|\[(\d+)\]")


def field_path(text: str) -> Path:
    """``.spec.roles[0]['x-y']`` -> ``("spec", "roles", 0, "x-y")`` (a rule's ``fieldPath``)."""
    parts: list[str | int] = []
    for match in _FIELD.finditer(text):
        name, quoted, index = match.groups()
        parts.append(int(index) if index is not None else (name if name is not None else quoted))
    return tuple(parts)


class Program:
    """One compiled rule; :meth:`run` gives True/False, another value, or an error text."""

    def __init__(self, expression: Any) -> None:
        self._expression = expression

    def run(self, self_value: Any) -> Any:
        from cel_expr_python import cel

        try:
            result = self._expression.eval(data={"self": self_value})
        except RuntimeError as exc:
            return f"error: {exc}"
        if result.type() == cel.Type.ERROR:
            return f"error: {result.value()}"
        return result.plain_value()


@cache
def compiled(expression: str) -> Program:
    """The compiled program of ``expression``; raises ValueError when it does not compile."""
    try:
        return Program(_environment().compile(expression))
    except RuntimeError as exc:
        raise ValueError(" ".join(str(exc).split())) from exc


def available() -> bool:
    try:
        _environment()
    except CelUnavailable:
        return False
    return True


@cache
def _environment() -> Any:
    try:
        from cel_expr_python import cel
        from cel_expr_python.ext import ext_encoders, ext_math, ext_optional, ext_strings
    except ImportError as exc:
        raise CelUnavailable(
            "cel-expr-python is not installed (it has no wheel for this platform): CEL rules are not checked"
        ) from exc

    def member(name: str, result: Any, params: list[Any], impl: Any) -> Any:
        return cel.FunctionDecl(name, [cel.Overload(f"hk_{name}", result, params, is_member=True, impl=impl)])

    any_list = cel.Type.List(cel.Type.DYN)
    kubernetes = [  # the Kubernetes list and regex libraries (k8s.io/apiserver/pkg/cel/library)
        member("isSorted", cel.Type.BOOL, [any_list], _is_sorted),
        member("sum", cel.Type.DYN, [any_list], sum),
        member("min", cel.Type.DYN, [any_list], _least),
        member("max", cel.Type.DYN, [any_list], _greatest),
        member("find", cel.Type.STRING, [cel.Type.STRING, cel.Type.STRING], _find),
        member("findAll", cel.Type.List(cel.Type.STRING), [cel.Type.STRING, cel.Type.STRING], _find_all),
    ]
    return cel.NewEnv(
        variables={"self": cel.Type.DYN, "oldSelf": cel.Type.DYN},
        extensions=[
            ext_strings.ExtStrings(),
            ext_math.ExtMath(),
            ext_optional.ExtOptional(),
            ext_encoders.ExtEncoders(),
        ],
        functions=kubernetes,
    )


def _is_sorted(items: list[Any]) -> bool:
    return all(a <= b for a, b in itertools.pairwise(items))


def _least(items: list[Any]) -> Any:
    if not items:
        raise ValueError("min called on an empty list")
    return min(items)


def _greatest(items: list[Any]) -> Any:
    if not items:
        raise ValueError("max called on an empty list")
    return max(items)


def _find(text: str, pattern: str) -> str:
    match = re.search(pattern, text)
    return match.group(0) if match else ""


def _find_all(text: str, pattern: str) -> list[str]:
    return [match.group(0) for match in re.finditer(pattern, text)]
