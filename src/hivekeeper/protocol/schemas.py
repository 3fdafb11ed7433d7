"""JSON Schemas of the wire formats, generated from the models (published in docs/schemas/)."""

from __future__ import annotations

from typing import Any

import orjson

from hivekeeper.protocol.envelope import Envelope
from hivekeeper.protocol.latency import LatencyReport
from hivekeeper.protocol.workitem import WorkItem

BASE = "https://hivekeeper.io/schemas"


def schemas() -> dict[str, dict[str, Any]]:
    """File name -> JSON Schema (draft 2020-12) for each wire format."""
    out: dict[str, dict[str, Any]] = {}
    for name, model, title in (
        ("control-envelope.schema.json", Envelope, "hivekeeper control-plane envelope v1"),
        ("workitem.schema.json", WorkItem, "hivekeeper WorkItem v1"),
        (
            "latency-histogram.schema.json",
            LatencyReport,
            "hivekeeper latency histograms of a status report (data.context.latencyHistogram), scheme 1",
        ),
    ):
        schema = model.model_json_schema(mode="serialization")
        # Every field is always serialised, so every property is required on the wire...
        schema["required"] = sorted(schema.get("properties", {}))
        if model is Envelope:  # ...but runtime, which only outcomes, metrics and alerts carry (never a signal)
            schema["required"].remove("runtime")
            schema["if"] = {"properties": {"kind": {"const": "signal"}}}
            schema["then"] = {"not": {"required": ["runtime"]}}
            schema["else"] = {"required": ["runtime"]}
        schema = {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": f"{BASE}/{name}",
            "title": title,
            **{k: v for k, v in schema.items() if k != "title"},
        }
        out[name] = schema
    return out


def render(schema: dict[str, Any]) -> bytes:
    return orjson.dumps(schema, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n"
