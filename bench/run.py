"""``make bench``: hivekeeper's request rate next to its peers, measured side by side in one run.

Everything hits the same nginx on loopback (one worker process, a tiny 200), one client process at
a time, 50 connections, for ``--seconds``. Printed: requests per second, client CPU µs per request,
and the ratios the design promises (DESIGN.md §7):

* hivekeeper processor in direct mode (SCHEDULER input, no broker) vs Locust FastHttpUser (≥ 5x),
  vs vegeta, vs wrk (≥ 0.5x; above ~0.9 nginx itself is the limit on two cores);
* work-plane pipelines, each worker a process of its own on a private RabbitMQ (bench/pipelines.py, also
  ``make bench-pipelines``): generator → RabbitMQ → processor and generator → request-builder → processor,
  items/s with batching on and off (decision 0013; goals ≥ 30k and ≥ 20k with batching), RabbitMQ's and the
  workers' CPU µs per item (goal: batching cuts the broker's ≥ 5x), and the p50/p99 latency from the generator to
  the processor at 100 items/s (goal p99 < 2 ms) and at full speed;
* one http-sequence worker: 4-step journeys per second, and debugCapture ALWAYS vs NONE (bench/journeys.py);
* on the bench's real one-node Kubernetes (bench/kube_node.py): worker pod create → Running / Ready /
  reporting, p50/p95 over ``--pods`` pods one at a time and as one 0 → ``--pods`` scale (bench/pod_startup.py);
  then the operator: spec edit → every worker pod applied, p50/p95 over ``--edits`` edits with 3 replicas
  per role, and its status-patch rate under a steady swarm (bench/operator_edits.py).

Benchmarks are not tests: nothing here asserts, the numbers are for people (and the decision docs).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "support"))

from testbench.gobuild import VEGETA  # noqa: E402
from testbench.packages import DEBIAN_PACKAGES, ensure_debian_packages  # noqa: E402
from testbench.procs import ManagedProcess, free_port, port_answers  # noqa: E402

sys.path.insert(0, str(REPO / "bench"))
from http_clients import CANDIDATES, run_one  # noqa: E402
from journeys import bench_journeys  # noqa: E402
from journeys import report as report_journeys  # noqa: E402
from operator_edits import bench_operator, report  # noqa: E402
from pipelines import bench_pipelines  # noqa: E402
from pipelines import report as report_pipelines  # noqa: E402

CONCURRENCY = 50
NGINX_CONF = """
worker_processes 1;
daemon off;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  client_body_temp_path {dir}/body;
  proxy_temp_path {dir}/proxy;
  fastcgi_temp_path {dir}/fastcgi;
  uwsgi_temp_path {dir}/uwsgi;
  scgi_temp_path {dir}/scgi;
  keepalive_requests 10000000;
  server {{
    listen {address}:{port} backlog=4096;
    location / {{ return 200 "ok\\n"; }}
  }}
}}
"""


def start_nginx(workdir: Path) -> tuple[ManagedProcess, str]:
    port = free_port()
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "nginx.conf").write_text(NGINX_CONF.format(dir=workdir, address="127.0.0.1", port=port))
    proc = ManagedProcess(
        "nginx", [DEBIAN_PACKAGES["nginx"][1], "-c", str(workdir / "nginx.conf")], workdir / "nginx.out"
    ).start()
    proc.wait_ready(lambda: port_answers(port), 10, "listening")
    return proc, f"http://127.0.0.1:{port}"


def timed(argv: list[str], **kwargs: Any) -> tuple[subprocess.CompletedProcess[str], float]:
    """Run a client to completion; return its result and the CPU seconds it used."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(argv, capture_output=True, text=True, check=False, **kwargs)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return done, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def row(name: str, requests: float, seconds: float, cpu: float, note: str = "") -> dict[str, Any]:
    return {
        "client": name,
        "requests": int(requests),
        "seconds": round(seconds, 2),
        "rps": requests / seconds if seconds else 0.0,
        "cpu_us": cpu / requests * 1e6 if requests else None,
        "note": note,
    }


def bench_wrk(url: str, seconds: float) -> dict[str, Any]:
    done, cpu = timed([DEBIAN_PACKAGES["wrk"][1], "-t1", f"-c{CONCURRENCY}", f"-d{seconds:.0f}s", url + "/"])
    found = re.search(r"(\d+) requests in ([\d.]+)s", done.stdout)
    if not found:
        return {"client": "wrk", "error": done.stderr.strip() or done.stdout.strip()}
    return row("wrk (C, 1 thread)", float(found.group(1)), float(found.group(2)), cpu)


def bench_vegeta(url: str, seconds: float) -> dict[str, Any]:
    VEGETA.ensure_built()
    binary = str(VEGETA.binaries()[0])
    with tempfile.NamedTemporaryFile(suffix=".bin") as results:
        attack, cpu = timed(
            [
                binary,
                "attack",
                "-rate=0",
                f"-max-workers={CONCURRENCY}",
                f"-workers={CONCURRENCY}",
                f"-duration={seconds:.0f}s",
                f"-output={results.name}",
            ],
            input=f"GET {url}/\n",
            env={**os.environ, "GOMAXPROCS": "1"},
        )
        report = subprocess.run(
            [binary, "report", "-type=json", results.name], capture_output=True, text=True, check=False
        )
    if attack.returncode != 0 or report.returncode != 0:
        return {"client": "vegeta", "error": (attack.stderr or report.stderr).strip()}
    data = json.loads(report.stdout)
    return row("vegeta (Go, GOMAXPROCS=1)", data["requests"], data["duration"] / 1e9, cpu)


