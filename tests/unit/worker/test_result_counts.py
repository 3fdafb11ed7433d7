"""Counts by business code and dimension value stay bounded whatever the system under test answers."""

from __future__ import annotations

import orjson

from hivekeeper.worker.result_counts import MAX_DIMENSIONS, MAX_KEYS, OTHER, BoundedCounts, ResultTally, bounded_key
from hivekeeper.worker.result_rules import MAX_VALUE, RuleValues


def test_past_the_limit_new_keys_are_counted_as_other_and_known_keys_still_count() -> None:
    counts = BoundedCounts(limit=2)
    for key in ("00", "51", "05", "00", "99"):
        counts.add(key)
    assert counts.as_dict() == {"00": 2, "51": 1, OTHER: 2}, "largest first, (other) last"
    counts.add("51", 3)
    assert counts.as_dict() == {"51": 4, "00": 2, OTHER: 2}


def test_ten_thousand_distinct_codes_make_at_most_max_keys_plus_one_keys() -> None:
    tally = ResultTally()
    for n in range(10_000):
        tally.record(RuleValues(code=f"id-{n}", success=False, dimensions=(("order", str(n)),)))
    assert len(tally.codes.counts) == MAX_KEYS + 1
    assert len(tally.dimensions["order"].counts) == MAX_KEYS + 1
    assert tally.codes.counts[OTHER] == 10_000 - MAX_KEYS
    assert tally.failures == 10_000


def test_dimension_names_are_bounded_too() -> None:
    tally = ResultTally()
    tally.record(RuleValues(dimensions=tuple((f"d{n}", "v") for n in range(MAX_DIMENSIONS + 5))))
    assert len(tally.dimensions) == MAX_DIMENSIONS


def test_merging_workers_keeps_the_bound_and_adds_the_counts() -> None:
    one, two = ResultTally(), ResultTally()
    for n in range(MAX_KEYS):
        one.record(RuleValues(code=f"a{n}", success=True))
        two.record(RuleValues(code=f"b{n}", success=False, over_budget=True))
    total = ResultTally()
    total.merge(one)
    total.merge(two)
    assert len(total.codes.counts) == MAX_KEYS + 1
    assert total.codes.counts[OTHER] == MAX_KEYS
    assert (total.successes, total.failures, total.over_budget) == (MAX_KEYS, MAX_KEYS, MAX_KEYS)


def test_the_status_keys_appear_only_with_counts() -> None:
    tally = ResultTally()
    assert tally.snapshot() == {}
    assert not tally
    tally.record(RuleValues(code="51", success=False, dimensions=(("channel", "web"),)))
    assert tally.snapshot() == {
        "businessCodes": {"51": 1},
        "businessResults": {"success": 0, "failure": 1},
        "dimensions": {"channel": {"web": 1}},
    }


def test_bounded_key_keeps_known_keys_and_sends_new_ones_to_other_when_full() -> None:
    counts = {"a": 1, "b": 1, OTHER: 4}
    assert [bounded_key(counts, k, 2) for k in ("a", "c")] == ["a", OTHER]
    assert bounded_key(counts, "c", 3) == "c", "(other) does not take a place of its own"


def test_at_worst_the_counts_add_about_20_kb_to_a_status_report() -> None:
    tally = ResultTally()
    for n in range(1000):
        long = f"{n:06d}" + "x" * (MAX_VALUE - 6)
        tally.record(RuleValues(code=long, dimensions=tuple((f"dimension-{d:02d}", long) for d in range(20))))
    assert len(orjson.dumps(tally.snapshot())) < 24_000
