"""The books of a run's work queues (pure): every item put into a queue is taken, left there, or unaccounted.

For each work alias: ``put`` is what the roles writing it finished (a role with a queue output publishes one
item per item it processed; one it could not publish is dropped, not processed), ``taken`` is what the roles
reading it finished or dropped, ``left`` is its depth when the run ended (after the drain), ``inFlight`` what a
reader still held. What remains is ``unaccounted``: lost, or (negative) taken twice after a redelivery.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class StageCount:
    """What one role did, as the books need it."""

    role: str
    work_in: str | None
    work_out: str | None
    publishes: bool
    """Whether its workers publish to ``work_out`` (a queue output; a Redis output does not)."""
    processed: int
    dropped: int
    in_flight: int = 0


@dataclass(frozen=True)
class QueueBook:
    alias: str
    put: int
    processed: int
    dropped: int
    left: int
    in_flight: int

    @property
    def unaccounted(self) -> int:
        return self.put - self.processed - self.dropped - self.left - self.in_flight

    def as_json(self) -> dict[str, int | str]:
        return {
            "alias": self.alias,
            "put": self.put,
            "processed": self.processed,
            "dropped": self.dropped,
            "left": self.left,
            "inFlight": self.in_flight,
            "unaccounted": self.unaccounted,
        }

    def line(self) -> str:
        text = (
            f"queue {self.alias}: {self.put:,} put = {self.processed:,} processed + {self.dropped:,} dropped"
            f" + {self.left:,} left"
        )
        if self.in_flight:
            text += f" + {self.in_flight:,} in flight"
        if self.unaccounted > 0:
            text += f"; {self.unaccounted:,} unaccounted (lost)"
        elif self.unaccounted < 0:
            text += f"; {-self.unaccounted:,} taken more than once (redelivered)"
        return text


def books(stages: list[StageCount], depths: dict[str, int]) -> list[QueueBook]:
    """One book per alias some role reads, in the order the roles list them; ``depths`` is keyed by alias."""
    aliases = list(dict.fromkeys(s.work_in for s in stages if s.work_in))
    out = []
    for alias in aliases:
        readers = [s for s in stages if s.work_in == alias]
        out.append(
            QueueBook(
                alias=alias,
                put=sum(s.processed for s in stages if s.work_out == alias and s.publishes),
                processed=sum(s.processed for s in readers),
                dropped=sum(s.dropped for s in readers),
                left=depths.get(alias, 0),
                in_flight=sum(s.in_flight for s in readers),
            )
        )
    return out
