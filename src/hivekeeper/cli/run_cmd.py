"""`hivekeeper run` (a swarm in one process) and `hivekeeper demo-sut` (the target of local runs)."""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hivekeeper.protocol import naming

if TYPE_CHECKING:
    from hivekeeper.api.swarm import Swarm

EXIT_PASSED = 0
"""The run passed: every threshold held and items succeeded."""
EXIT_FAILED = 1
"""The verdict is Failed: a threshold failed, or nothing succeeded (every call failed, every item dropped)."""
EXIT_BAD_INPUT = 2
"""A manifest, option or URL is wrong (said on stderr with the field and the fix); nothing ran."""
EXIT_RUN_ERROR = 3
"""The run could not be carried out (the broker cannot be reached, the demo SUT did not start, ...)."""
MAX_RUN_SECONDS = 7 * 24 * 3600.0
MIN_INTERVAL = 0.1
"""The shortest progress refresh: below it the live view floods the terminal (thousands of lines a second)."""


def _seconds(option: str, *, low: float, high: float, hint: str, inclusive: bool = False) -> Callable[[str], float]:
    """An argparse type for a number of seconds in (low, high] (or [low, high] when ``inclusive``)."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
        too_low = value < low if inclusive else value <= low
        if too_low or value > high or math.isnan(value):
            bound = f"at least {low:g}" if inclusive else f"more than {low:g}"
            raise argparse.ArgumentTypeError(f"{option} {text}: must be {bound} and at most {high:g} seconds; {hint}")
        return value

    return parse


def _exchange(option: str, check: Callable[[str], str]) -> Callable[[str], str]:
    """An argparse type: the exchange name (or template) ``check`` accepts, else the option and why."""

    def parse(text: str) -> str:
        try:
            return check(text)
        except naming.InvalidName as exc:
            raise argparse.ArgumentTypeError(f"{option} {text}: {exc}") from exc

    return parse


def _run(args: argparse.Namespace) -> int:
    from hivekeeper.api.manifests import ManifestError, load_swarm, load_swarm_text
    from hivekeeper.errors import Unavailable
    from hivekeeper.local import endpoints
    from hivekeeper.local.runner import RunError, RunInputError, RunOptions, run_blocking

    swarms: list[Swarm] = []
    datasets: dict[str, Path] = {}
    try:
        for manifest in args.manifests:
            swarms.append(load_swarm(Path(manifest)))
            datasets[swarms[-1].metadata.name] = Path(manifest).resolve().parent
        if not swarms:
            text = resources.files("hivekeeper.local").joinpath("data/quickstart.yaml").read_text()
            swarms.append(load_swarm_text(text, "embedded quickstart.yaml"))
            print("no manifest given: running the embedded quickstart swarm (examples/quickstart.yaml)")
    except ManifestError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        sut = endpoints.parse(args.sut, demo=args.demo_sut)
        endpoints.check(sut, swarms)
    except endpoints.SutFlagError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    options = RunOptions(
        duration=args.duration,
        json_path=Path(args.json) if args.json else None,
        sut=sut,
        broker_url=args.broker,
        redis_url=args.redis,
        exchanges=naming.Exchanges(control=args.control_exchange, work=args.work_exchange),
        interval=args.interval,
        timeseries_interval=args.timeseries_interval,
        datasets=datasets,
        secrets_dirs=tuple(Path(d) for d in args.secrets or ()),
    )
    try:
        result = run_blocking(swarms if len(swarms) > 1 else swarms[0], options)
    except RunInputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except (RunError, Unavailable) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_RUN_ERROR
    swarm_results = result.get("swarms", [result])
    if args.junit:
        _write_junit(Path(args.junit), swarm_results)
    if args.report:
        write_report(Path(args.report), result, swarms)
    verdicts = [s.get("verdict") for s in swarm_results]
    return EXIT_PASSED if all(v is None or v["result"] == "Passed" for v in verdicts) else EXIT_FAILED


def _write_junit(path: Path, swarm_results: list[dict[str, Any]]) -> None:
    from hivekeeper.api.verdict import Verdict
    from hivekeeper.local.junit import junit_xml

    runs = [
        (s["swarm"], Verdict.model_validate(s["verdict"]), float(s["durationSeconds"]))
        for s in swarm_results
        if s.get("verdict") is not None
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(junit_xml(runs))
    print(f"JUnit report written to {path}")


def write_report(path: Path, summary: dict[str, Any], swarms: list[Swarm]) -> None:
    """Write the self-contained HTML report of a run's JSON summary to ``path``, with each swarm's stages and
    thresholds (``spec.run``) drawn."""
    from hivekeeper.report import html
    from hivekeeper.report.model import from_run_summary
    from hivekeeper.report.run_marks import marks

    runs = {swarm.metadata.name: swarm.spec.run for swarm in swarms}
    report = from_run_summary(
        summary, marks=lambda entry: marks(runs.get(str(entry.get("swarm"))), entry.get("verdict"))
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(html.render(report), encoding="utf-8")
    print(f"report written to {path}")


def _demo_sut(args: argparse.Namespace) -> int:
    from hivekeeper.local import demo_sut, demo_tcp

    if args.tcp:
        port = 9000 if args.port is None else args.port
        return demo_tcp.main(
            [
                *("--host", args.host, "--port", str(port), "--mode", args.mode, "--end-tag", args.end_tag),
                *("--delay-ms", str(args.delay_ms), "--error-pct", str(args.error_pct)),
            ]
        )

    return demo_sut.main(
        [
            "--host",
            args.host,
            "--port",
            str(8080 if args.port is None else args.port),
            "--delay-ms",
            str(args.delay_ms),
            "--error-pct",
            str(args.error_pct),
            "--token-ttl",
            str(args.token_ttl),
        ]
    )


def add(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    run = sub.add_parser(
        "run", help="run Swarm manifests locally, in one process, without a broker (several share one data store)"
    )
    run.add_argument(
        "manifests", nargs="*", metavar="SWARM.yaml", help="Swarm YAML files (default: the embedded quickstart)"
    )
    run.add_argument(
        "--duration",
        type=_seconds("--duration", low=0.0, high=MAX_RUN_SECONDS, hint="leave it out to run until Ctrl-C"),
        default=None,
        help="stop after this many seconds, more than 0 and at most 7 days (default: run until Ctrl-C)",
    )
    run.add_argument("--json", metavar="FILE", help="also write the summary (with its time series) as JSON")
    run.add_argument(
        "--junit", metavar="FILE", help="also write the verdict as JUnit XML (one test case per threshold)"
    )
    run.add_argument(
        "--report",
        metavar="FILE.html",
        help="also write a self-contained HTML report (plots of rate, latency and errors per role; no network needed)",
    )
    run.add_argument(
        "--timeseries-interval",
        type=_seconds("--timeseries-interval", low=MIN_INTERVAL, high=3600.0, inclusive=True, hint="leave it out"),
        default=None,
        help="seconds between the time series' points (default: 1 for a --duration under 60 s, else 5)",
    )
    run.add_argument(
        "--demo-sut",
        action="store_true",
        help="start the built-in demo HTTP service and aim every SUT endpoint no --sut names at it",
    )
    run.add_argument(
        "--sut",
        metavar="URL|NAME=URL",
        action="append",
        default=[],
        help="aim sut.endpoints.default (URL) or sut.endpoints.NAME (NAME=URL) at this base URL; repeat for "
        "several endpoints",
    )
    run.add_argument("--broker", metavar="AMQP_URL", help="use this RabbitMQ instead of in-memory queues")
    run.add_argument("--redis", metavar="REDIS_URL", help="keep sequence() counters in this Redis")
    run.add_argument(
        "--control-exchange",
        metavar="NAME",
        type=_exchange("--control-exchange", naming.control_exchange_option),
        default=naming.CONTROL_EXCHANGE,
        help=f"the control exchange (default {naming.CONTROL_EXCHANGE}; {naming.POCKETHIVE_CONTROL_EXCHANGE} "
        "lets PocketHive's tools read the run's control traffic on --broker)",
    )
    run.add_argument(
        "--work-exchange",
        metavar="TEMPLATE",
        type=_exchange("--work-exchange", naming.work_exchange_option),
        default=naming.WORK_EXCHANGE,
        help=f"the work exchange, {{swarm}} standing for the swarm's name (default {naming.WORK_EXCHANGE}; "
        f"PocketHive's: {naming.POCKETHIVE_WORK_EXCHANGE})",
    )
    run.add_argument(
        "--secrets",
        metavar="DIR",
        action="append",
        help="a directory of Secrets as files, DIR/<secret name>/<key>: what auth profiles' secretKeyRef read "
        "(repeatable; docs/auth.md)",
    )
    run.add_argument(
        "--interval",
        type=_seconds("--interval", low=MIN_INTERVAL, high=3600.0, inclusive=True, hint="the default is 1"),
        default=1.0,
        help=f"progress refresh in seconds ({MIN_INTERVAL:g} to 3600; default 1)",
    )
    run.set_defaults(func=_run)


def add_demo_sut(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    demo = sub.add_parser(
        "demo-sut", help="serve the demo cards API, or with --tcp the demo TCP service (targets for local runs)"
    )
    demo.add_argument("--host", default="127.0.0.1")
    demo.add_argument("--port", type=int, default=None, help="default 8080 (HTTP), 9000 (--tcp); 0 picks a free one")
    demo.add_argument("--delay-ms", type=float, default=0.0)
    demo.add_argument(
        "--error-pct", type=float, default=0.0, help="share of requests answered 503 (HTTP) or by a close (--tcp)"
    )
    demo.add_argument("--tcp", action="store_true", help="serve TCP (docs/tcp.md) instead of the HTTP cards API")
    demo.add_argument(
        "--mode",
        choices=("echo", "sink", "end-tag", "length-prefix"),
        default="end-tag",
        help="--tcp: echo, sink (never answers), end-tag (answers ACK <request> up to --end-tag) or length-prefix "
        "(two-byte big-endian frames, ISO 8583 response types)",
    )
    demo.add_argument("--end-tag", default="\\n", help="--tcp end-tag mode's terminator (backslash escapes; \\n)")
    demo.add_argument("--token-ttl", type=float, default=2.0, help="seconds an OAuth2 token of /oauth/token lives")
    demo.set_defaults(func=_demo_sut)
