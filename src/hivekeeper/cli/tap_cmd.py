"""`hivekeeper tap` (items as they pass, dead letters) and `hivekeeper debug` (http-sequence captures): looking
at the traffic of a running swarm."""

from __future__ import annotations

import argparse
import sys

from hivekeeper.protocol import naming


def _work_exchange(text: str) -> str:
    try:
        return naming.work_exchange_option(text)
    except naming.InvalidName as exc:
        raise argparse.ArgumentTypeError(f"--work-exchange {text}: {exc}") from exc


def _tap(args: argparse.Namespace) -> int:
    import asyncio
    import os
    import signal

    from hivekeeper.local.tap import TapError, TapOptions, tap
    from hivekeeper.protocol import redaction

    if args.redact:
        redaction.configure([*redaction.configured(), *args.redact])
    url = args.amqp or os.environ.get("HIVEKEEPER_AMQP_URL")
    if not url:
        print(
            "error: tap needs the broker: pass --amqp URL or set HIVEKEEPER_AMQP_URL (in a cluster, the amqpUrl "
            "key of the hivekeeper-broker Secret)",
            file=sys.stderr,
        )
        return 2
    options = TapOptions(
        swarm=args.swarm,
        alias=args.alias,
        namespace=args.namespace,
        url=url,
        count=args.count,
        full=args.full,
        timeout=args.timeout,
        dead_letters=args.dead_letters,
        peek=args.peek,
        show_secrets=args.show_secrets,
        work_exchange=args.work_exchange,
    )

    async def main() -> int:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        try:
            await tap(options, sys.stdout, sys.stderr, stop=stop)
        except TapError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return exc.exit_code
        return 0

    return asyncio.run(main())


def add_tap(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    tapper = sub.add_parser(
        "tap",
        help="show a swarm's items as they pass, without taking them (or read its dead letters)",
        description="Show the next items routed to ALIAS (a copy: the swarm's consumers still get every item), "
        "or with --dead-letters take the next items of the swarm's dead-letter queue (removed unless --peek).",
    )
    tapper.add_argument("swarm", metavar="SWARM", help="the Swarm's name")
    tapper.add_argument("alias", metavar="ALIAS", nargs="?", help="a work alias (work.in / work.out of a role)")
    tapper.add_argument(
        "--namespace", "-n", help="the Swarm's namespace in a cluster (omit for `hivekeeper run --broker`)"
    )
    tapper.add_argument("--amqp", metavar="URL", help="RabbitMQ URL (default: $HIVEKEEPER_AMQP_URL)")
    tapper.add_argument("--count", type=int, default=10, help="stop after this many items (default 10)")
    tapper.add_argument(
        "--work-exchange",
        metavar="TEMPLATE",
        type=_work_exchange,
        default=naming.WORK_EXCHANGE,
        help="the work exchange as the operator (Helm `exchanges.work`) or `hivekeeper run --work-exchange` names "
        f"it, {{swarm}} standing for the swarm id (default {naming.WORK_EXCHANGE})",
    )
    tapper.add_argument("--full", action="store_true", help="print each whole item as JSON, not a summary line")
    tapper.add_argument(
        "--show-secrets",
        action="store_true",
        help="print Authorization, cookies, tokens, API keys and passwords as they are (redacted by default)",
    )
    tapper.add_argument(
        "--redact",
        metavar="NAME",
        action="append",
        default=[],
        help="also redact this header or field name (repeatable; on top of the defaults and $HIVEKEEPER_REDACT)",
    )
    tapper.add_argument("--timeout", type=float, help="stop after this many seconds even if fewer items came")
    tapper.add_argument(
        "--dead-letters",
        action="store_true",
        help="read the swarm's dead-letter queue instead; the items shown are removed from it",
    )
    tapper.add_argument(
        "--peek", action="store_true", help="with --dead-letters: give the items back (in their old places)"
    )
    tapper.set_defaults(func=_tap)


def _debug(args: argparse.Namespace) -> int:
    from hivekeeper.local.debug_cli import DebugRequest, main

    request = DebugRequest(
        swarm=args.swarm,
        redis_url=args.redis,
        namespace=args.namespace,
        role=args.role,
        last=args.last,
        full=args.full,
        key=args.key,
        scan_limit=args.scan_limit,
    )
    return main(request, sys.stdout, sys.stderr)


def add_debug(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    debug = sub.add_parser(
        "debug", help="show the newest http-sequence debug captures of a swarm (or one capture with --key)"
    )
    debug.add_argument("swarm", nargs="?", help="swarm name (with --namespace: the swarm of that namespace)")
    debug.add_argument("--redis", metavar="URL", help="Redis URL (default: $HIVEKEEPER_REDIS_URL)")
    debug.add_argument("--namespace", help="the swarm's namespace (captures are keyed by <namespace>_<name>)")
    debug.add_argument("--role", help="only captures of this role (stage name)")
    debug.add_argument("--last", type=int, default=20, help="how many captures to list, newest first (default 20)")
    debug.add_argument("--full", action="store_true", help="print each capture's JSON too")
    debug.add_argument("--key", help="print this one capture")
    debug.add_argument("--scan-limit", type=int, default=5000, help="keys looked at at most (default 5000)")
    debug.set_defaults(func=_debug)
