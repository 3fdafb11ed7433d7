"""A call template's ``resultRules`` as ours: the same keys (``businessCode``, ``successRegex``, ``dimensions``
with ``source``, ``pattern``, ``header``), so they are carried as they are, with three adjustments that each
have a finding:

- a dimension's name becomes lowercase letters, digits, ``-`` and ``_`` (it names a header and a metric label):
  ``channelType`` becomes ``channeltype`` (``result-rule-renamed``);
- a key we have no field for is dropped (``key-dropped``);
- rules that are not a mapping are dropped (``result-rule-invalid``).

Patterns are Java regexes in PocketHive; ours run on RE2, so a pattern with a lookaround or a backreference is
an error of the imported manifest (validate's ``result-rule-regex``, placed in the bundle), as is a source we
do not know (``schema-enum``).
"""

from __future__ import annotations

import re
from typing import Any

from hivekeeper.api.result_rules import Dimension, Extraction, ResultRules
from hivekeeper.importer.bundle import Collector, Path_, SourceFile

_NAME_CHARS = re.compile(r"[^a-z0-9_-]+")


def carry(source: SourceFile, base: Path_, entry: dict[str, Any], template: dict[str, Any], collect: Collector) -> None:
    """Put the call ``entry``'s ``resultRules`` (if any) on its ``template``, translated."""
    if "resultRules" in entry:
        rules = translate(source, (*base, "resultRules"), entry["resultRules"], str(template["callId"]), collect)
        if rules is not None:
            template["resultRules"] = rules


def translate(source: SourceFile, path: Path_, raw: Any, call: str, collect: Collector) -> dict[str, Any] | None:
    """The rules at ``path`` of ``source`` (call ``call``'s), or None when they cannot be read."""
    if not isinstance(raw, dict):
        collect.warning(
            "result-rule-invalid",
            source,
            path,
            f"call {call!r}: resultRules is {type(raw).__name__}, not a mapping; it was dropped",
            "write resultRules as {businessCode: {source, pattern}, successRegex, dimensions: [...]}",
        )
        return None
    rules = _known(source, path, raw, set(ResultRules.model_fields), call, collect)
    code = rules.get("businessCode")
    if isinstance(code, dict):
        rules["businessCode"] = _known(
            source, (*path, "businessCode"), code, set(Extraction.model_fields), call, collect
        )
    dimensions = rules.get("dimensions")
    if isinstance(dimensions, list):
        rules["dimensions"] = [
            _dimension(source, (*path, "dimensions", index), entry, call, collect) if isinstance(entry, dict) else entry
            for index, entry in enumerate(dimensions)
        ]
    return rules


def _dimension(source: SourceFile, path: Path_, entry: dict[str, Any], call: str, collect: Collector) -> dict[str, Any]:
    dimension = _known(source, path, entry, set(Dimension.model_fields), call, collect)
    name = dimension.get("name")
    if isinstance(name, str):
        ours = _NAME_CHARS.sub("-", name.lower()).strip("-_")[:32]
        if ours != name:
            collect.warning(
                "result-rule-renamed",
                source,
                (*path, "name"),
                f"call {call!r}: dimension {name!r} is counted as {ours!r} (header x-ph-dim-{ours}): a dimension "
                "name is lowercase letters, digits, '-' and '_'",
                "nothing to do, unless something downstream reads the x-ph-dim- header by its old name",
            )
            dimension["name"] = ours
    return dimension


def _known(
    source: SourceFile, path: Path_, raw: dict[str, Any], fields: set[str], call: str, collect: Collector
) -> dict[str, Any]:
    """``raw`` without the keys our model has no field for (each dropped with a finding)."""
    for key in sorted(set(raw) - fields, key=str):
        collect.warning(
            "key-dropped",
            source,
            (*path, key),
            f"call {call!r}: resultRules key {key} has no hivekeeper equivalent and was dropped",
            "nothing to do unless the scenario relied on it (docs/import.md lists what is not translated)",
        )
    return {key: value for key, value in raw.items() if key in fields}
