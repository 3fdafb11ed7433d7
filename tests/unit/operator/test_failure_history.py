"""``status.failures`` remembers the role's pod failures across roll-ups: the same failure seen on every tick counts
once, a new one of the same pod counts again, the list stays bounded and newest first; failures Kubernetes heals
by itself stall the role only when they keep happening."""

from __future__ import annotations

from hivekeeper.api.status import MAX_FAILURES, FailureStatus
from hivekeeper.operator.failure_history import latest, merged, recent_count, repeating
from hivekeeper.operator.pod_failures import Failure

NOW = "2026-01-01T01:00:00Z"


def _at(minutes: int, seconds: int = 0) -> str:
    """``minutes``:``seconds`` past midnight."""
    return f"2026-01-01T00:{minutes:02d}:{seconds:02d}Z" if minutes < 60 else f"2026-01-01T01:{minutes - 60:02d}:00Z"


def _oom(time: str, pod: str = "caller-a") -> Failure:
    return Failure(pod, "OOMKilled", "its worker was OOMKilled at its memory limit 64Mi", time)


def test_the_same_failure_seen_on_every_tick_is_counted_once() -> None:
    history: list[FailureStatus] = []
    for _ in range(5):
        history = merged(history, [_oom(_at(5))], NOW)
    assert [(f.pod, f.reason, f.count, f.firstSeen, f.lastSeen) for f in history] == [
        ("caller-a", "OOMKilled", 1, _at(5), _at(5))
    ]


def test_a_later_failure_of_the_same_pod_and_kind_counts_again_and_moves_last_seen() -> None:
    history = merged([], [_oom(_at(5))], NOW)
    history = merged(history, [Failure("caller-a", "OOMKilled", "again, at 128Mi", _at(9))], NOW)
    [entry] = history
    assert (entry.count, entry.firstSeen, entry.lastSeen, entry.message) == (2, _at(5), _at(9), "again, at 128Mi")
    assert merged(history, [_oom(_at(1))], NOW) == history, "an earlier failure changes nothing"


def test_a_stale_status_does_not_count_a_failure_twice() -> None:
    """The timer may run on a body older than its last patch: merging the same pods again gives the same list."""
    before = merged([], [_oom(_at(5))], NOW)
    after = merged(before, [_oom(_at(9))], NOW)
    assert merged(before, [_oom(_at(9))], NOW) == after
    assert merged(after, [_oom(_at(9))], NOW) == after


def test_a_failure_without_a_time_is_one_failure_for_as_long_as_it_lasts() -> None:
    pulling = Failure("caller-i", "ImagePullBackOff", 'Back-off pulling image "x"')
    history = merged([], [pulling], _at(3))
    history = merged(history, [Failure("caller-i", "ImagePullBackOff", "rpc error: not found")], _at(4))
    [entry] = history
    assert (entry.count, entry.firstSeen, entry.lastSeen) == (1, _at(3), _at(3)), "first seen: no churn every tick"
    assert entry.message == "rpc error: not found", "the message follows the kubelet's"


def test_the_scheduler_rewording_its_reason_updates_the_message_only() -> None:
    first = Failure("caller-u", "Unschedulable", "0/1 nodes are available: 1 Insufficient cpu.", _at(1))
    history = merged([], [first], NOW)
    reworded = Failure("caller-u", "Unschedulable", "0/2 nodes are available: 2 Insufficient cpu.", _at(1))
    [entry] = merged(history, [reworded], NOW)
    assert (entry.count, entry.message) == (1, "0/2 nodes are available: 2 Insufficient cpu.")


def test_failures_of_pods_that_are_gone_are_remembered_newest_first_and_bounded() -> None:
    history: list[FailureStatus] = []
    for n in range(MAX_FAILURES + 3):
        history = merged(history, [Failure(f"caller-{n}", "Evicted", "the kubelet evicted it", _at(n))], NOW)
    assert len(history) == MAX_FAILURES
    assert [f.pod for f in history] == [f"caller-{n}" for n in range(MAX_FAILURES + 2, 2, -1)]
    pushed_out = Failure("caller-0", "Evicted", "the kubelet evicted it", _at(0))
    assert merged(history, [pushed_out], NOW) == history, "an old failure seen again stays out"


def test_messages_and_names_are_bounded() -> None:
    [entry] = merged([], [Failure("p" * 300, "K" * 100, "m" * 5000, _at(1))], NOW)
    assert (len(entry.pod), len(entry.reason), len(entry.message)) == (253, 64, 1024)


def test_failures_that_keep_happening_stall_the_role_naming_the_last() -> None:
    history: list[FailureStatus] = []
    for n, minute in enumerate((52, 55)):
        history = merged(
            history, [Failure(f"caller-{n}", "Evicted", "the kubelet evicted it: low on memory", _at(minute))], NOW
        )
    assert repeating(history, NOW) == "", "two in ten minutes: Kubernetes replaces them"
    history = merged(history, [Failure("caller-9", "Evicted", "the kubelet evicted it: low on memory", _at(58))], NOW)
    assert repeating(history, NOW) == (
        "its pods failed 3 times in the last 10 minutes (Kubernetes restarts or replaces them, but it keeps "
        f"happening); the last: pod caller-9 Evicted at {_at(58)}: the kubelet evicted it: low on memory"
    )
    assert repeating(history, _at(69)) == "", "ten minutes later it stopped happening"


def test_restarts_of_one_pod_count_in_full_only_when_they_all_began_in_the_window() -> None:
    history = merged([], [_oom(_at(55))], NOW)
    history = merged(history, [_oom(_at(57))], NOW)
    history = merged(history, [_oom(_at(59))], NOW)
    assert recent_count(history, NOW) == 3
    assert "pod caller-a OOMKilled (3 times)" in repeating(history, NOW)
    old_start = [history[0].model_copy(update={"firstSeen": _at(10)})]
    assert recent_count(old_start, NOW) == 1, "only the last is known to be recent"


def test_drains_and_states_never_count_as_repeating() -> None:
    disrupted = [Failure(f"p{n}", "Disrupted", "evicted through the Eviction API", _at(58)) for n in range(5)]
    unschedulable = [Failure(f"u{n}", "Unschedulable", "0/1 nodes", _at(58)) for n in range(5)]
    history = merged([], disrupted + unschedulable, NOW)
    assert (recent_count(history, NOW), repeating(history, NOW)) == (0, "")


def test_the_latest_event_is_named_while_it_is_recent() -> None:
    history = merged([], [Failure("caller-d", "Disrupted", "its node's kubelet stopped it", _at(55))], NOW)
    assert latest(history, NOW) == f"last failure: pod caller-d Disrupted at {_at(55)}: its node's kubelet stopped it"
    assert latest(history, _at(66)) == ""
    states = merged([], [Failure("caller-u", "Unschedulable", "0/1 nodes", _at(59))], NOW)
    assert latest(states, NOW) == "", "a state is in Stalled while it lasts"
    assert latest(history, "not a time") == ""
