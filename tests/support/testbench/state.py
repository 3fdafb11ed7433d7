"""The state file of ``make services``: which long-lived bench processes run, and their URLs."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from testbench.procs import group_alive, stop_group

REPO = Path(__file__).resolve().parents[3]


def bench_home() -> Path:
    return Path(os.environ.get("HIVEKEEPER_BENCH_DIR") or REPO / ".bench")


def state_path() -> Path:
    return bench_home() / "state.json"


def load() -> dict[str, Any]:
    try:
        data: dict[str, Any] = json.loads(state_path().read_text())
    except (OSError, ValueError):
        return {}
    return data


def save(state: dict[str, Any]) -> None:
    state_path().parent.mkdir(parents=True, exist_ok=True)
    state_path().write_text(json.dumps(state, indent=2))


def alive(entry: dict[str, Any]) -> bool:
    return all(group_alive(pid) for pid in entry.get("pids", []))


def running(name: str) -> dict[str, Any] | None:
    """The entry for ``name`` when ``make services`` started it and all its processes still run."""
    entry = load().get(name)
    if isinstance(entry, dict) and alive(entry):
        return entry
    return None


def stop_recorded() -> list[str]:
    """Stop what ``up`` recorded. The node's processes are left to ``ledger.sweep``, which signals all of them
    at once (one by one, each kubelet or shim could take its whole grace period)."""
    stopped = []
    for name, entry in load().items():
        if "namespace" not in entry:
            for pid in reversed(entry.get("pids", [])):
                stop_group(pid)
        stopped.append(name)
    with_file = state_path()
    if with_file.exists():
        with_file.unlink()
    return stopped
