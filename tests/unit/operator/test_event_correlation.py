"""The Events' correlator (pure), as client-go's: a repeat within 10 minutes patches the Event already written, too
many similar messages are combined into one Event, each object's token bucket drops a flood, and every cache is
bounded. The recorder writes its decisions through the Cluster port and never raises."""

from __future__ import annotations

import itertools
import logging

import pytest

from hivekeeper.operator.events import COMBINED, MAX_MESSAGE, Correlator, Decision, Note, ObjectRef, clean
from hivekeeper.operator.fakes import FakeCluster
from hivekeeper.operator.recorder import EventRecorder

CALLER = ObjectRef("WorkerRole", "perf", "quickstart-caller", "uid-caller")
STATS = ObjectRef("WorkerRole", "perf", "quickstart-stats", "uid-stats")


def _note(message: str = "pushed config generation 2", ref: ObjectRef = CALLER, reason: str = "ConfigPushed") -> Note:
    return Note(ref, "Normal", reason, message)


def _correlator(*, kept: int = 4096) -> Correlator:
    names = itertools.count(1)
    return Correlator(kept=kept, new_suffix=lambda: f"{next(names):04x}")


def _written(correlator: Correlator, note: Note, now: float, now_text: str = "t") -> Decision:
    """The correlator's decision for ``note``, which must not be dropped."""
    decision = correlator.correlate(note, now, now_text)
    assert decision is not None, f"{note} was dropped at {now}"
    return decision


def test_the_same_note_within_the_window_patches_the_event_with_the_count_and_the_last_time() -> None:
    correlator = _correlator()
    first = _written(correlator, _note(), 0.0, "2026-01-01T00:00:00Z")
    again = _written(correlator, _note(), 599.0, "2026-01-01T00:09:59Z")

    assert (first.patch, first.event.count, first.event.name) == (False, 1, "quickstart-caller.0001")
    assert (again.patch, again.event.count, again.event.name) == (True, 2, "quickstart-caller.0001")
    assert (again.event.first_timestamp, again.event.last_timestamp) == ("2026-01-01T00:00:00Z", "2026-01-01T00:09:59Z")


def test_the_window_runs_from_the_last_occurrence_and_a_note_after_it_is_a_new_event() -> None:
    correlator = _correlator()
    _written(correlator, _note(), 0.0)
    assert _written(correlator, _note(), 500.0).patch
    assert _written(correlator, _note(), 1000.0).patch, "500 s after the last one: still a repeat"

    later = _written(correlator, _note(), 1601.0)

    assert (later.patch, later.event.count, later.event.name) == (False, 1, "quickstart-caller.0002")


def test_different_messages_types_or_objects_are_different_events() -> None:
    correlator = _correlator()
    decisions = [
        correlator.correlate(_note("pushed config generation 2"), 0.0, "t"),
        correlator.correlate(_note("pushed config generation 3"), 0.0, "t"),
        correlator.correlate(Note(CALLER, "Warning", "ConfigPushed", "pushed config generation 2"), 0.0, "t"),
        correlator.correlate(_note(ref=STATS), 0.0, "t"),
    ]
    assert [d.patch for d in decisions if d is not None] == [False] * 4


def test_the_spam_filter_lets_25_through_per_object_then_one_every_5_minutes() -> None:
    correlator = _correlator()
    passed = [correlator.correlate(_note(), float(n), "t") for n in range(30)]

    assert [d is not None for d in passed] == [True] * 25 + [False] * 5
    assert correlator.correlate(_note(ref=STATS), 30.0, "t") is not None, "another object has its own bucket"
    assert correlator.correlate(_note(), 200.0, "t") is None, "less than one token back yet"
    refilled = _written(correlator, _note(), 24.0 + 300.0)
    assert refilled.event.count == 26, "a dropped note is not counted"
    assert correlator.correlate(_note(), 325.0, "t") is None


