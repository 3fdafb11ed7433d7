"""``make bench``, TCP: one processor process's request/response rate against a Go line echo server on loopback,
next to a Go peer client measured in the same run.

The echo server (``bench/tcpecho``, Go standard library only, built into the cache on first use) answers each
line. Then, one client at a time for ``--seconds`` with ``--conns`` connections:

* the peer: ``tcpecho -client``, one goroutine per connection writing ``ping-<n>\\n`` and reading the echo;
* hivekeeper: the processor role with a ``tcp://`` baseUrl and its pooled TCP client (REQUEST_RESPONSE, end tag
  ``\\n``) in one process on uvloop, driven by ``--conns`` loops each handing it a prebuilt ``tcp.request`` item
  (no broker, no request-builder: the processor's own cost, as direct mode measures it for HTTP).

Printed: requests per second, client CPU µs per request, and the ratio. Benchmarks are not tests: nothing here
asserts.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
SOURCE = REPO / "bench" / "tcpecho"


def build_tcpecho() -> Path:
    """The tcpecho binary, built once per source digest into the cache (``HIVEKEEPER_CACHE``)."""
    digest = hashlib.sha256(b"".join(p.read_bytes() for p in [*sorted(SOURCE.glob("*.go")), SOURCE / "go.mod"]))
    cache = Path(os.environ.get("HIVEKEEPER_CACHE") or Path.home() / ".cache" / "hivekeeper")
    binary = cache / f"tcpecho-{digest.hexdigest()[:12]}"
    if not binary.exists():
        if shutil.which("go") is None:
            raise SystemExit("bench/tcp.py needs Go to build bench/tcpecho (make bench-install installs it)")
        cache.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "GOFLAGS": "-mod=mod", "GOTOOLCHAIN": "local"}
        subprocess.run(["go", "build", "-o", str(binary), "."], cwd=SOURCE, env=env, check=True)
    return binary


def _cpu_of_children() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def row(name: str, requests: float, seconds: float, cpu: float, note: str = "") -> dict[str, Any]:
    return {
        "client": name,
        "requests": int(requests),
        "seconds": round(seconds, 2),
        "rps": requests / seconds if seconds else 0.0,
        "cpu_us": cpu / requests * 1e6 if requests else None,
        "note": note,
    }


def measure(argv: list[str], name: str) -> dict[str, Any]:
    before = _cpu_of_children()
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    cpu = _cpu_of_children() - before
    if done.returncode != 0:
        return {"client": name, "error": done.stderr.strip()[-300:]}
    result = json.loads(done.stdout.strip().splitlines()[-1])
    note = f"errors {result['errors']}" + (f", p99 {result['p99']:.2f} ms" if "p99" in result else "")
    return row(name, result["requests"], result["seconds"], cpu, note)


async def drive(address: str, conns: int, seconds: float) -> dict[str, Any]:
    """The processor role and its TCP client in this process, ``conns`` loops for ``seconds``."""
    import orjson

    from hivekeeper.api import roles as role_configs
    from hivekeeper.protocol.workitem import new_item
    from hivekeeper.templating.engine import TemplateEngine
    from hivekeeper.worker.roles.base import RoleDeps, Wiring
    from hivekeeper.worker.roles.registry import ROLES
    from hivekeeper.worker.tcp.client import TcpClient

    config = {"baseUrl": f"tcp://{address}", "threadCount": conns, "timeoutMs": 5000}
    deps = RoleDeps(swarm="bench", role="caller", instance="caller-0", engine=TemplateEngine(), tcp=TcpClient())
    wiring = Wiring(deps, lambda *_: None, None, False, None)
    processor = ROLES["processor"].build(role_configs.validate("processor", config), wiring)
    request = {"behavior": "REQUEST_RESPONSE", "body": "ping\n", "endTag": "\n"}
    item = new_item(
        orjson.dumps({"kind": "tcp.request", "request": request}).decode(), swarm="bench", service="b", instance="b-0"
    )
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds

    async def one() -> None:
        while loop.time() < deadline:
            await processor.handle(item, 0)

    started = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(conns)))
    elapsed = time.perf_counter() - started
    stats = deps.stats
    replies = sum(stats.tcp_replies.values())
    return {"requests": replies, "errors": stats.errors, "seconds": elapsed, "p99": stats.latency.percentile(99)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--conns", type=int, default=50)
    parser.add_argument("--json", type=Path, help="write the rows here too")
    parser.add_argument("--drive", metavar="HOST:PORT", help=argparse.SUPPRESS)  # the hivekeeper child
    args = parser.parse_args()
    if args.drive:
        import uvloop

        print(json.dumps(uvloop.run(drive(args.drive, args.conns, args.seconds))))
        return 0
    binary = build_tcpecho()
    server = subprocess.Popen([str(binary), "-serve", "127.0.0.1:0"], stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        address = server.stdout.readline().strip().rsplit(" ", 1)[-1]
        common = ["-conns", str(args.conns), "-seconds", str(args.seconds)]
        rows = [
            measure([str(binary), "-client", address, *common], "Go client (peer)"),
            measure(
                [
                    sys.executable,
                    __file__,
                    "--drive",
                    address,
                    "--conns",
                    str(args.conns),
                    "--seconds",
                    str(args.seconds),
                ],
                "hivekeeper processor (TCP)",
            ),
        ]
    finally:
        server.terminate()
        server.wait(timeout=5)
    print(f"\nTCP request/response, line echo (Go) on loopback, {args.conns} connections, {args.seconds:g} s each:")
    print(f"{'client':<30} {'req/s':>10} {'CPU µs/req':>11}  note")
    for entry in rows:
        if "error" in entry:
            print(f"{entry['client']:<30} error: {entry['error']}")
            continue
        print(f"{entry['client']:<30} {entry['rps']:>10,.0f} {entry['cpu_us']:>11.1f}  {entry['note']}")
    ours, peer = rows[1], rows[0]
    if "rps" in ours and "rps" in peer and peer["rps"]:
        print(f"\nratio (hivekeeper / Go client): {ours['rps'] / peer['rps']:.2f}x")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
