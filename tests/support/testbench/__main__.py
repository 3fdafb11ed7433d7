"""``python -m testbench``: install, start, inspect and stop the bench from a shell.

install [SERVICE...]   install/build what is missing (rabbitmq, redis, kube, tools); no start
up [SERVICE...]        start services in the background and record them in .bench/state.json
down                   stop everything ``up`` started, and remove the node (``make cluster-down``)
load-images            load the images ``make images`` built into the running node
status                 print what runs and its URLs
versions               print the versions of every service binary
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

from testbench import state
from testbench.errors import BenchError
from testbench.gobuild import COREDNS, ETCD, HELM, KSTATUS, KUBE_SCORE, KUBERNETES
from testbench.packages import NODE, ensure_debian_packages

ALL = ["rabbitmq", "redis", "kube"]
TOOLS = "tools"
"""Linters and helpers the tests run (npm tools, shellcheck, headless chromium); installed by a bare ``install``,
never started."""


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
        for build in (ETCD, KUBERNETES, COREDNS, KSTATUS, HELM, KUBE_SCORE):
            began = time.monotonic()
            if build.ensure_built():
                print(f"built {build.name} {build.version()} in {time.monotonic() - began:.0f}s into {build.bin_dir()}")
            else:
                print(f"{build.name} {build.version()}: cached in {build.bin_dir()}")
        from testbench.images import ensure_images

        began = time.monotonic()
        archives = ensure_images()  # our images, for the node's pods (cached by the digest of their inputs)
        print(f"images {', '.join(archives)}: ready in {time.monotonic() - began:.0f}s")
    if TOOLS in services or services == ALL:
        install_tools()


def install_tools() -> None:
    from testbench.npmtools import ensure_npm_tools, prefix

    began = time.monotonic()
    installed = ensure_debian_packages(["shellcheck", "chromium"])
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
            from testbench.images import built_archives

            archives = built_archives()  # `make images` ran before: the node starts with them loaded
            cp = start_cluster(home / "kube", images=list(archives.values()))
            current[name] = {
                "kubeconfig": str(cp.kubeconfig),
                "server": cp.server,
                "namespace": cp.namespace,
                "workdir": str(cp.workdir),
                "node_ip": cp.node_ip,
                "pids": [p.pid for p in [*cp.relays, *cp.processes]],
                "startup_seconds": {k: round(v, 2) for k, v in cp.startup_seconds.items()},
                "versions": cp.versions,
                "images": sorted(archives),
            }
        state.save(current)
    if "kube" in services:
        expose_services(current)
        state.save(current)
        link_tools(home / "bin")
    status()
    if "kube" in services:
        print(next_steps(current, home))


def link_tools(directory: Path) -> None:
    """``.bench/bin/kubectl`` and ``helm``: the versions the bench built, for the shell of a person."""
    from testbench.gobuild import HELM

    directory.mkdir(parents=True, exist_ok=True)
    for target in (KUBERNETES.binary("kubectl"), HELM.binaries()[0]):
        link = directory / target.name
        link.unlink(missing_ok=True)
        link.symlink_to(target)


def next_steps(current: dict[str, Any], home: Path) -> str:
    kube = current["kube"]
    urls = kube.get("pod_urls", {})
    return f"""
The node is up. In your shell:
  export KUBECONFIG={kube["kubeconfig"]} PATH={home / "bin"}:$PATH
  kubectl get nodes
Pods reach RabbitMQ at {urls.get("rabbitmq", "(not started)")} and Redis at {urls.get("redis", "(not started)")}.
Try the operator (README, "Try the operator without Docker"): make images, then helm install with those URLs.
Remove everything: make cluster-down"""


POD_PORTS = {"rabbitmq": 5672, "redis": 6379}
"""Where pods find the bench's RabbitMQ and Redis: these ports on the node's address."""


def expose_services(current: dict[str, Any]) -> None:
    """Relay the bench's RabbitMQ and Redis into the node, so pods reach them at the node's address."""
    from testbench.kube import Cluster

    cluster = Cluster.attach(current["kube"])
    pod_urls = current["kube"].setdefault("pod_urls", {})
    for name, node_port in POD_PORTS.items():
        if name not in current or name in pod_urls:
            continue
        pod_urls[name], exposure = cluster.expose_url(current[name]["url"], node_port)
        current["kube"]["pids"].append(exposure.relay.pid)


def load_images() -> int:
    """``make images``' last step: load the built archives into the running ``make cluster`` node."""
    from testbench.images import built_archives
    from testbench.kube import Cluster

    archives = built_archives()
    entry = state.running("kube")
    if entry is None:
        if archives:
            print(f"images ready ({', '.join(archives)}); `make cluster` loads them into the node when it starts")
        return 0
    if not archives:
        print(
            "the bench node runs, but no image archives were built (a Docker engine took the build?);"
            " build them with `DOCKER_HOST= make images` on a machine without one",
            file=sys.stderr,
        )
        return 1
    Cluster.attach(entry).load_images(list(archives.values()))
    current = state.load()
    current["kube"]["images"] = sorted(archives)
    state.save(current)
    print(f"loaded {', '.join(archives)} into the node of `make cluster`")
    return 0


def status() -> None:
    entries = state.load()
    if not entries:
        print("no bench services recorded (start them with `make services` or `make cluster`)")
    for name, entry in entries.items():
        where = entry.get("url") or f"KUBECONFIG={entry.get('kubeconfig')}"
        health = "running" if state.alive(entry) else "DEAD"
        print(f"{name:9} {health:8} {where}  (started in {entry.get('startup_seconds')}s)")
        for service, url in entry.get("pod_urls", {}).items():
            print(f"{'':9} {'':8} pods reach {service} at {url}")
        if name == "kube":
            loaded = ", ".join(entry.get("images", [])) or "none yet (`make images` loads them)"
            print(f"{'':9} {'':8} images in the node: {loaded}")


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
        elif command == "load-images":
            return load_images()
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
