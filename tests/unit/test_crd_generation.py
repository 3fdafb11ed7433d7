"""The CRDs in crds/ are generated from the API models, structural, and carry the invariants as CEL rules."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hivekeeper.api.crd import all_crds, render

CRDS = Path(__file__).resolve().parents[2] / "crds"


def test_crds_match_the_models_run_make_crds_to_update() -> None:
    for name, crd in all_crds().items():
        assert (CRDS / name).read_text() == render(crd), f"crds/{name} is stale: run `make crds`"
    assert sorted(p.name for p in CRDS.glob("*.yaml")) == sorted(all_crds())


def _walk(node: dict[str, Any], path: str = "") -> list[tuple[str, dict[str, Any]]]:
    found = [(path, node)]
    for name, child in node.get("properties", {}).items():
        found += _walk(child, f"{path}.{name}")
    if "items" in node:
        found += _walk(node["items"], f"{path}[]")
    if isinstance(node.get("additionalProperties"), dict):
        found += _walk(node["additionalProperties"], f"{path}.*")
    return found


def test_every_schema_node_is_structural() -> None:
    for crd in all_crds().values():
        root = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
        for path, node in _walk(root):
            assert not {"$ref", "anyOf", "oneOf", "allOf", "const", "title"} & set(node), path
            assert "type" in node or node.get("x-kubernetes-preserve-unknown-fields"), f"{path} has no type"


def test_names_categories_subresources_and_columns() -> None:
    swarm, workerrole = all_crds().values()
    assert swarm["spec"]["names"]["shortNames"] == ["sw"]
    assert workerrole["spec"]["names"]["shortNames"] == ["wr"]
    assert swarm["spec"]["names"]["categories"] == workerrole["spec"]["names"]["categories"] == ["hivekeeper"]
    scale = workerrole["spec"]["versions"][0]["subresources"]["scale"]
    assert scale == {
        "specReplicasPath": ".spec.replicas",
        "statusReplicasPath": ".status.replicas",
        "labelSelectorPath": ".status.selector",
    }
    selector = workerrole["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["status"]["properties"][
        "selector"
    ]
    assert selector["type"] == "string"
    columns = [c["name"] for c in swarm["spec"]["versions"][0]["additionalPrinterColumns"]]
    assert columns == ["Ready", "Workers", "TPS", "Errors", "Run", "Verdict", "Age", "Status", "Reason"]


def test_role_config_is_free_form_and_explained() -> None:
    swarm = all_crds()["swarms.hivekeeper.io.yaml"]
    roles = swarm["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]["roles"]
    config = roles["items"]["properties"]["config"]
    assert config["x-kubernetes-preserve-unknown-fields"] is True
    assert "config-update" in config["description"]
    assert roles["maxItems"] == 32, "CEL rules over lists need a bound for the API server's cost estimate"
