"""Python HTTP clients side by side: one process each, 50 concurrent keep-alive requests, same server.

    python bench/http_clients.py URL [--seconds 5] [--concurrency 50]

Each candidate runs in a fresh child process; the parent reads the child's CPU time from rusage, so
"CPU µs per request" is the client's own cost. Used to choose the processor's HTTP client
(docs/decisions/0001-http-client.md). Candidates that are not installed are reported as such.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable

CANDIDATES = [
    "hivekeeper+uvloop",
    "hivekeeper",
    "aiohttp+uvloop",
    "aiohttp",
    "aiosonic+uvloop",
    "curl-cffi",
    "pyreqwest",
    "httpx",
]


async def _drive(call: Callable[[], Awaitable[int]], seconds: float, concurrency: int) -> dict[str, float]:
    done = errors = 0
    stop = time.monotonic() + seconds

    async def loop() -> None:
        nonlocal done, errors
        while time.monotonic() < stop:
            status = await call()
            done += 1
            errors += status != 200

    started = time.monotonic()
    await asyncio.gather(*(loop() for _ in range(concurrency)))
    return {"requests": done, "errors": errors, "seconds": time.monotonic() - started}


async def _one(name: str, url: str, seconds: float, concurrency: int) -> dict[str, float]:
    base = name.split("+", maxsplit=1)[0]
    if base == "hivekeeper":
        from hivekeeper.worker.http.client import HttpClient
        from hivekeeper.worker.http_port import Origin
        from hivekeeper.worker.stats import Histogram

        client, origin, histogram = HttpClient(), Origin.parse(url), Histogram()

        async def ours() -> int:
            started = time.perf_counter()
            response = await client.request(origin, "GET", "/", {}, None, 5.0)
            histogram.record(time.perf_counter() - started)  # bookkeeping included, as in the processor
            return int(response.status)

        return await _drive(ours, seconds, concurrency)
    if base == "aiohttp":
        import aiohttp

        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as session:

            async def with_aiohttp() -> int:
                async with session.get(url) as response:
                    await response.read()
                    return response.status

            return await _drive(with_aiohttp, seconds, concurrency)
    if base == "aiosonic":
        import aiosonic

        sonic = aiosonic.HTTPClient()

        async def with_aiosonic() -> int:
            response = await sonic.get(url)
            await response.content()
            return int(response.status_code)

        return await _drive(with_aiosonic, seconds, concurrency)
    if base == "curl-cffi":
        from curl_cffi.requests import AsyncSession

        async with AsyncSession(max_clients=concurrency) as curl:

            async def with_curl() -> int:
                return int((await curl.get(url)).status_code)

            return await _drive(with_curl, seconds, concurrency)
    if base == "pyreqwest":
        from pyreqwest.client import ClientBuilder

        async with ClientBuilder().build() as reqwest:

            async def with_reqwest() -> int:
                response = await reqwest.get(url).build().send()
                await response.bytes()
                return int(response.status)

            return await _drive(with_reqwest, seconds, concurrency)
    if base == "httpx":
        import httpx

        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        async with httpx.AsyncClient(limits=limits) as hx:

            async def with_httpx() -> int:
                return (await hx.get(url)).status_code

            return await _drive(with_httpx, seconds, concurrency)
    raise SystemExit(f"unknown candidate {name}")


def run_one(name: str, url: str, seconds: float, concurrency: int) -> dict[str, object]:
    """Run one candidate in a child process; add its CPU time per request."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(
        [sys.executable, __file__, "--one", name, url, str(seconds), str(concurrency)],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["failed"])[-1]
        return {"client": name, "error": last}
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    requests = float(result["requests"])  # type: ignore[arg-type]
    result.update(
        client=name,
        rps=requests / float(result["seconds"]),  # type: ignore[arg-type]
        cpu_us=cpu / requests * 1e6 if requests else None,
    )
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--one", nargs=4, metavar=("NAME", "URL", "SECONDS", "CONCURRENCY"), help=argparse.SUPPRESS)
    parser.add_argument("url", nargs="?")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--only", nargs="*", default=CANDIDATES)
    args = parser.parse_args()
    if args.one:
        name, url, seconds, concurrency = args.one
        coro = _one(name, url, float(seconds), int(concurrency))
        if name.endswith("+uvloop"):
            import uvloop

            result = uvloop.run(coro)
        else:
            result = asyncio.run(coro)
        print(json.dumps(result))
        return 0
    print(f"{'client':20} {'req/s':>9} {'CPU µs/req':>11} {'errors':>7}")
    for name in args.only:
        row = run_one(name, args.url, args.seconds, args.concurrency)
        if "error" in row:
            print(f"{name:20} {'-':>9} {'-':>11}  not measured: {row['error']}")
            continue
        print(f"{name:20} {row['rps']:9,.0f} {row['cpu_us']:11.1f} {row['errors']:7}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
