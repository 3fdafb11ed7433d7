"""Peak RSS of one processor worker against one URL, measured in its own process.

    python -m testbench.rss_probe URL PATH --requests 8 --thread-count 4 --timeout-ms 1000 \
        [--max-response-bytes N] [--seconds 2]

Runs the processor as ``hivekeeper run`` does (direct mode: its own SCHEDULER input, the real worker
runtime and HTTP client, uvloop) for ``--seconds`` and prints one JSON line: the resident set before
the run (after imports, with the kernel's peak mark reset there) and its peak during the run, in
bytes, and the processor's summary row. A process of its own, so that neither the test runner nor
the SUT it talks to counts.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
from pathlib import Path
from typing import Any

import uvloop

from hivekeeper.api.swarm import Swarm
from hivekeeper.local.runner import RunOptions, run


def _status_bytes(name: str) -> int:
    """A ``Vm*`` line of /proc/self/status (reported in kB) in bytes."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{name}:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"/proc/self/status has no {name} line")


def _swarm(args: argparse.Namespace) -> Swarm:
    config: dict[str, Any] = {
        "baseUrl": args.url,
        "inputs": {"type": "SCHEDULER", "scheduler": {"ratePerSec": 1000, "maxMessages": args.requests}},
        "request": {"method": "GET", "path": args.path},
        "threadCount": args.thread_count,
        "timeoutMs": args.timeout_ms,
    }
    if args.max_response_bytes is not None:  # left out, the processor's default (or, before it existed, none)
        config["maxResponseBytes"] = args.max_response_bytes
    return Swarm.model_validate(
        {
            "apiVersion": "hivekeeper.io/v1alpha1",
            "kind": "Swarm",
            "metadata": {"name": "rss-probe"},
            "spec": {"roles": [{"name": "caller", "role": "processor", "config": config}]},
        }
    )


def _reset_peak() -> int:
    """Reset the kernel's peak mark (VmHWM) so that the peak read later is the run's; the RSS now."""
    Path("/proc/self/clear_refs").write_text("5")
    return _status_bytes("VmRSS")


async def _measure(swarm: Swarm, seconds: float, baseline: int) -> dict[str, Any]:
    result = await run(swarm, RunOptions(duration=seconds, out=io.StringIO(), interval=60))
    return {"baselineRssBytes": baseline, "peakRssBytes": _status_bytes("VmHWM"), "role": result["roles"][0]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("url")
    parser.add_argument("path")
    parser.add_argument("--requests", type=int, default=8)
    parser.add_argument("--thread-count", type=int, default=4)
    parser.add_argument("--timeout-ms", type=int, default=1000)
    parser.add_argument("--max-response-bytes", type=int, default=None)
    parser.add_argument("--seconds", type=float, default=2.0)
    args = parser.parse_args(argv)
    swarm = _swarm(args)
    print(json.dumps(uvloop.run(_measure(swarm, args.seconds, _reset_peak()))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
