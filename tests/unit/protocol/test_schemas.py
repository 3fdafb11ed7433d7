"""The published JSON Schemas are generated from the models and stay in step with them."""

from __future__ import annotations

from pathlib import Path

import orjson

from hivekeeper.protocol.schemas import render, schemas

DOCS = Path(__file__).resolve().parents[3] / "docs" / "schemas"


def test_docs_schemas_match_the_models_run_make_schemas_to_update() -> None:
    for name, schema in schemas().items():
        assert (DOCS / name).read_bytes() == render(schema), f"docs/schemas/{name} is stale: run `make schemas`"


def test_every_envelope_field_is_required_on_the_wire_and_runtime_on_all_but_signals() -> None:
    schema = schemas()["control-envelope.schema.json"]
    assert schema["required"] == sorted(
        ["timestamp", "version", "kind", "type", "origin", "scope", "correlationId", "idempotencyKey", "data"]
    )
    assert schema["additionalProperties"] is False
    assert schema["then"] == {"not": {"required": ["runtime"]}}, "a signal has no runtime key"
    assert schema["else"] == {"required": ["runtime"]}
    assert orjson.loads(render(schema))["$schema"].endswith("2020-12/schema")
