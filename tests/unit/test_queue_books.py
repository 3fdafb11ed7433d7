"""The books of a run's work queues: put = processed + dropped + left + in flight, or the difference is named."""

from __future__ import annotations

from hivekeeper.local.queue_books import StageCount, books


def _pipeline(builder_dropped: int = 0, left: int = 0) -> list[StageCount]:
    return [
        StageCount("feeder", None, "build", True, processed=400, dropped=0),
        StageCount("builder", "build", "call", True, processed=400 - builder_dropped - left, dropped=builder_dropped),
        StageCount("caller", "call", None, False, processed=400 - builder_dropped - left, dropped=0),
    ]


def test_balanced_books_say_where_every_item_went() -> None:
    [build, call] = books(_pipeline(builder_dropped=3, left=7), {"build": 7})
    assert build.line() == "queue build: 400 put = 390 processed + 3 dropped + 7 left"
    assert (build.unaccounted, call.put, call.unaccounted) == (0, 390, 0)


def test_a_lost_item_is_unaccounted_and_a_double_take_is_named_as_such() -> None:
    stages = _pipeline()
    lost = [stages[0], stages[1], StageCount("caller", "call", None, False, processed=398, dropped=0)]
    assert books(lost, {})[1].line().endswith("; 2 unaccounted (lost)")
    twice = [stages[0], stages[1], StageCount("caller", "call", None, False, processed=401, dropped=0)]
    assert books(twice, {})[1].line().endswith("; 1 taken more than once (redelivered)")


def test_a_redis_output_puts_nothing_into_a_queue_and_competing_readers_add_up() -> None:
    stages = [
        StageCount("feeder", None, "call", True, processed=10, dropped=0),
        StageCount("sidecar", None, "call", False, processed=99, dropped=0),
        StageCount("a", "call", None, False, processed=6, dropped=1),
        StageCount("b", "call", None, False, processed=2, dropped=0, in_flight=1),
    ]
    [call] = books(stages, {})
    assert (call.put, call.processed, call.dropped, call.in_flight, call.unaccounted) == (10, 8, 1, 1, 0)
