"""``python -m testbench``: install, start, inspect and stop the bench from a shell.

install [SERVICE...]   install/build what is missing (rabbitmq, redis, kube, tools); no start
up [SERVICE...]        start services in the background and record them in .bench/state.json
down                   stop everything ``up`` started
status                 print what runs and its URLs
versions               print the versions of every service binary
"""

from __future__ import annotations

import sys
import time

from testbench import state
from testbench.errors import BenchError
from testbench.gobuild import COREDNS, ETCD, HELM, KSTATUS, KUBERNETES
from testbench.packages import NODE, ensure_debian_packages

ALL = ["rabbitmq", "redis", "kube"]
TOOLS = "tools"
"""Linters and helpers the tests run (npm tools, shellcheck); installed by a bare ``install``, never started."""


def install(services: list[str]) -> None:
    debian = [s for s in services if s in ("rabbitmq", "redis")]
    started = time.monotonic()
    installed = ensure_debian_packages(debian)
    if installed:
        print(f"installed {' '.join(installed)} in {time.monotonic() - started:.1f}s")
    if "kube" in services:
        began = time.monotonic()
        installed = ensure_debian_packages(NODE, start_services=False)
        if installed:
            print(f"installed {' '.join(installed)} in {time.monotonic() - began:.1f}s")
        for build in (ETCD, KUBERNETES, COREDNS, KSTATUS, HELM):
            began = time.monotonic()
            if build.ensure_built():
                print(f"built {build.name} {build.version()} in {time.monotonic() - began:.0f}s into {build.bin_dir()}")
            else:
                print(f"{build.name} {build.version()}: cached in {build.bin_dir()}")
    if TOOLS in services or services == ALL:
        install_tools()


def install_tools() -> None:
    from testbench.npmtools import ensure_npm_tools, prefix

    began = time.monotonic()
    installed = ensure_debian_packages(["shellcheck"])
    if installed:
        print(f"installed {' '.join(installed)} in {time.monotonic() - began:.1f}s")
    began = time.monotonic()
    if ensure_npm_tools():
        print(f"installed npm tools in {time.monotonic() - began:.0f}s into {prefix()}")
    else:
        print(f"npm tools: cached in {prefix()}")


def up(services: list[str]) -> None:
    from testbench.kube import start_cluster
    from testbench.rabbitmq import start_rabbitmq
    from testbench.redis import start_redis

    install(services)
    current = state.load()
    home = state.bench_home()
    for name in services:
        if state.running(name):
            print(f"{name}: already running")
            continue
        if name == "rabbitmq":
            rmq = start_rabbitmq(home / "rabbitmq")
            current[name] = {
                "url": rmq.url,
                "pids": [p.pid for p in rmq.processes],
                "startup_seconds": round(rmq.startup_seconds, 2),
            }
        elif name == "redis":
            red = start_redis(home / "redis")
            current[name] = {
                "url": red.url,
                "pids": [p.pid for p in red.processes],
                "startup_seconds": round(red.startup_seconds, 2),
            }
        else:
            cp = start_cluster(home / "kube")
            current[name] = {
                "kubeconfig": str(cp.kubeconfig),
                "server": cp.server,
                "namespace": cp.namespace,
                "workdir": str(cp.workdir),
                "node_ip": cp.node_ip,
                "pids": [p.pid for p in [*cp.relays, *cp.processes]],
                "startup_seconds": {k: round(v, 2) for k, v in cp.startup_seconds.items()},
                "versions": cp.versions,
            }
        state.save(current)
    status()


def status() -> None:
    entries = state.load()
    if not entries:
        print("no bench services recorded (start them with `make services` or `make cluster`)")
    for name, entry in entries.items():
        where = entry.get("url") or f"KUBECONFIG={entry.get('kubeconfig')}"
        health = "running" if state.alive(entry) else "DEAD"
        print(f"{name:9} {health:8} {where}  (started in {entry.get('startup_seconds')}s)")


def versions() -> None:
    from testbench.kube import binary_versions
    from testbench.procs import run_checked

    print(run_checked("rabbitmq", ["dpkg-query", "-W", "rabbitmq-server", "redis-server"]).strip())
    for name, text in binary_versions().items():
        print(f"{name}: {text}")


def main(argv: list[str]) -> int:
    command, args = (argv[0], argv[1:]) if argv else ("status", [])
    services = args or ALL
    known = [*ALL, TOOLS] if command == "install" else ALL
    unknown = [s for s in services if s not in known] if command in ("install", "up") else []
    if unknown:
        print(f"unknown service {unknown[0]!r}; choose from {', '.join(known)}", file=sys.stderr)
        return 2
    try:
        if command == "install":
            install(services)
        elif command == "up":
            up(services)
        elif command == "down":
            from testbench import ledger

            stopped = state.stop_recorded()
            swept = ledger.sweep_bench(state.bench_home())  # `make cluster`'s node, and any a killed run left
            print(f"stopped: {', '.join(stopped) or 'nothing was running'}")
            if swept:
                what = "processes, mounts, cgroups, network namespace, state"
                print(f"removed node{'s' if len(swept) > 1 else ''} {', '.join(swept)} ({what})")
        elif command == "status":
            status()
        elif command == "versions":
            versions()
        else:
            print(__doc__, file=sys.stderr)
            return 2
    except BenchError as exc:
        print(exc, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
