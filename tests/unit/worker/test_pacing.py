"""Pacing maths: exact long-run rates with carry-over, caps, live changes, and next-slot reservations."""

from __future__ import annotations

import math

import pytest

from hivekeeper.worker.pacing import RatePacer, SinePacer, SlotPacer


def _run(pacer: RatePacer, seconds: float, tick: float) -> tuple[int, float]:
    """Tick for about ``seconds``; return the items due and the exact time covered."""
    total, steps = 0, round(seconds / tick)
    for step in range(steps + 1):
        total += pacer.due(step * tick)
    return total, steps * tick


@pytest.mark.parametrize(("rate", "tick"), [(2.5, 0.1), (200, 0.013), (0.5, 0.25), (1000, 0.05)])
def test_the_long_run_rate_is_exact_whatever_the_tick(rate: float, tick: float) -> None:
    pacer = RatePacer(rate)
    total, covered = _run(pacer, 10.0, tick)
    assert total == math.floor(rate * covered + 1e-9)


def test_fractions_carry_over_between_ticks() -> None:
    pacer = RatePacer(2.5)
    counts = [pacer.due(float(t)) for t in range(5)]
    assert counts == [0, 2, 3, 2, 3]


def test_max_messages_caps_the_total_and_reports_exhaustion() -> None:
    pacer = RatePacer(100, max_messages=42)
    assert _run(pacer, 5.0, 0.1)[0] == 42
    assert pacer.exhausted
    assert pacer.remaining == 0
    assert pacer.seconds_until_next() == math.inf


def test_a_stall_does_not_become_a_flood() -> None:
    pacer = RatePacer(10, burst_seconds=1.0)
    pacer.due(0.0)
    assert pacer.due(60.0) == 11, "at most one second of credit (plus the carry) survives a stall"


def test_a_live_rate_change_keeps_what_was_already_due() -> None:
    pacer = RatePacer(10)
    pacer.due(0.0)
    pacer.set_rate(100, 0.5)  # 5 items were due at the old rate
    assert pacer.due(1.0) == 5 + 50


def test_pausing_forgets_credit_and_reset_restarts_the_count() -> None:
    pacer = RatePacer(10, max_messages=5)
    pacer.due(0.0)
    assert pacer.due(0.3) == 3
    pacer.pause()
    assert pacer.due(100.0) == 0, "the first tick after a pause only starts the clock"
    pacer.reset()
    assert pacer.remaining == 5


def test_slots_are_spaced_by_the_rate_for_concurrent_callers() -> None:
    pacer = SlotPacer(4.0)
    waits = [pacer.reserve(10.0) for _ in range(4)]
    assert waits == [0.0, 0.25, 0.5, 0.75]
    assert pacer.reserve(20.0) == 0.0, "an idle pacer does not hoard slots"


def _slots(pacer: SinePacer, until: float) -> list[float]:
    """The slot times a caller gets when it always asks as soon as the previous slot opens."""
    times, now = [], 0.0
    while True:
        now += pacer.reserve(now)
        if now >= until:
            return times
        times.append(now)


def test_a_sine_wave_lets_through_its_mean_rate_over_a_period_and_more_at_the_crest() -> None:
    pacer = SinePacer(min_rate=0.0, max_rate=20.0, period=10.0)
    slots = _slots(pacer, 10.0)
    assert len(slots) == pytest.approx(100, abs=1), "mean rate 10/s over one 10 s period"
    crest = sum(1 for t in slots if 1.25 <= t < 3.75)  # the quarter around sin = 1 (t = 2.5 s)
    trough = sum(1 for t in slots if 6.25 <= t < 8.75)  # the quarter around sin = -1 (t = 7.5 s)
    assert crest > 40, (crest, trough)
    assert trough < 5, (crest, trough)
    assert pacer.rate_at(2.5) == pytest.approx(20.0)
    assert pacer.rate_at(7.5) == pytest.approx(0.0, abs=1e-9)


def test_a_trough_at_zero_delays_the_next_slot_instead_of_stalling() -> None:
    pacer = SinePacer(min_rate=0.0, max_rate=2.0, period=20.0, phase=15.0)  # t = 0 is the trough
    wait = pacer.reserve(0.0)
    assert wait == 0.0
    second = pacer.reserve(0.0)
    assert math.isfinite(second)
    steps = 10_000  # the wave's rate summed from the trough to the second slot: exactly one item's worth
    through = sum(pacer.rate_at((i + 0.5) * second / steps) for i in range(steps)) * second / steps
    assert through == pytest.approx(1.0, rel=1e-3)
    assert second > 1.0, "slower than the mean rate (1/s) would allow: the wave had to rise first"


def test_the_phase_offset_shifts_the_wave() -> None:
    ahead = SinePacer(min_rate=10.0, max_rate=30.0, period=8.0, phase=2.0)
    assert ahead.rate_at(0.0) == pytest.approx(30.0), "a quarter period ahead: the crest at t = 0"
    late_start = SinePacer(min_rate=10.0, max_rate=30.0, period=8.0, origin=100.0)
    assert late_start.rate_at(100.0) == pytest.approx(20.0), "the wave starts at its origin"
