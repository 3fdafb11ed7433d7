"""What a worker keeps for its whole life is taken out of the cyclic garbage collector's scans.

A work input holds thousands of delivered items at once (a prefetch of batch messages, each split into its items).
They live long enough to reach the collector's oldest generation, so full collections run often, and each one
walked the whole startup heap too: every module, pydantic model and compiled schema. Measured with ``perf`` on a
processor in ``bench/pipelines.py``'s two-stage pipeline (issue 19): 17 to 19% of its CPU was the collector; with the
startup heap frozen, 0.3%.
"""

from __future__ import annotations

import gc


def freeze_startup_heap() -> int:
    """Collect once, then move every object alive now to the collector's permanent generation, which it never scans
    (:func:`gc.freeze`); return how many objects that is.

    Call it once, after the worker started: what is alive then (modules, models, connections) lives as long as the
    process. Objects made later are collected as before; frozen ones are still freed when nothing refers to them,
    only cycles among them are not (which is why the collection comes first)."""
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()
