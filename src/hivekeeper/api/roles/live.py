"""Which keys of a role's config a config-update may change while the worker runs.

Each role package declares an allowlist of dotted paths (``inputs.scheduler`` covers every key below it).
A config-update that changes anything outside it is refused whole and the worker keeps its config. A key a
new field adds is fixed until its role lists it: making a key live is a decision taken where the role is
defined, next to the model.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hivekeeper.protocol.redaction import is_secret_name

WHY_FIXED = {
    "inputs.type": "only rates are live (edit the role's inputs to roll its pods)",
    **{
        f"inputs.csv.{key}": "the CSV file is read when a worker starts; the operator rolls the role's pods to "
        "read it again"
        for key in ("filePath", "configMap", "columns", "delimiter")
    },
}
"""What a refusal adds for a fixed key, when there is more to say than "while the worker runs"."""

_SCALARS = (str, int, float, bool)


def fixed_changes(live: frozenset[str], old: Mapping[str, Any], new: Mapping[str, Any]) -> list[tuple[str, str]]:
    """``(path, message)`` for each key outside ``live`` whose value differs between ``old`` and ``new``.

    ``old`` and ``new`` are the configs as plain dicts, with defaults resolved the way the worker runs them
    (an unset ``inputs.type`` is the role's default input), so that spelling out a default is no change.
    """
    return [(path, _message(path, before, after)) for path, before, after in _changes(live, old, new, "")]


def _changes(
    live: frozenset[str], old: Mapping[str, Any], new: Mapping[str, Any], prefix: str
) -> list[tuple[str, Any, Any]]:
    found: list[tuple[str, Any, Any]] = []
    for key in [*old, *(k for k in new if k not in old)]:
        path = f"{prefix}{key}"
        before, after = old.get(key), new.get(key)
        if path in live or before == after:
            continue
        below = any(entry.startswith(f"{path}.") for entry in live)
        if below and isinstance(before, Mapping) and isinstance(after, Mapping):
            found.extend(_changes(live, before, after, f"{path}."))
        else:
            found.append((path, before, after))
    return found


def _message(path: str, before: Any, after: Any) -> str:
    shown = isinstance(before, _SCALARS) and isinstance(after, _SCALARS)
    shown = shown and not any(is_secret_name(part) for part in path.split("."))
    message = (
        f"cannot change from {before} to {after} while the worker runs"
        if shown
        else "cannot change while the worker runs"
    )
    why = WHY_FIXED.get(path)
    return f"{message}; {why}" if why else message
