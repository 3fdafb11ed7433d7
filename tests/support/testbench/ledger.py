"""What each bench node left on the host, and the sweep that removes all of it, also after a crash.

A node is more than its processes: containers live in cgroups under the node's cgroup root, runc shims
outlive containerd, the kubelet mounts tmpfs volumes under its root directory, containerd mounts overlay
root filesystems and pod network namespaces, and the node's own network namespace holds every address.
Before anything is created, ``record`` writes an entry under /run (gone at reboot, as all of the above);
``sweep`` removes, in this order: every process of the node (in its network namespace, its cgroups, or
naming its directory or namespace on the command line), every mount under its directory, its cgroups
(deepest first), its network namespace, its directory and the entry. Every step tolerates what an earlier,
interrupted sweep already removed, so running it twice is safe.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import time
from pathlib import Path

from testbench import netns

BENCH_RUN = Path("/run/hivekeeper-bench")
LEDGER = BENCH_RUN / "nodes"
BASELINE = BENCH_RUN / "baseline.json"
HOST_DIRS = (Path("/run/netns"), Path("/run/containerd"))
"""Directories a node makes on the host outside its own directory: ``ip netns add`` mounts /run/netns, and
containerd 1.6 keeps its shims' sockets under /run/containerd/s whatever its state directory is. Whether
each existed before the first node is noted in ``BASELINE``, and what did not exist is removed again once
the last node is gone."""
CGROUP_FS = Path("/sys/fs/cgroup")
KILL_GRACE = 5.0


def run_dir(namespace: str) -> Path:
    """A short directory for the node's sockets and runtime state (see ``node.NodeLayout``)."""
    return BENCH_RUN / namespace


def cgroup_root(namespace: str) -> str:
    """The kubelet's cgroupRoot for the node of ``namespace`` (one per node, so two never mix)."""
    return f"/{namespace}"


def record(namespace: str, workdir: Path, *, owner_pid: int | None = None) -> None:
    """Note a node about to be created. ``owner_pid``: the process whose death orphans it (None: detached,
    as under ``make cluster``, which ``make cluster-down`` sweeps)."""
    LEDGER.mkdir(parents=True, exist_ok=True)
    if not BASELINE.exists():
        BASELINE.write_text(json.dumps({str(d): d.exists() for d in HOST_DIRS}))
    entry = {"namespace": namespace, "workdir": str(workdir.resolve()), "owner_pid": owner_pid}
    (LEDGER / f"{namespace}.json").write_text(json.dumps(entry))


def entries() -> dict[str, dict[str, object]]:
    found: dict[str, dict[str, object]] = {}
    if LEDGER.is_dir():
        for path in LEDGER.glob("*.json"):
            with contextlib.suppress(OSError, ValueError):
                found[path.stem] = json.loads(path.read_text())
    for name in netns.listed():  # a namespace whose entry was lost still belongs to the bench
        found.setdefault(name, {"namespace": name, "workdir": None, "owner_pid": None})
    return found


def _alive(pid: object) -> bool:
    if not isinstance(pid, int):
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def sweep_orphans() -> list[str]:
    """Sweep the nodes whose owner process is gone (a test run killed before its teardown)."""
    swept = []
    for name, entry in entries().items():
        if entry.get("owner_pid") is not None and not _alive(entry["owner_pid"]):
            sweep(name)
            swept.append(name)
    return swept


def sweep_bench(home: Path) -> list[str]:
    """What ``make cluster-down`` removes: the nodes started from the bench directory ``home`` (``make
    cluster``, also one that crashed while starting) and every orphan; a node a running test session owns,
    or one of another checkout, is left alone."""
    swept = sweep_orphans()
    prefix = str(home.resolve()).rstrip("/") + "/"
    for name, entry in entries().items():
        workdir = entry.get("workdir")
        if entry.get("owner_pid") is None and (workdir is None or str(workdir).startswith(prefix)):
            sweep(name)
            swept.append(name)
    restore_host_dirs()
    return swept


def restore_host_dirs() -> None:
    """Once no node is left, remove the host directories the nodes made (see ``HOST_DIRS``)."""
    if entries():
        return
    try:
        existed: dict[str, bool] = json.loads(BASELINE.read_text())
    except (OSError, ValueError):
        existed = {}
    for directory in HOST_DIRS:
        if existed.get(str(directory), True) or not directory.exists():
            continue
        if directory == Path("/run/netns"):
            if any(directory.iterdir()):
                continue  # another tool made a namespace meanwhile; leave it its directory
            _unmount(str(directory))
            with contextlib.suppress(OSError):
                directory.rmdir()
        else:
            shutil.rmtree(directory, ignore_errors=True)
    BASELINE.unlink(missing_ok=True)
    with contextlib.suppress(OSError):
        LEDGER.rmdir()
        BENCH_RUN.rmdir()  # only once empty: another checkout's node may still have its directory here


