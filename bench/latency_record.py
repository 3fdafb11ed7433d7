"""What recording one request's latency costs on the hot path (direct mode: no broker between roles).

Measured per call, best of ``--repeat`` rounds of ``--calls`` calls, on latencies spread from 100 µs to
2 s (so the bucket arithmetic takes both of its branches):

* ``role``: ``RoleStats.latency.record`` (processor, request-builder: one histogram per request);
* ``role+step``: the http-sequence path, the role's histogram and the step's (``RoleStats.step``, looked
  up once per config).

The status report's wire form and the Prometheus buckets are built from these counts every few seconds,
not per request, so they are not on this path. Run it on two checkouts to compare before and after:

    PYTHONPATH=src python bench/latency_record.py

Benchmarks are not tests: nothing here asserts.
"""

from __future__ import annotations

import argparse
import random
import timeit

from hivekeeper.worker.stats import RoleStats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    rng = random.Random(7)
    values = [10 ** rng.uniform(-4, 0.3) for _ in range(args.calls)]
    stats = RoleStats()

    def role() -> None:
        record = stats.latency.record
        for value in values:
            record(value)

    rows = [("role", role)]
    if hasattr(stats, "step"):
        steps = [stats.step("login")]  # the role looks each step's histogram up once per config

        def role_and_step() -> None:
            for value in values:
                stats.latency.record(value)
                steps[0].record(value)

        rows.append(("role+step", role_and_step))

    def loop_only() -> None:
        for _value in values:
            pass

    base = min(timeit.repeat(loop_only, number=1, repeat=args.repeat))
    for name, fn in rows:
        best = min(timeit.repeat(fn, number=1, repeat=args.repeat))
        print(f"{name:10s} {(best - base) / args.calls * 1e9:7.1f} ns per request")


if __name__ == "__main__":
    main()
