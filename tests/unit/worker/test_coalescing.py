"""What a RabbitMQ output holds for its next message: bounded by items and bytes, taken in order."""

from __future__ import annotations

import pytest

from hivekeeper.protocol import batch
from hivekeeper.worker.outputs.coalescing import NO_BATCHES, BatchLimits, Pending


def test_items_are_held_in_order_and_taken_all_at_once() -> None:
    pending: Pending[int] = Pending(BatchLimits(max_items=4, max_bytes=1000))
    for index, body in enumerate([b"a", b"bb", b"ccc"]):
        assert pending.room(body)
        assert pending.add(body, index) is False
    assert pending.size == batch.encoded_size([b"a", b"bb", b"ccc"])
    assert pending.take() == ([b"a", b"bb", b"ccc"], [0, 1, 2])
    assert (pending.bodies, pending.waiters, pending.size) == ([], [], 0)


def test_the_item_that_fills_max_items_says_the_batch_must_go_now() -> None:
    pending: Pending[int] = Pending(BatchLimits(max_items=2, max_bytes=1000))
    assert pending.add(b"x", 0) is False
    assert pending.add(b"y", 1) is True
    assert not pending.room(b"z")


def test_an_item_that_would_pass_max_bytes_finds_no_room_and_the_batch_never_exceeds_it() -> None:
    pending: Pending[int] = Pending(BatchLimits(max_items=100, max_bytes=20))
    pending.add(b"0123456789", 0)  # 14 bytes with its length
    assert not pending.room(b"abc")  # 14 + 7 > 20
    assert pending.room(b"ab")  # 14 + 6 = 20
    assert pending.add(b"ab", 1) is True  # exactly full: not even an empty item would fit
    assert len(batch.encode(pending.bodies)) == 20


def test_an_item_too_large_for_any_batch_and_every_item_without_batches_goes_alone() -> None:
    pending: Pending[int] = Pending(BatchLimits(max_items=10, max_bytes=20))
    assert pending.alone(b"x" * 17)
    assert not pending.alone(b"x" * 16)
    assert Pending[int](NO_BATCHES).alone(b"x")


def test_the_brokers_lower_limit_caps_max_bytes_and_a_config_change_replaces_the_bounds() -> None:
    pending: Pending[int] = Pending(BatchLimits(max_items=10, max_bytes=1000))
    pending.limit(BatchLimits(max_items=10, max_bytes=1000), max_bytes=100)
    assert (pending.max_items, pending.max_bytes) == (10, 100)
    pending.limit(BatchLimits(max_items=3, max_bytes=50))
    assert (pending.max_items, pending.max_bytes) == (3, 50)


@pytest.mark.parametrize(("items", "size"), [(0, 10), (batch.MAX_ITEMS + 1, 10), (2, 0)])
def test_limits_out_of_bounds_are_refused_naming_the_bound(items: int, size: int) -> None:
    with pytest.raises(ValueError, match=r"max_items|max_bytes"):
        BatchLimits(max_items=items, max_bytes=size)
