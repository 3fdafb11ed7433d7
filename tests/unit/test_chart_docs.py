"""The Helm chart's generated files match their sources, and its values are checked by the generated schema."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import jsonschema
import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "helm" / "hivekeeper"


def _chart_docs() -> ModuleType:
    spec = importlib.util.spec_from_file_location("chart_docs", REPO / "tools" / "chart_docs.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["chart_docs"] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


chart_docs = _chart_docs()


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Helm's value merge: maps merge key by key, anything else is replaced."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def test_schema_readme_table_and_crd_copies_are_up_to_date_run_make_chart_docs() -> None:
    assert chart_docs.stale() == [], "run `make chart-docs` (or `make crds`) and commit the result"


def test_the_chart_crd_copies_are_byte_identical_to_crds() -> None:
    copies = sorted((CHART / "files" / "crds").glob("*.yaml"))
    assert [p.name for p in copies] == sorted(p.name for p in (REPO / "crds").glob("*.yaml"))
    for copy in copies:
        assert copy.read_bytes() == (REPO / "crds" / copy.name).read_bytes(), copy.name


def test_a_changed_crd_is_reported_as_drift(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    crds = tmp_path / "crds"
    crds.mkdir()
    for path in (REPO / "crds").glob("*.yaml"):
        (crds / path.name).write_text(path.read_text())
    (crds / "swarms.hivekeeper.io.yaml").write_text((crds / "swarms.hivekeeper.io.yaml").read_text() + "# edited\n")
    monkeypatch.setattr(chart_docs, "CRDS", crds)
    assert chart_docs.stale() == ["helm/hivekeeper/files/crds/swarms.hivekeeper.io.yaml"]


def test_a_changed_description_in_values_is_reported_as_drift(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    values = tmp_path / "values.yaml"
    values.write_text((CHART / "values.yaml").read_text().replace("Operator replicas.", "How many operators."))
    monkeypatch.setattr(chart_docs, "VALUES", values)
    assert sorted(chart_docs.stale()) == ["helm/hivekeeper/README.md", "helm/hivekeeper/values.schema.json"]


def test_an_undocumented_key_is_refused_with_its_path() -> None:
    text = "operator:\n  # -- Documented.\n  replicas: 1\n  undocumented: true\n"
    with pytest.raises(chart_docs.ChartDocsError, match=r"operator\.undocumented has no `# -- description`"):
        chart_docs.schema(yaml.safe_load(text), chart_docs.parse_docs(text))


def test_descriptions_continue_over_comment_lines_and_schema_annotations_apply() -> None:
    text = (
        '# -- First line\n# and the second.\n# @schema {"minimum": 1}\nreplicas: 2\n'
        '# -- (string) Shown as a string.\n# @default -- the release name\nname: ""\n'
    )
    docs = chart_docs.parse_docs(text)
    assert docs["replicas"].description == "First line and the second."
    generated = chart_docs.schema(yaml.safe_load(text), docs)
    assert generated["properties"]["replicas"] == {
        "type": "integer",
        "description": "First line and the second.",
        "minimum": 1,
    }
    table = chart_docs.table(yaml.safe_load(text), docs)
    assert "| `name` | string | the release name | Shown as a string. |" in table


def test_the_default_values_and_every_scenario_file_satisfy_the_schema() -> None:
    schema = json.loads((CHART / "values.schema.json").read_text())
    defaults = yaml.safe_load((CHART / "values.yaml").read_text())
    jsonschema.validate(defaults, schema)
    scenarios = sorted((CHART / "ci").glob("*-values.yaml"))
    assert len(scenarios) >= 6
    for scenario in scenarios:
        jsonschema.validate(_merge(defaults, yaml.safe_load(scenario.read_text())), schema)


def test_the_schema_refuses_a_misspelt_key_and_a_bad_namespace_name() -> None:
    schema = json.loads((CHART / "values.schema.json").read_text())
    defaults = yaml.safe_load((CHART / "values.yaml").read_text())
    with pytest.raises(jsonschema.ValidationError, match="'replica' was unexpected"):
        jsonschema.validate(_merge(defaults, {"operator": {"replica": 2}}), schema)
    with pytest.raises(jsonschema.ValidationError, match="does not match"):
        jsonschema.validate(_merge(defaults, {"watchNamespaces": ["Perf_Team"]}), schema)


def test_every_documented_key_is_in_the_readme_table() -> None:
    readme = (CHART / "README.md").read_text()
    docs = chart_docs.parse_docs((CHART / "values.yaml").read_text())
    assert len(docs) > 50
    for path in docs:
        assert f"| `{path}` |" in readme, path
