"""CPU time of processes, read from /proc (Linux): what the benches divide by their items."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path


def cpu_seconds(pid: int) -> float:
    """utime + stime of process ``pid`` (all its threads) from /proc/PID/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def group_pids(pgid: int, comm: str | None = None) -> list[int]:
    """The processes of process group ``pgid`` (those named ``comm`` only, if given)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, IndexError):
            text = (entry / "stat").read_text()
            name = text[text.index("(") + 1 : text.rindex(")")]
            if int(text.rsplit(")", 1)[1].split()[2]) == pgid and (comm is None or name == comm):
                found.append(int(entry.name))
    return found


def tree_cpu_seconds(root: int) -> float:
    """CPU seconds of ``root`` and every process below it (a broker: its start script, beam.smp, epmd...)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
                children.setdefault(parent, []).append(int(entry.name))
    total, todo = 0.0, [root]
    while todo:
        pid = todo.pop()
        with contextlib.suppress(OSError):
            total += cpu_seconds(pid)
        todo.extend(children.get(pid, []))
    return total
