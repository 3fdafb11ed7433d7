"""The books of a run's Redis lists: start + pushed - popped = end, and what the summary says when not."""

from __future__ import annotations

from hivekeeper.local import ledger


def test_lists_that_balance_are_reported_balanced_with_their_totals() -> None:
    books = ledger.books(
        start={"cards.topup": 2, "cards.active": 0},
        end={"cards.topup": 1, "cards.active": 6},
        pushed={"cards.topup": 4, "cards.active": 9},
        popped={"cards.topup": 5, "cards.active": 3},
        in_flight=0,
    )
    assert books.balanced
    assert books.unaccounted == 0
    text = ledger.render(books)
    assert text.splitlines() == [
        "datasets (at start + pushed - popped = at end):",
        "  list          at start  pushed  popped  at end",
        "  cards.active         0       9       3       6",
        "  cards.topup          2       4       5       1",
        "  all lists            2      13       8       7",
        "  balanced: every element is accounted for; 0 item(s) in flight at stop",
    ]
    assert ledger.as_json(books)["lists"]["cards.topup"] == {"start": 2, "pushed": 4, "popped": 5, "end": 1}


def test_a_missing_element_is_named_with_the_expected_count_and_the_items_in_flight() -> None:
    books = ledger.books(start={"a": 10}, end={"a": 8}, pushed={"a": 3}, popped={"a": 4}, in_flight=1)
    [a] = books.lists
    assert (a.expected, a.unaccounted) == (9, 1)
    assert not books.balanced
    text = ledger.render(books)
    assert "9 expected" in text
    assert "NOT balanced: 1 element(s) missing; 1 item(s) in flight at stop" in text
    assert ledger.as_json(books)["unaccounted"] == 1


def test_more_elements_than_pushed_point_at_another_client() -> None:
    books = ledger.books(start={"a": 0}, end={"a": 5}, pushed={"a": 2}, popped={}, in_flight=0)
    assert books.unaccounted == -3
    assert "3 element(s) more than pushed" in ledger.verdict(books)
    assert "another client used these lists" in ledger.verdict(books)


def test_a_templated_list_first_seen_at_the_end_is_shown_but_not_balanced_against_a_start() -> None:
    books = ledger.books(start={}, end={"cards.eu": 4}, pushed={"cards.eu": 4}, popped={}, in_flight=0)
    assert books.balanced, "nothing to compare it with"
    assert "cards.eu          ?       4       0       4  not measured at the start (a templated list)" in (
        ledger.render(books)
    )


def test_a_difference_within_the_commands_an_outage_left_unanswered_is_accounted_for_not_balanced() -> None:
    from hivekeeper.local.ledger import books, render

    ledger = books({"cards": 0}, {"cards": 116}, {"cards": 258}, {"cards": 141}, 0, {"cards": 1})
    assert (ledger.balanced, ledger.explained, ledger.unaccounted, ledger.uncertain) == (False, True, 1, 1)
    assert "accounted for: 1 element(s) missing, within the 1 Redis command(s) a lost connection left" in render(ledger)
    worse = books({"cards": 0}, {"cards": 115}, {"cards": 258}, {"cards": 141}, 0, {"cards": 1})
    assert (worse.balanced, worse.explained) == (False, False)
    assert "NOT balanced: 2 element(s) missing" in render(worse)
