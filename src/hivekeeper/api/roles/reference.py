"""docs/roles.md, rendered from the role config models: every key of every built-in role, its type, bounds,
default, whether a running worker takes it live, and what it does.

Rendered, not written, so that the page cannot drift from what the workers accept: a unit test compares
the committed page with :func:`render` (``hivekeeper role-docs`` writes it). The CRD's description of
``roles[].config`` (``kubectl explain swarm.spec.roles.config``) points here.
"""

from __future__ import annotations

import types
from collections.abc import Iterator
from typing import Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from hivekeeper.api.roles import ROLES
from hivekeeper.api.roles.base import blank_is_unset
from hivekeeper.api.roles.common import COMMON_LIVE, CommonConfig
from hivekeeper.api.roles.definition import RoleDefinition

PAGE = "docs/roles.md"

_HEADER = """\
# Role configs

<!-- Generated from the models in src/hivekeeper/api/roles by `hivekeeper role-docs --out docs/roles.md`;
do not edit (a unit test fails when this page and the models differ). -->

The keys of `spec.roles[].config` (Swarm) and `spec.config` (WorkerRole), per built-in role. The same models
check a config everywhere: `hivekeeper validate` and `hivekeeper run` before anything starts, and each worker
on every config-update, with one located message (`spec.roles[1].config.threadCount: ...`). Keys are camelCase;
an unknown key is an error. A Swarm's `vars`, `sut`, `templates` and `deadLetter` are merged into every role's
config.

**Live** keys reach running workers as a config-update, without a restart; a **fixed** key cannot change while
a worker runs (the update is refused whole and the worker keeps its config): change it by rolling the role's
pods. Built-in roles: {roles}.
"""

_BOUNDS = (("ge", "≥"), ("gt", ">"), ("le", "≤"), ("lt", "<"))


def render() -> str:
    """The whole page."""
    roles = ", ".join(f"[`{name}`](#{name})" for name in ROLES)
    parts = [_HEADER.format(roles=roles)]
    parts.append("## Keys every role understands\n")
    parts.append(_table(CommonConfig, COMMON_LIVE, set()))
    for definition in ROLES.values():
        parts.append(_section(definition))
    return "\n".join(parts)


def _section(definition: RoleDefinition) -> str:
    model = definition.model
    lines = [f"## {definition.name}\n"]
    if model.__doc__:
        lines.append(" ".join(model.__doc__.split()) + "\n")
    lines.append(f"Input when `inputs.type` is not set: `{definition.default_input}`.\n")
    if definition.guide:
        lines.append(f"More: [{definition.guide}]({_relative(definition.guide)}).\n")
    lines.append(_table(model, definition.live, set(CommonConfig.model_fields)))
    return "\n".join(lines)


def _relative(link: str) -> str:
    return link.removeprefix("docs/")


def _table(model: type[BaseModel], live: frozenset[str], skip: set[str]) -> str:
    rows = ["| key | type | default | live | description |", "|---|---|---|---|---|"]
    for path, info, annotation in _fields(model, "", skip):
        taken = _liveness(path, live)
        cells = [f"`{path}`", _type(annotation, info), _default(info), taken, _description(info, annotation)]
        rows.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
    return "\n".join(rows) + "\n"


def _liveness(path: str, live: frozenset[str]) -> str:
    """``live``, ``fixed``, or ``partly`` for a block holding keys of both kinds."""
    plain = path.replace("[]", "").replace(".<name>", "")
    if any(plain == key or plain.startswith(f"{key}.") for key in live):
        return "live"
    return "partly" if any(key.startswith(f"{plain}.") for key in live) else "fixed"


def _fields(model: type[BaseModel], prefix: str, skip: set[str]) -> Iterator[tuple[str, FieldInfo, Any]]:
    for name, info in model.model_fields.items():
        if name in skip:
            continue
        path = f"{prefix}{name}"
        annotation = _without_none(info.annotation)
        yield path, info, annotation
        nested, suffix = _nested(annotation)
        if nested is not None:
            yield from _fields(nested, f"{path}{suffix}.", set())


def _nested(annotation: Any) -> tuple[type[BaseModel] | None, str]:
    """The model below a field (itself, a list's items or a map's values) and how its path continues."""
    if _is_model(annotation):
        return annotation, ""
    args = get_args(annotation)
    if get_origin(annotation) is list and args and _is_model(args[0]):
        return args[0], "[]"
    if get_origin(annotation) is dict and len(args) == 2 and _is_model(args[1]):
        return args[1], ".<name>"
    return None, ""


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def _without_none(annotation: Any) -> Any:
    if get_origin(annotation) in (Union, types.UnionType):
        rest = [arg for arg in get_args(annotation) if arg is not type(None)]
        if len(rest) == 1:
            return rest[0]
    return annotation


def _type(annotation: Any, info: FieldInfo) -> str:
    text = _type_name(annotation)
    bounds = [f"{sign} {getattr(m, attr)}" for m in info.metadata for attr, sign in _BOUNDS if hasattr(m, attr)]
    lengths = [
        f"{word} length {getattr(m, attr)}"
        for m in info.metadata
        for attr, word in (("min_length", "min"), ("max_length", "max"))
        if getattr(m, attr, None) is not None
    ]
    blank = ["blank = unset"] if any(getattr(m, "func", None) is blank_is_unset for m in info.metadata) else []
    return ", ".join([text, *bounds, *lengths, *blank])


def _type_name(annotation: Any) -> str:
    origin, args = get_origin(annotation), get_args(annotation)
    if origin is Literal:
        return " | ".join(f"`{value}`" for value in args)
    if origin is list:
        return f"list of {_type_name(args[0])}" if args else "list"
    if origin is dict:
        return "map"
    if _is_model(annotation):
        return "object"
    names = {str: "string", int: "integer", float: "number", bool: "boolean"}
    return names.get(annotation, "any")


def _default(info: FieldInfo) -> str:
    if info.is_required():
        return "required"
    if info.default_factory is not None:
        value = info.default_factory()  # type: ignore[call-arg]
        return "" if isinstance(value, BaseModel) else f"`{_json(value)}`"
    return f"`{_json(info.default)}`" if info.default is not PydanticUndefined else ""


def _json(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_json(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_json(v)}" for k, v in value.items()) + "}"
    return str(value)


def _description(info: FieldInfo, annotation: Any) -> str:
    if info.description:
        return info.description.replace("``", "`")
    nested, _ = _nested(annotation)
    if nested is not None and nested.__doc__:
        return " ".join(nested.__doc__.split()).replace("``", "`")
    return ""