def _netns_inode(namespace: str) -> int | None:
    try:
        return netns.path(namespace).stat().st_ino
    except OSError:
        return None


def _cgroup_dirs(namespace: str) -> list[Path]:
    root = cgroup_root(namespace).lstrip("/")
    return (
        [hierarchy / root for hierarchy in CGROUP_FS.iterdir() if (hierarchy / root).is_dir()]
        if CGROUP_FS.is_dir()
        else []
    )


def _ancestors() -> set[int]:
    """This process and its parents: a sweep never kills the shell or test run that asked for it."""
    found, pid = set(), os.getpid()
    while pid > 1 and pid not in found:
        found.add(pid)
        try:
            pid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            break
    return found


def node_pids(namespace: str, workdir: str | None) -> set[int]:
    """Every process that belongs to the node: in its network namespace, in its cgroups, entering its
    namespace (``nsenter --net=...``), relaying into it (``NAMESPACE/host:port``), or a runc shim of its
    containerd (``-address <run dir>/containerd.sock``)."""
    pids: set[int] = set()
    inode = _netns_inode(namespace)
    markers = [str(netns.path(namespace)).encode(), f"={namespace}/".encode(), f"--forward={namespace}/".encode()]
    markers.append(f"-address\0{run_dir(namespace)}/".encode())
    spared = _ancestors()
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) in spared:
            continue
        with contextlib.suppress(OSError):
            if inode is not None and (proc / "ns" / "net").stat().st_ino == inode:
                pids.add(int(proc.name))
                continue
            cmdline = (proc / "cmdline").read_bytes()
            if any(marker in cmdline for marker in markers):
                pids.add(int(proc.name))
    for directory in _cgroup_dirs(namespace):
        # os.walk, not rglob: the kubelet (or a second sweep) may remove a cgroup while we walk the tree.
        for parent, _, files in os.walk(directory):
            if "cgroup.procs" in files:
                with contextlib.suppress(OSError, ValueError):
                    pids.update(int(line) for line in Path(parent, "cgroup.procs").read_text().split())
    return pids - spared


def _kill(pids: set[int]) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, sig)
        deadline = time.monotonic() + KILL_GRACE
        while time.monotonic() < deadline:
            for pid in list(pids):
                with contextlib.suppress(ChildProcessError, OSError):
                    os.waitpid(pid, os.WNOHANG)  # reap our own children so they stop counting as alive
            pids = {pid for pid in pids if _alive(pid) and not _zombie(pid)}
            if not pids:
                return
            time.sleep(0.05)


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return True


def _mounts_under(prefix: str) -> list[str]:
    found = []
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/mountinfo").read_text().splitlines():
            point = line.split()[4].replace("\\040", " ")
            if point == prefix or point.startswith(prefix.rstrip("/") + "/"):
                found.append(point)
    return sorted(found, key=len, reverse=True)


def _unmount(prefix: str) -> None:
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    mnt_detach = 2
    for _ in range(3):  # stacked mounts come back one layer at a time
        points = _mounts_under(prefix)
        if not points:
            return
        for point in points:
            libc.umount2(point.encode(), mnt_detach)


def _remove_cgroups(namespace: str) -> None:
    for top in _cgroup_dirs(namespace):
        for parent, _, _ in os.walk(top, topdown=False):  # deepest first; a cgroup is removed with rmdir
            with contextlib.suppress(OSError):
                Path(parent).rmdir()


def sweep(namespace: str) -> None:
    """Remove every trace of the node of ``namespace`` (see the module docstring for the order)."""
    entry_path = LEDGER / f"{namespace}.json"
    workdir: str | None = None
    with contextlib.suppress(OSError, ValueError):
        workdir = json.loads(entry_path.read_text()).get("workdir")
    for _ in range(3):  # a dying kubelet or shim may start one more process; look again
        pids = node_pids(namespace, workdir)
        if not pids:
            break
        _kill(pids)
    for directory in (workdir, str(run_dir(namespace))):
        if directory:
            _unmount(directory)
    _remove_cgroups(namespace)
    with contextlib.suppress(Exception):
        netns.delete(namespace)
    for directory in (workdir, str(run_dir(namespace))):
        if directory:
            shutil.rmtree(directory, ignore_errors=True)
    entry_path.unlink(missing_ok=True)
