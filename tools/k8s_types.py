"""Vendor the Kubernetes pod types a role's ``pod`` block uses, as structural schemas, from the Kubernetes release
the bench runs (``tests/support/k8s/go.mod``).

The source is that release's own OpenAPI v3 document (``api/openapi-spec/v3/api__v1_openapi.json`` in the
``k8s.io/kubernetes`` module, Apache-2.0), so ``tolerations``, ``affinity`` and the rest of ``spec.pod`` take
exactly the fields, types and enums the API server's PodSpec takes, with its descriptions for ``kubectl explain``.
Each type is inlined (a CRD schema has no ``$ref``) and made structural: ``default`` is dropped (the API server
would otherwise write ``{}`` into every object that leaves a field out), and only the keywords a CRD schema
allows are kept. The result is ``src/hivekeeper/api/k8s_types.json``, which ``hivekeeper.api.crd`` reads.

    python tools/k8s_types.py           # write the file (needs the module in the Go module cache)
    python tools/k8s_types.py --check   # exit 1 when the vendored file differs from the release's types
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "src" / "hivekeeper" / "api" / "k8s_types.json"
GO_MOD = REPO / "tests" / "support" / "k8s" / "go.mod"
SPEC = "api/openapi-spec/v3/api__v1_openapi.json"
TYPES = (
    "Affinity",
    "Toleration",
    "TopologySpreadConstraint",
    "LocalObjectReference",
    "SecurityContext",
    "PodSecurityContext",
)
KEEP = (
    "description",
    "type",
    "format",
    "enum",
    "minimum",
    "maximum",
    "minLength",
    "maxLength",
    "minItems",
    "maxItems",
    "pattern",
    "x-kubernetes-int-or-string",
    "x-kubernetes-list-type",
    "x-kubernetes-list-map-keys",
    "x-kubernetes-map-type",
)


def release() -> str:
    found = re.search(r"^require k8s\.io/kubernetes (v\S+)$", GO_MOD.read_text(), re.MULTILINE)
    if found is None:
        raise SystemExit(f"{GO_MOD}: no `require k8s.io/kubernetes vX.Y.Z` line")
    return found.group(1)


def module_dir(version: str) -> Path:
    """The module's directory in the Go module cache, downloaded first when it is not there."""
    done = subprocess.run(
        ["go", "mod", "download", "-json", f"k8s.io/kubernetes@{version}"],
        cwd=GO_MOD.parent,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "GOTOOLCHAIN": "local", "GOFLAGS": "-mod=mod"},
    )
    if done.returncode != 0:
        raise SystemExit(f"go mod download k8s.io/kubernetes@{version} failed: {done.stderr.strip() or done.stdout}")
    path = Path(json.loads(done.stdout)["Dir"])
    if not (path / SPEC).is_file():
        raise SystemExit(f"{path / SPEC} is missing from k8s.io/kubernetes {version}")
    return path


def inline(node: Any, schemas: dict[str, Any], seen: tuple[str, ...] = ()) -> Any:
    """``node`` with every ``$ref`` (and one-element ``allOf``, OpenAPI v3's way of a described ref) inlined."""
    if isinstance(node, list):
        return [inline(item, schemas, seen) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        name = node["$ref"].rsplit("/", 1)[-1]
        if name in seen:
            raise SystemExit(f"{name} refers to itself: a CRD schema cannot hold it")
        return inline({**schemas[name], **{k: v for k, v in node.items() if k != "$ref"}}, schemas, (*seen, name))
    if "allOf" in node and len(node["allOf"]) == 1:
        rest = {k: v for k, v in node.items() if k != "allOf"}
        return inline({**node["allOf"][0], **rest}, schemas, seen)
    return {key: inline(value, schemas, seen) for key, value in node.items()}


def structural(node: dict[str, Any]) -> dict[str, Any]:
    out = {key: node[key] for key in KEEP if key in node}
    if "properties" in node:
        out["type"] = "object"
        out["properties"] = {name: structural(child) for name, child in sorted(node["properties"].items())}
        if node.get("required"):
            out["required"] = sorted(node["required"])
    extra = node.get("additionalProperties")
    if isinstance(extra, dict):
        out["additionalProperties"] = structural(extra)
    if "items" in node:
        out["items"] = structural(node["items"])
    return out


def generate() -> dict[str, Any]:
    version = release()
    document = json.loads((module_dir(version) / SPEC).read_text())
    schemas = document["components"]["schemas"]
    types = {name: structural(inline(schemas[f"io.k8s.api.core.v1.{name}"], schemas)) for name in TYPES}
    return {"source": f"k8s.io/kubernetes {version} {SPEC}", "types": types}


def main(argv: list[str]) -> int:
    text = json.dumps(generate(), indent=1, sort_keys=True) + "\n"
    if "--check" in argv:
        if not OUT.is_file() or OUT.read_text() != text:
            print(f"{OUT.relative_to(REPO)} is stale: run `python tools/k8s_types.py`", file=sys.stderr)
            return 1
        return 0
    OUT.write_text(text)
    print(f"wrote {OUT.relative_to(REPO)} ({len(text)} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
