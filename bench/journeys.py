"""Journeys per second of one http-sequence worker, and what debug capture costs.

One ``hivekeeper run`` process runs one http-sequence role in direct mode (its own SCHEDULER input at
a rate it cannot reach, no output) with 64 journeys in flight. Each journey is the onboarding
journey: create a customer, open an account, issue a card, read the card back (4 HTTP calls, 3
required JSON Pointer extracts). The SUT is the demo service (``hivekeeper.local.demo_sut``) in its
own process. Measured side by side in one run:

* ``debugCapture.mode: NONE``;
* ``ALWAYS`` into a real Redis (every step written with SETEX, headers and request included);
* ``ALWAYS`` into the in-memory store (the CPU cost of building captures, without Redis).

Printed: journeys/s, HTTP calls/s, worker CPU µs per journey, and the NONE / ALWAYS ratios.

    python bench/journeys.py --seconds 5 [--redis redis://127.0.0.1:6379/0]

Benchmarks are not tests: nothing here asserts.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import yaml

from hivekeeper.local.demo_services import demo_service

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "support"))

from testbench.redis import start_redis  # noqa: E402

CONCURRENCY = 64
TEMPLATES = [
    {
        "serviceId": "onboarding",
        "callId": "createCustomer",
        "method": "POST",
        "pathTemplate": "/customers",
        "headersTemplate": {"Content-Type": "application/json", "Authorization": "Bearer bench"},
        "bodyTemplate": '{"name": "bench", "segment": "{{ pickWeighted(\'retail\', 70, \'business\', 30) }}"}',
    },
    {
        "serviceId": "onboarding",
        "callId": "openAccount",
        "method": "POST",
        "pathTemplate": "/customers/{{ ctx.customerId }}/accounts",
        "headersTemplate": {"Content-Type": "application/json"},
        "bodyTemplate": '{"currency": "EUR"}',
    },
    {
        "serviceId": "onboarding",
        "callId": "issueCard",
        "method": "POST",
        "pathTemplate": "/accounts/{{ ctx.accountId }}/cards",
    },
    {"serviceId": "onboarding", "callId": "readCard", "pathTemplate": "/cards/{{ ctx.cardId }}"},
]
STEPS = [
    {
        "id": "customer",
        "callId": "createCustomer",
        "extracts": [{"fromJsonPointer": "/id", "to": "customerId", "required": True}],
    },
    {
        "id": "account",
        "callId": "openAccount",
        "extracts": [{"fromJsonPointer": "/id", "to": "accountId", "required": True}],
    },
    {"id": "card", "callId": "issueCard", "extracts": [{"fromJsonPointer": "/id", "to": "cardId", "required": True}]},
    {"id": "verify", "callId": "readCard", "extracts": [{"fromJsonPointer": "/status", "to": "cardStatus"}]},
]


def swarm(mode: str) -> dict[str, Any]:
    config = {
        "inputs": {"type": "SCHEDULER", "scheduler": {"ratePerSec": 200_000}},
        "baseUrl": "{{ sut.endpoints.default.baseUrl }}",
        "serviceId": "onboarding",
        "threadCount": CONCURRENCY,
        "timeoutMs": 5000,
        "steps": STEPS,
        "debugCapture": {"mode": mode, "includeRequest": True, "redisTtlSeconds": 30},
    }
    return {
        "apiVersion": "hivekeeper.io/v1alpha1",
        "kind": "Swarm",
        "metadata": {"name": f"journeys-{mode.lower().replace('_', '-')}"},
        "spec": {
            "sut": {"endpoints": {"default": {"baseUrl": "http://unused"}}},
            "templates": TEMPLATES,
            "roles": [{"name": "journeys", "role": "http-sequence", "config": config}],
        },
    }


def one(url: str, seconds: float, mode: str, redis_url: str | None, workdir: Path) -> dict[str, Any]:
    """One ``hivekeeper run`` of the journey swarm; its journeys/s and CPU per journey."""
    label = f"{mode}" + ("" if mode == "NONE" else " → Redis" if redis_url else " → memory store")
    manifest = workdir / f"{mode}-{bool(redis_url)}.yaml"
    manifest.write_text(yaml.safe_dump(swarm(mode)))
    out = workdir / f"{mode}-{bool(redis_url)}.json"
    argv = [sys.executable, "-m", "hivekeeper.cli", "run", str(manifest), "--sut", url, "--duration", str(seconds)]
    argv += ["--json", str(out), "--interval", "60"] + (["--redis", redis_url] if redis_url else [])
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=seconds + 120)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0 or not out.exists():
        return {"mode": label, "error": (done.stderr or done.stdout).strip()[-300:]}
    result = json.loads(out.read_text())
    role = result["roles"][0]
    journeys = role["processed"]
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {
        "mode": label,
        "journeys": journeys,
        "seconds": result["durationSeconds"],
        "journeys_per_s": journeys / result["durationSeconds"],
        "calls_per_s": 4 * journeys / result["durationSeconds"],
        "cpu_us_per_journey": cpu / journeys * 1e6 if journeys else 0.0,
        "errors": role["errors"],
        "dropped": role["dropped"],
        "p99_ms": role.get("latencyMs", {}).get("p99"),
    }


def bench_journeys(seconds: float, redis_url: str | None = None) -> dict[str, Any]:
    """NONE vs ALWAYS (Redis) vs ALWAYS (memory store); starts a private Redis when none is given."""
    with tempfile.TemporaryDirectory(prefix="hivekeeper-journeys-") as tmp:
        workdir = Path(tmp)
        redis = None
        if redis_url is None:
            redis = start_redis(workdir / "redis")
            redis_url = redis.url
        try:
            with demo_service() as url:
                rows = [
                    one(url, seconds, "NONE", None, workdir),
                    one(url, seconds, "ALWAYS", redis_url, workdir),
                    one(url, seconds, "ALWAYS", None, workdir),
                ]
        finally:
            if redis is not None:
                redis.stop()
    none, redis_row, memory_row = rows
    result: dict[str, Any] = {"rows": rows}
    if "error" not in none:
        for name, row in (("always_redis", redis_row), ("always_memory", memory_row)):
            if "error" not in row and row["journeys_per_s"]:
                result[f"ratio_none_vs_{name}"] = none["journeys_per_s"] / row["journeys_per_s"]
    return result


def report(result: dict[str, Any]) -> None:
    print(f"\nhttp-sequence, 4-step journeys, one worker process, {CONCURRENCY} in flight, demo SUT in its own process")
    print(f"{'debugCapture':24} {'journeys/s':>11} {'calls/s':>9} {'CPU µs/journey':>15} {'p99 ms':>7}  errors")
    for row in result["rows"]:
        if "error" in row:
            print(f"{row['mode']:24} not measured: {row['error'][:90]}")
            continue
        print(
            f"{row['mode']:24} {row['journeys_per_s']:11,.0f} {row['calls_per_s']:9,.0f} "
            f"{row['cpu_us_per_journey']:15,.0f} {row['p99_ms'] or 0:7.2f}  {row['errors'] + row['dropped']}"
        )
    for key, label in (("ratio_none_vs_always_redis", "Redis"), ("ratio_none_vs_always_memory", "memory store")):
        if key in result:
            print(f"  NONE / ALWAYS ({label}): {result[key]:.2f}x")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--redis", metavar="URL", help="use this Redis (default: start a private one)")
    parser.add_argument("--json", metavar="FILE", help="also write the result as JSON")
    args = parser.parse_args()
    result = bench_journeys(args.seconds, args.redis)
    report(result)
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