def bench_locust(url: str, seconds: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        done, cpu = timed(
            [
                sys.executable,
                "-m",
                "locust",
                "-f",
                str(REPO / "bench" / "locustfile.py"),
                "--headless",
                "-u",
                str(CONCURRENCY),
                "-r",
                str(CONCURRENCY * 10),
                "-t",
                f"{seconds:.0f}s",
                "-H",
                url,
                "--csv",
                f"{tmp}/locust",
                "--only-summary",
                "--loglevel",
                "ERROR",
            ]
        )
        stats = Path(f"{tmp}/locust_stats.csv")
        if not stats.exists():
            return {"client": "locust", "error": (done.stderr.strip().splitlines() or ["no stats"])[-1]}
        total = next(line for line in stats.read_text().splitlines() if ",Aggregated," in line).split(",")
    requests = float(total[2])
    rps = float(total[9])
    return row("Locust FastHttpUser", requests, requests / rps if rps else seconds, cpu)


def bench_direct(url: str, seconds: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "run.json"
        done, cpu = timed(
            [
                sys.executable,
                "-m",
                "hivekeeper.cli",
                "run",
                str(REPO / "bench" / "direct.yaml"),
                "--sut",
                url,
                "--duration",
                str(seconds),
                "--json",
                str(out),
                "--interval",
                "60",
            ]
        )
        if done.returncode != 0 or not out.exists():
            return {"client": "hivekeeper direct", "error": done.stderr.strip()[-300:]}
        result = json.loads(out.read_text())
    caller = result["roles"][0]
    note = f"p99 {caller['latencyMs']['p99']:.2f} ms, errors {caller['errors']}"
    return row("hivekeeper processor, direct", caller["processed"], result["durationSeconds"], cpu, note)


def ratio(ours: dict[str, Any], peer: dict[str, Any]) -> str:
    if "rps" not in ours or "rps" not in peer or not peer["rps"]:
        return "-"
    return f"{ours['rps'] / peer['rps']:.2f}x"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--json", metavar="FILE", help="also write the rows as JSON")
    parser.add_argument(
        "--clients",
        action="store_true",
        help="also compare Python HTTP clients on the same nginx (bench/http_clients.py)",
    )
    parser.add_argument("--edits", type=int, default=20, help="spec edits for the operator latency (0 skips it)")
    parser.add_argument("--pods", type=int, default=10, help="pods per pod start-up shape (0 skips it)")
    parser.add_argument("--steady", type=float, default=30.0, help="seconds of steady swarm for the status-patch rate")
    args = parser.parse_args()
    ensure_debian_packages(["nginx", "wrk", "rabbitmq"])
    with tempfile.TemporaryDirectory(prefix="hivekeeper-bench-") as tmp:
        workdir = Path(tmp)
        nginx, url = start_nginx(workdir / "nginx")
        try:
            rows = {
                "wrk": bench_wrk(url, args.seconds),
                "vegeta": bench_vegeta(url, args.seconds),
                "locust": bench_locust(url, args.seconds),
                "direct": bench_direct(url, args.seconds),
            }
            pipelines = bench_pipelines(url, args.seconds, workdir, nginx.pid)
            clients = [run_one(name, url + "/", args.seconds, CONCURRENCY) for name in CANDIDATES if args.clients]
            journeys = bench_journeys(args.seconds)
            on_node = args.edits or args.pods
            node = bench_operator(url, workdir, args.edits, args.steady, args.pods) if on_node else {}
        finally:
            nginx.stop()
    print(f"\nSame nginx (1 worker) on loopback, {CONCURRENCY} connections, {args.seconds:.0f} s each, 2 cores\n")
    print(f"{'client':36} {'req/s':>9} {'CPU µs/req':>11}  note")
    for data in rows.values():
        if "error" in data:
            print(f"{data['client']:36} {'-':>9} {'-':>11}  not measured: {data['error'][:80]}")
            continue
        cpu = f"{data['cpu_us']:.1f}" if data["cpu_us"] else "-"
        print(f"{data['client']:36} {data['rps']:9,.0f} {cpu:>11}  {data['note']}")
    direct = rows["direct"]
    print("\nratios (hivekeeper direct mode / peer):")
    print(f"  vs Locust FastHttpUser: {ratio(direct, rows['locust'])}   (goal ≥ 5x)")
    print(f"  vs vegeta:              {ratio(direct, rows['vegeta'])}")
    print(f"  vs wrk:                 {ratio(direct, rows['wrk'])}   (goal ≥ 0.5x)")
    report_pipelines(pipelines)
    if clients:
        print(f"\nPython HTTP clients, same nginx, one process each, {CONCURRENCY} concurrent requests:")
        print(f"{'client':20} {'req/s':>9} {'CPU µs/req':>11}")
        for client in clients:
            if "error" in client:
                print(f"{client['client']:20} {'-':>9} {'-':>11}  not measured: {str(client['error'])[:60]}")
            else:
                print(f"{client['client']:20} {client['rps']:9,.0f} {client['cpu_us']:11.1f}")
    report_journeys(journeys)
    if node:
        report(node)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(
            json.dumps(
                {"rows": rows, "pipelines": pipelines, "clients": clients, "journeys": journeys, **node}, indent=2
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
