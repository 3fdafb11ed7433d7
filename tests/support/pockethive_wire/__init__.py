"""PocketHive's control-plane wire format as JSON Schemas of our own, written from its published facts
(docs/architecture.md §9), and :func:`problems`, which checks one captured control message against them.

The schemas are ours (no PocketHive file is copied): a signal's envelope has exactly nine keys; outcomes,
metrics and alerts add ``runtime``; a ``status-full`` / ``status-delta`` metric's ``data`` has only the keys
the protocol names, with ``tps`` a whole number of at least 0 and everything else in the free ``context``.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
from referencing import Registry, Resource

HERE = Path(__file__).resolve().parent
DATA_SCHEMAS = {"status-full": "status-full-data.schema.json", "status-delta": "status-delta-data.schema.json"}


@cache
def _registry() -> Registry[Any]:
    resources = []
    for path in sorted(HERE.glob("*.schema.json")):
        schema = json.loads(path.read_text())
        resources.append((schema["$id"], Resource.from_contents(schema)))
    return Registry().with_resources(resources)


def _validator(name: str) -> jsonschema.Draft202012Validator:
    schema = _registry().contents(f"pockethive-wire/{name}")
    return jsonschema.Draft202012Validator(schema, registry=_registry())


def problems(body: bytes) -> list[str]:
    """Why a control message does not conform (each problem as ``path: message``); [] when it does."""
    try:
        message = json.loads(body)
    except ValueError as exc:
        return [f"(body): not JSON: {exc}"]
    if not isinstance(message, dict):
        return [f"(body): not a JSON object but {type(message).__name__}"]
    envelope = "envelope-signal.schema.json" if message.get("kind") == "signal" else "envelope-event.schema.json"
    checks = [(_validator(envelope), message, "")]
    if message.get("kind") == "metric" and message.get("type") in DATA_SCHEMAS:
        checks.append((_validator(DATA_SCHEMAS[message["type"]]), message.get("data"), "data."))
    found = []
    for validator, instance, prefix in checks:
        for error in validator.iter_errors(instance):
            where = prefix + ".".join(str(p) for p in error.absolute_path)
            found.append(f"{where or '(root)'}: {error.message}")
    return found
