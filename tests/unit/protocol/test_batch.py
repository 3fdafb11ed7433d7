"""Work-plane batches: items go in and come out byte for byte; every malformed batch is refused, never half read."""

from __future__ import annotations

import pytest

from hivekeeper.protocol.batch import MAX_ITEMS, BatchError, encode, encoded_size, split


def test_items_come_out_as_they_went_in_and_the_size_is_known_in_advance() -> None:
    items = [b'{"id":"a"}', b"", b"\x00\xff" * 300, "é".encode()]
    body = encode(items)
    assert len(body) == encoded_size(items)
    assert split(body, len(items)) == items


@pytest.mark.parametrize(
    ("body", "count", "named"),
    [
        (encode([b"a", b"b"]), 3, "batch of 3 items ends after 2"),
        (encode([b"a", b"b"]), 1, "has 5 bytes after its last item"),
        (encode([b"abc"])[:-1], 1, "item 0 of the batch says 3 bytes but only 2 are left"),
        (b"", "2", "header hivekeeper-batch is '2'"),
        (b"", 0, "header hivekeeper-batch is 0"),
        (b"", True, "header hivekeeper-batch is True"),
        (b"", MAX_ITEMS + 1, f"1 to {MAX_ITEMS}"),
    ],
)
def test_a_malformed_batch_is_refused_naming_what_is_wrong(body: bytes, count: object, named: str) -> None:
    with pytest.raises(BatchError, match=named.replace("(", r"\(")):
        split(body, count)


def test_a_batch_holds_one_to_max_items() -> None:
    with pytest.raises(BatchError, match="1 to 1024 items, not 0"):
        encode([])
    with pytest.raises(BatchError, match="not 1025"):
        encode([b"x"] * (MAX_ITEMS + 1))
