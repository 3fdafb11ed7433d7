"""Counts by key summed over instances, bounded (pure): error kinds, business codes, dimension values.

Each worker keeps at most 32 keys plus ``(other)``, but different instances may keep different keys, and anyone
holding a broker credential can publish a status: a sum keeps the :data:`MAX_KEYS` largest keys and folds the
rest into :data:`OTHER`, so a status or a run record never grows with what the workers send.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

OTHER = "(other)"
"""The key the smaller counts are folded into (the workers' own name for it)."""
MAX_KEYS = 32
MAX_DIMENSIONS = 8


def bounded(counts: Mapping[str, int], limit: int = MAX_KEYS) -> dict[str, int]:
    """``counts`` with at most ``limit`` keys, the largest first (ties by key), the rest under :data:`OTHER`."""
    ordered = sorted(((k, n) for k, n in counts.items() if k != OTHER and n), key=lambda kv: (-kv[1], kv[0]))
    out = dict(ordered[:limit])
    rest = sum(n for _, n in ordered[limit:]) + counts.get(OTHER, 0)
    if rest:
        out[OTHER] = rest
    return out


def summed(parts: Iterable[Mapping[str, int]], limit: int = MAX_KEYS) -> dict[str, int]:
    """The counts of ``parts`` added up, bounded (:func:`bounded`)."""
    total: dict[str, int] = {}
    for part in parts:
        for key, n in part.items():
            total[key] = total.get(key, 0) + n
    return bounded(total, limit)


def summed_dimensions(parts: Iterable[Mapping[str, Mapping[str, int]]]) -> dict[str, dict[str, int]]:
    """Dimensions (``{name: {value: n}}``) added up: at most :data:`MAX_DIMENSIONS` names (the first seen, in name
    order), each bounded."""
    total: dict[str, dict[str, int]] = {}
    for part in parts:
        for name, counts in sorted(part.items()):
            if name not in total and len(total) >= MAX_DIMENSIONS:
                continue
            held = total.setdefault(name, {})
            for key, n in counts.items():
                held[key] = held.get(key, 0) + n
    return {name: bounded(counts) for name, counts in sorted(total.items())}
