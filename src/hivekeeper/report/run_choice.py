"""Which stored run ``hivekeeper report NAMESPACE/SWARM [--run ID]`` shows: the ConfigMap named by the Swarm's
status (``status.run.series`` for the current or last run, ``status.runs[].series`` for each finished one, newest
first).

Pure, over the Swarm as the Kubernetes API returns it (a dict). The status is read leniently (only ``id``,
``phase`` and ``series``), so a status written by an older operator, without ``series``, is said as such rather
than refused as malformed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hivekeeper.errors import InvalidInput


class NoSuchRun(InvalidInput):
    """The Swarm has no run of the id asked for, or no run at all."""


class NoRunSeries(InvalidInput):
    """The run exists, but no ConfigMap holds its record (an older operator, or it has not started yet)."""


@dataclass(frozen=True)
class RunEntry:
    """A run as the Swarm's status names it: the current one (``status.run``) or a finished one."""

    id: str
    series: str | None
    current: bool
    phase: str | None = None

    def describe(self) -> str:
        return f"{self.id} ({self.phase or 'current'})" if self.current else self.id


def entries(body: dict[str, Any]) -> list[RunEntry]:
    """The current run (when there is one), then ``status.runs`` newest first."""
    status = body.get("status") or {}
    out = []
    current = status.get("run")
    if isinstance(current, dict) and current.get("id"):
        out.append(RunEntry(str(current["id"]), current.get("series") or None, True, current.get("phase")))
    for record in status.get("runs") or []:
        if isinstance(record, dict) and record.get("id"):
            out.append(RunEntry(str(record["id"]), record.get("series") or None, False))
    return out


def choose(ref: str, body: dict[str, Any], run_id: str | None = None) -> tuple[str, str]:
    """The run to report on and the ConfigMap holding its record: ``run_id``'s (the current run first, then the
    history), or by default the current run if it has a stored record, else the newest finished one that has."""
    runs = entries(body)
    if not runs:
        raise NoSuchRun(
            f"swarm {ref} has no runs: it has no spec.run, or the operator has not started it yet "
            f"(hivekeeper history {ref} shows its runs once it has)"
        )
    current_id = runs[0].id if runs[0].current else None
    listed = ", ".join(run.describe() for run in runs if run.current or run.id != current_id)
    if run_id is not None:
        matching = [run for run in runs if run.id == run_id]
        if not matching:
            raise NoSuchRun(f"swarm {ref} has no run {run_id!r}; its runs: {listed}; give one of them to --run")
        for run in matching:
            if run.series:
                return run.id, run.series
        raise NoRunSeries(_no_series(ref, matching[0]))
    for run in runs:
        if run.series:
            return run.id, run.series
    raise NoRunSeries(
        f"swarm {ref}: none of its runs ({listed}) has a stored record (status.run.series, status.runs[].series): "
        f"{_why_none()}; hivekeeper history {ref} lists their verdicts"
    )


def _no_series(ref: str, run: RunEntry) -> str:
    if run.current and run.phase in (None, "Pending"):
        why = "it has not started yet (Pending): try again once it runs"
    else:
        why = "it ran under an operator that does not store runs (upgrade the operator; later runs are stored)"
    return f"swarm {ref}: run {run.id!r} has no stored record (no series in its status): {why}"


def _why_none() -> str:
    return (
        "they ran under an operator that does not store runs (upgrade the operator; later runs are stored), "
        "or the current run has not started yet"
    )
