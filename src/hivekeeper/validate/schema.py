"""Step 1: the CRD's openAPIV3Schema, as the API server applies it with kubectl's strict field validation.

The schema is generated from the API models (:mod:`hivekeeper.api.crd`, the source of ``crds/``) and turned
into a JSON Schema validator once per kind (cached: :func:`hivekeeper.validate.review` runs on every
admission request).
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any

from jsonschema import Draft4Validator
from jsonschema.exceptions import ValidationError as SchemaError

from hivekeeper.api.crd import all_crds
from hivekeeper.api.swarm import _ALIAS_PATTERN
from hivekeeper.validate.paths import DocPath, field_name, show_path
from hivekeeper.validate.wording import WANTED, did_you_mean, show_value, type_name

if TYPE_CHECKING:
    from hivekeeper.validate.document import Document

KINDS = {"Swarm": "swarms.hivekeeper.io.yaml", "WorkerRole": "workerroles.hivekeeper.io.yaml"}
"""The kinds validate checks, and the file of ``crds/`` that declares each."""

_BOUNDS = {
    "minimum": ("at least", ""),
    "maximum": ("at most", ""),
    "minLength": ("at least", " characters long"),
    "maxLength": ("at most", " characters long"),
    "minItems": ("at least", " entries"),
    "maxItems": ("at most", " entries"),
}


@cache
def crd_schema(kind: str) -> dict[str, Any]:
    """The openAPIV3Schema of ``kind``, generated from the API models (the same source as crds/)."""
    crd = all_crds()[KINDS[kind]]
    schema: dict[str, Any] = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    return schema


@cache
def _json_schema_validator(kind: str) -> Draft4Validator:
    return Draft4Validator(json_schema(crd_schema(kind)))


def json_schema(node: dict[str, Any]) -> dict[str, Any]:
    """A structural schema as JSON Schema (draft 4) that also refuses undeclared fields, as kubectl's
    strict field validation does (the API server would otherwise prune them silently)."""
    out: dict[str, Any] = {
        key: value
        for key, value in node.items()
        if key not in ("properties", "items", "additionalProperties", "default", "description")
        and not key.startswith("x-")
    }
    if "properties" in node:
        out["properties"] = {name: json_schema(child) for name, child in node["properties"].items()}
        if "additionalProperties" not in node and not node.get("x-kubernetes-preserve-unknown-fields"):
            out["additionalProperties"] = False
    if isinstance(node.get("additionalProperties"), dict):
        out["additionalProperties"] = json_schema(node["additionalProperties"])
    if isinstance(node.get("items"), dict):
        out["items"] = json_schema(node["items"])
    return out


def schema_findings(doc: Document, data: dict[str, Any]) -> None:
    errors = sorted(_json_schema_validator(doc.kind).iter_errors(data), key=lambda e: [str(p) for p in e.path])
    for error in errors:
        _schema_finding(doc, error)


def _schema_finding(doc: Document, error: SchemaError) -> None:
    path: DocPath = tuple(error.absolute_path)
    value = error.instance
    rule = error.validator
    where = show_path(path) or "the document"
    name = field_name(path)
    schema = error.schema if isinstance(error.schema, dict) else {}
    wanted_value: Any = error.validator_value
    if rule == "additionalProperties" and isinstance(value, dict):
        known = list(schema.get("properties", {}))
        for extra in value:
            if extra in known:
                continue
            doc.add(
                "error",
                "unknown-field",
                (*path, extra),
                f"unknown field {extra!r} in {where} (kubectl's strict field validation refuses it; without it "
                "the API server would drop it silently)",
                f"{did_you_mean(extra, known)}remove it or fix the spelling; the fields here are: {', '.join(known)}",
            )
        return
    if rule == "required":
        for missing in wanted_value:
            if isinstance(value, dict) and missing not in value:
                doc.add(
                    "error",
                    "schema-required",
                    (*path, missing),
                    f"{where} has no {missing!r}, which is required",
                    f"add {missing}: to {where}",
                )
        return
    if rule == "type":
        wanted = WANTED.get(str(error.validator_value), str(error.validator_value))
        hint = ""
        if isinstance(value, str) and error.validator_value in ("integer", "number", "boolean"):
            hint = " (without quotes)"
        doc.add(
            "error",
            "schema-type",
            path,
            f"{name} is {type_name(value)} ({show_value(value)}), but must be {wanted}",
            f"write {wanted}{hint}",
        )
        return
    if rule == "enum":
        allowed = ", ".join(str(v) for v in wanted_value)
        doc.add(
            "error",
            "schema-enum",
            path,
            f"{name} is {show_value(value)}, which is not one of {allowed}",
            f"use one of: {allowed} (case matters)",
        )
        return
    if rule == "pattern":
        pattern = str(error.validator_value)
        explained = (
            "lowercase letters, digits and '-', starting and ending with a letter or digit"
            if pattern == _ALIAS_PATTERN
            else f"the pattern {pattern}"
        )
        doc.add(
            "error",
            "schema-pattern",
            path,
            f"{name} is {show_value(value)}, which does not match {pattern}",
            f"use {explained}",
        )
        return
    if rule in _BOUNDS:
        word, unit = _BOUNDS[str(rule)]
        size = f"{len(value)}{unit}" if isinstance(value, str | list) else show_value(value)
        doc.add(
            "error",
            "schema-range",
            path,
            f"{name} is {size}, but must be {word} {error.validator_value}{unit}",
            f"use a value {word} {error.validator_value}{unit}",
        )
        return
    doc.add("error", "schema-invalid", path, f"{name}: {error.message}", "change the value so the schema accepts it")
