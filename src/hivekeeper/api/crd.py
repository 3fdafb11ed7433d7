"""CustomResourceDefinitions generated from the API models (pure; ``make crds`` writes them).

Pydantic emits JSON Schema with ``$ref``/``$defs``, ``anyOf`` for optional fields and ``const`` for
single literals; Kubernetes wants a *structural* OpenAPI v3 schema: everything inlined, a ``type`` on
every node (or ``x-kubernetes-preserve-unknown-fields`` for free-form config), no ``anyOf`` around
nullables. :func:`structural` does that translation and keeps descriptions, defaults, bounds,
patterns and the CEL rules the models carry.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

from pydantic import BaseModel

from hivekeeper.api import GROUP, VERSION
from hivekeeper.api.pod_template import K8S_ITEMS, K8S_TYPE
from hivekeeper.api.swarm import SwarmSpec, SwarmStatus
from hivekeeper.api.workerrole import WorkerRoleSpec, WorkerRoleStatus
from hivekeeper.errors import InvalidInput

CATEGORY = "hivekeeper"
_KEEP = (
    "description",
    "type",
    "format",
    "pattern",
    "enum",
    "default",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "minLength",
    "maxLength",
    "minItems",
    "maxItems",
    "maxProperties",
    "x-kubernetes-validations",
)


class SchemaError(InvalidInput, ValueError):
    """A model uses a construct that has no structural OpenAPI form."""


def _resolve(node: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    if "$ref" in node:
        target = defs[node["$ref"].rsplit("/", 1)[-1]]
        merged = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
        return _resolve(merged, defs)
    return node


@cache
def k8s_types() -> dict[str, Any]:
    """The Kubernetes pod types vendored by ``tools/k8s_types.py`` (structural schemas, by type name)."""
    text = resources.files("hivekeeper.api").joinpath("k8s_types.json").read_text()
    types: dict[str, Any] = json.loads(text)["types"]
    return types


def _k8s_schema(node: dict[str, Any], where: str) -> dict[str, Any] | None:
    """The vendored Kubernetes schema a field names (``K8S_TYPE``, or ``K8S_ITEMS`` for a list), with the field's
    own description and bounds; None for any other field."""
    own: dict[str, Any] = {key: node[key] for key in ("description", "maxItems", "minItems") if key in node}
    if K8S_TYPE in node:
        return {**k8s_types()[node[K8S_TYPE]], **own}
    if K8S_ITEMS in node:
        return {"type": "array", "items": k8s_types()[node[K8S_ITEMS]], **own}
    return None


def _unwrap_optional(node: dict[str, Any], defs: dict[str, Any], where: str) -> dict[str, Any]:
    """``X | None`` as X (a CRD field is optional by leaving it out); any other union has no structural form."""
    options = [o for o in node["anyOf"] if o != {"type": "null"}]
    if len(options) != 1:
        raise SchemaError(f"{where or '(root)'}: a union of {len(options)} types has no structural form")
    inner = {**node, **_resolve(options[0], defs)}
    inner.pop("anyOf")
    if "description" in node:
        inner["description"] = node["description"]
    if inner.get("default", ...) is None:
        inner.pop("default")
    return inner


def structural(node: dict[str, Any], defs: dict[str, Any], where: str = "") -> dict[str, Any]:
    """Translate one JSON-Schema node (from pydantic) into a structural OpenAPI v3 node."""
    node = _resolve(node, defs)
    if "anyOf" in node:
        return structural(_unwrap_optional(node, defs, where), defs, where)
    vendored = _k8s_schema(node, where)
    if vendored is not None:
        return vendored
    out = {key: node[key] for key in _KEEP if key in node}
    if "const" in node:
        out["enum"] = [node["const"]]
        out.setdefault("type", "string")
    if node.get("type") == "object" or "properties" in node:
        out["type"] = "object"
        properties = node.get("properties", {})
        if properties:
            out["properties"] = {name: structural(child, defs, f"{where}.{name}") for name, child in properties.items()}
            if node.get("required"):
                out["required"] = list(node["required"])
        extra = node.get("additionalProperties")
        if isinstance(extra, dict) and extra:
            out["additionalProperties"] = structural(extra, defs, f"{where}.*")
        elif not properties:
            out["x-kubernetes-preserve-unknown-fields"] = True
    elif node.get("type") == "array":
        out["items"] = structural(node.get("items", {}), defs, f"{where}[]")
    elif "type" not in out and "enum" not in out:
        out["x-kubernetes-preserve-unknown-fields"] = True  # Any: free-form, kept as sent
    return out


def model_schema(model: type[BaseModel]) -> dict[str, Any]:
    schema = model.model_json_schema(by_alias=True)
    defs = schema.pop("$defs", {})
    root = structural(schema, defs, model.__name__)
    if model.__doc__:
        root["description"] = " ".join(model.__doc__.split())
    return root


def _list_maps(schema: dict[str, Any], paths: list[tuple[str, ...]], key: str) -> None:
    """Mark lists whose entries are identified by ``key`` (server-side apply merges them by it)."""
    for path in paths:
        node = schema
        for part in path:
            node = node["properties"][part]
        node["x-kubernetes-list-type"] = "map"
        node["x-kubernetes-list-map-keys"] = [key]
        node["items"].setdefault("required", [])
        if key not in node["items"]["required"]:
            node["items"]["required"].append(key)


def _resource(
    kind: str,
    plural: str,
    short: str,
    spec: type[BaseModel],
    status: type[BaseModel],
    description: str,
    columns: list[dict[str, Any]],
    scale: bool,
) -> dict[str, Any]:
    spec_schema = model_schema(spec)
    status_schema = model_schema(status)
    _list_maps(status_schema, [("conditions",)], "type")
    root = {
        "type": "object",
        "description": description,
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": {"type": "object"},
            "spec": spec_schema,
            "status": status_schema,
        },
        "required": ["spec"],
    }
    subresources: dict[str, Any] = {"status": {}}
    if scale:
        subresources["scale"] = {
            "specReplicasPath": ".spec.replicas",
            "statusReplicasPath": ".status.replicas",
            "labelSelectorPath": ".status.selector",
        }
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{GROUP}", "labels": {"app.kubernetes.io/part-of": "hivekeeper"}},
        "spec": {
            "group": GROUP,
            "scope": "Namespaced",
            "names": {
                "kind": kind,
                "listKind": f"{kind}List",
                "plural": plural,
                "singular": kind.lower(),
                "shortNames": [short],
                "categories": [CATEGORY],
            },
            "versions": [
                {
                    "name": VERSION,
                    "served": True,
                    "storage": True,
                    "schema": {"openAPIV3Schema": root},
                    "subresources": subresources,
                    "additionalPrinterColumns": columns,
                }
            ],
        },
    }


def _ready(json_field: str) -> str:
    return f'.status.conditions[?(@.type=="Ready")].{json_field}'


def swarm_crd() -> dict[str, Any]:
    from hivekeeper.api.swarm import Swarm

    schema = _resource(
        "Swarm",
        "swarms",
        "sw",
        SwarmSpec,
        SwarmStatus,
        " ".join((Swarm.__doc__ or "").split()),
        columns=[
            {"name": "Ready", "type": "string", "jsonPath": _ready("status")},
            {
                "name": "Workers",
                "type": "string",
                "jsonPath": ".status.totals.workers",
                "description": "Ready/desired worker instances.",
            },
            {"name": "TPS", "type": "number", "jsonPath": ".status.totals.tps"},
            {"name": "Errors", "type": "integer", "jsonPath": ".status.totals.errors"},
            {
                "name": "Run",
                "type": "string",
                "jsonPath": ".status.run.phase",
                "description": "The phase of spec.run: Pending, Running, Succeeded or Failed.",
            },
            {
                "name": "Verdict",
                "type": "string",
                "jsonPath": ".status.run.verdict.result",
                "description": "Passed or Failed, once the run ended.",
            },
            {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
            {"name": "Status", "type": "string", "jsonPath": _ready("message"), "priority": 1},
            {"name": "Reason", "type": "string", "jsonPath": ".status.run.verdict.reason", "priority": 1},
        ],
        scale=False,
    )
    spec = schema["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]
    # spec.roles stays an atomic list: a duplicate name then meets our CEL rule and its clear message,
    # not the API server's generic "Duplicate value" of a list-map.
    _list_maps(spec["status"], [("roles",)], "name")
    _list_maps(spec["status"], [("queues",)], "name")
    return schema


def workerrole_crd() -> dict[str, Any]:
    from hivekeeper.api.workerrole import WorkerRole

    schema = _resource(
        "WorkerRole",
        "workerroles",
        "wr",
        WorkerRoleSpec,
        WorkerRoleStatus,
        " ".join((WorkerRole.__doc__ or "").split()),
        columns=[
            {"name": "Swarm", "type": "string", "jsonPath": ".spec.swarmRef"},
            {"name": "Role", "type": "string", "jsonPath": ".spec.role"},
            {"name": "Ready", "type": "integer", "jsonPath": ".status.readyReplicas"},
            {"name": "Desired", "type": "integer", "jsonPath": ".spec.replicas"},
            {
                "name": "Config",
                "type": "string",
                "jsonPath": ".status.appliedGeneration",
                "description": "Config generation every ready instance applied.",
            },
            {"name": "TPS", "type": "number", "jsonPath": ".status.tps"},
            {
                "name": "Restarts",
                "type": "integer",
                "jsonPath": ".status.restarts",
                "description": "Container restarts of the role's live pods.",
            },
            {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
            {
                "name": "Failure",
                "type": "string",
                "jsonPath": ".status.failures[0].reason",
                "description": "The role's most recent pod failure (OOMKilled, Evicted, ...).",
                "priority": 1,
            },
        ],
        scale=True,
    )
    status = schema["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["status"]
    _list_maps(status, [("instances",)], "name")
    return schema


def all_crds() -> dict[str, dict[str, Any]]:
    """File name -> CRD, in the order they should be applied."""
    return {"swarms.hivekeeper.io.yaml": swarm_crd(), "workerroles.hivekeeper.io.yaml": workerrole_crd()}


def render(crd: dict[str, Any]) -> str:
    import yaml

    header = "# Generated by `make crds` from src/hivekeeper/api; do not edit by hand.\n"
    return header + yaml.safe_dump(crd, sort_keys=False, width=120, allow_unicode=True)