def test_from_the_tenth_similar_message_on_they_are_combined_into_one_event_patched_by_each_next() -> None:
    correlator = _correlator()
    own = [_written(correlator, _note(f"pushed config generation {g}"), float(g)) for g in range(1, 10)]
    combined = _written(correlator, _note("pushed config generation 10"), 10.0)
    next_one = _written(correlator, _note("pushed config generation 11"), 11.0)

    assert [d.event.message for d in own] == [f"pushed config generation {g}" for g in range(1, 10)]
    assert [d.patch for d in own] == [False] * 9
    assert (combined.patch, combined.event.message) == (False, COMBINED + "pushed config generation 10")
    assert (next_one.patch, next_one.event.name, next_one.event.count) == (True, combined.event.name, 2)
    assert next_one.event.message == "(combined from similar events): pushed config generation 11"
    other = _written(correlator, _note("queue gone", reason="QueueMissing"), 12.0)
    assert other.event.message == "queue gone", "another reason is not similar"


def test_similar_messages_are_combined_only_while_they_come_within_the_window_of_each_other() -> None:
    correlator = _correlator()
    for g in range(1, 10):
        correlator.correlate(_note(f"pushed config generation {g}"), float(g), "t")

    after = _written(correlator, _note("pushed config generation 10"), 9.0 + 601.0)

    assert after.event.message == "pushed config generation 10"


def test_every_cache_is_bounded_and_an_evicted_event_is_created_anew() -> None:
    correlator = _correlator(kept=8)
    for n in range(1000):
        ref = ObjectRef("WorkerRole", "perf", f"role-{n}", f"uid-{n}")
        correlator.correlate(Note(ref, "Normal", "ConfigPushed", f"generation {n}"), float(n) / 1000, "t")

    assert [len(cache) for cache in (correlator._seen, correlator._similar, correlator._buckets)] == [8, 8, 8]
    evicted = Note(ObjectRef("WorkerRole", "perf", "role-0", "uid-0"), "Normal", "ConfigPushed", "generation 0")
    again = _written(correlator, evicted, 2.0)
    assert (again.patch, again.event.count) == (False, 1)


def test_a_message_loses_its_credentials_and_is_cut_to_fit() -> None:
    said = clean("cannot connect to amqps://hive:s3cr%40t@rabbit:5671/vh (refused); also https://x?password=p4ss&a=1")

    assert said == "cannot connect to amqps://hive:***@rabbit:5671/vh (refused); also https://x?password=***&a=1"
    assert len(clean("x" * 5000)) == MAX_MESSAGE
    note = _note("broker at amqp://guest:guest@localhost:5672/ is down")
    assert _written(_correlator(), note, 0.0).event.message == "broker at amqp://guest:***@localhost:5672/ is down"


async def test_the_recorder_creates_then_patches_and_creates_again_an_event_the_server_let_expire() -> None:
    cluster, recorder = FakeCluster(), EventRecorder(_correlator())
    await recorder.record(cluster, _note(), 0.0, "t0")
    await recorder.record(cluster, _note(), 1.0, "t1")
    [(_, held)] = cluster.event_bodies.items()
    assert (held.count, held.last_timestamp) == (2, "t1")

    cluster.event_bodies.clear()  # the API server's TTL took it
    await recorder.record(cluster, _note(), 2.0, "t2")

    assert [c[0] for c in cluster.calls] == ["create-event", "patch-event", "patch-event", "create-event"]
    [(_, again)] = cluster.event_bodies.items()
    assert (again.name, again.count, again.first_timestamp) == ("quickstart-caller.0001", 3, "t0")


async def test_a_failing_api_server_is_logged_once_a_minute_and_never_raised(caplog: pytest.LogCaptureFixture) -> None:
    cluster, recorder = FakeCluster(failing_events=PermissionError("events is forbidden")), EventRecorder(_correlator())
    with caplog.at_level(logging.WARNING, logger="hivekeeper.operator"):
        for n in range(5):
            await recorder.record(cluster, _note(f"pushed config generation {n}"), float(n), "t")
        await recorder.record(cluster, _note("pushed config generation 9"), 61.0, "t")

    warnings = [r.getMessage() for r in caplog.records]
    assert warnings == [
        "cannot record the Event ConfigPushed on WorkerRole perf/quickstart-caller (events is forbidden)",
        "cannot record the Event ConfigPushed on WorkerRole perf/quickstart-caller (events is forbidden) "
        "(4 more since the last report)",
    ]
    cluster.failing_events = None
    await recorder.record(cluster, _note("pushed config generation 0"), 62.0, "t")
    assert cluster.calls[-1][0] == "create-event", "a failed write is forgotten: the next one creates the Event"
