"""CEL rules of the CRDs, declared on the models: the API server enforces them, and ``hivekeeper validate`` runs
them (``validate/cel_rules.py``); each model checks the same invariant in Python too."""

from __future__ import annotations

from typing import Any


def cel_rules(*rules: tuple[str, str]) -> dict[str, Any]:
    """JSON-schema extra carrying CEL rules into the CRD: (rule, message) pairs."""
    return {"x-kubernetes-validations": [{"rule": rule, "message": message} for rule, message in rules]}
