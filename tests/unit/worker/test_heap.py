"""The worker's startup heap is frozen out of the cyclic collector's scans (``worker.heap``)."""

from __future__ import annotations

import gc
import sys
from collections.abc import Iterator

import pytest

from hivekeeper.worker.heap import freeze_startup_heap


@pytest.fixture
def unfrozen() -> Iterator[None]:
    """This test process's heap goes back to the collector afterwards (pytest lives on).

    First, the garbage earlier tests left is collected, with its finalizers' complaints (an unclosed socket's
    ResourceWarning, an error under ``filterwarnings = error``) printed rather than raised: a full collection here
    runs finalizers that automatic collections had not reached yet, and pytest would blame this test for them
    (seen twice in full unit runs, never alone)."""
    gc.unfreeze()
    complaints: list[sys.UnraisableHookArgs] = []
    hook, sys.unraisablehook = sys.unraisablehook, complaints.append
    try:
        gc.collect()
    finally:
        sys.unraisablehook = hook
    for complaint in complaints:
        print(f"garbage of an earlier test: {complaint.exc_value!r} in {complaint.object!r}", file=sys.stderr)
    yield
    gc.unfreeze()


class Node:
    def __init__(self) -> None:
        self.other: Node | None = None


def test_what_is_alive_is_frozen_and_cyclic_garbage_is_collected_first(unfrozen: None) -> None:
    kept = Node()
    garbage = Node()
    garbage.other = Node()
    garbage.other.other = garbage  # a cycle nothing else refers to
    collected_before = sum(stats["collected"] for stats in gc.get_stats())
    del garbage

    frozen = freeze_startup_heap()

    assert frozen > 0
    assert gc.get_freeze_count() >= frozen  # another test's lingering thread may freeze more meanwhile, never less
    assert sum(stats["collected"] for stats in gc.get_stats()) >= collected_before + 2  # the cycle went first
    assert gc.is_tracked(kept)
    assert all(kept is not obj for obj in gc.get_objects())  # frozen: in no generation the collector scans


def test_objects_made_after_the_freeze_are_collected_as_before(unfrozen: None) -> None:
    freeze_startup_heap()
    later = Node()
    later.other = later
    tracked = any(later is obj for obj in gc.get_objects())
    del later

    assert tracked
    assert gc.collect() >= 1
