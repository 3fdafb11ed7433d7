"""The books of a batch message consumed item by item: acknowledged once, when the last item is settled."""

from __future__ import annotations

from hivekeeper.worker.inputs.batch_books import BatchBooks


def test_the_message_is_acknowledged_only_when_its_last_item_is_settled() -> None:
    books = BatchBooks(3)
    assert [books.settle(), books.settle(), books.settle()] == [None, None, "ack"]


def test_a_failed_give_back_sends_the_whole_message_back_once_the_others_are_settled() -> None:
    books = BatchBooks(2)
    books.give_back_failed()
    assert books.settle() is None
    assert books.settle() == "requeue"


def test_a_message_given_back_whole_ignores_later_settles() -> None:
    books = BatchBooks(2)
    books.drop()
    assert books.settle() is None
    assert books.settle() is None


def test_every_item_carries_the_messages_redelivery_count_and_key() -> None:
    books = BatchBooks(4, redeliveries=2, key=99)
    assert (books.redeliveries, books.key, books.taken, books.left) == (2, 99, 0, 4)
