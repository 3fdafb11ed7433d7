"""The ``hivekeeper`` command line.

hivekeeper run [SWARM.yaml ...] [--duration S] [--json FILE] [--demo-sut]
hivekeeper demo-sut [--port N]
hivekeeper tap SWARM [ALIAS] [--namespace NS] [--amqp URL] [--count N] [--full] [--timeout S] [--dead-letters [--peek]]
hivekeeper operator [--namespace NS] [--health-port N] [--metrics-port N] [--peering NAME [--priority N]]
hivekeeper worker
hivekeeper debug SWARM [--namespace NS] [--redis URL] [--role R] [--last N] [--full] | --key KEY
hivekeeper import BUNDLE_DIR [--sut ID] [--profile ID] [--name NAME] [-o FILE]
hivekeeper validate PATH... [--format text|json|github|gitlab] [--strict]
hivekeeper version
"""

from __future__ import annotations

import argparse
import logging
import math
import sys
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any

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


def _run(args: argparse.Namespace) -> int:
    from hivekeeper.api.manifests import ManifestError, load_swarm, load_swarm_text
    from hivekeeper.api.swarm import Swarm
    from hivekeeper.local.runner import RunError, RunOptions, run_blocking, with_endpoint

    swarms: list[Swarm] = []
    try:
        for manifest in args.manifests:
            swarms.append(load_swarm(Path(manifest)))
        if not swarms:
            text = resources.files("hivekeeper.local").joinpath("data/quickstart.yaml").read_text()
            swarms.append(load_swarm_text(text, "embedded quickstart.yaml"))
            print("no manifest given: running the embedded quickstart swarm (examples/quickstart.yaml)")
    except ManifestError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.sut:
        swarms = [with_endpoint(swarm, args.sut) for swarm in swarms]
    options = RunOptions(
        duration=args.duration,
        json_path=Path(args.json) if args.json else None,
        demo_sut=args.demo_sut,
        broker_url=args.broker,
        redis_url=args.redis,
        interval=args.interval,
    )
    try:
        run_blocking(swarms if len(swarms) > 1 else swarms[0], options)
    except RunError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


def _demo_sut(args: argparse.Namespace) -> int:
    from hivekeeper.local import demo_sut

    return demo_sut.main(
        [
            "--host",
            args.host,
            "--port",
            str(args.port),
            "--delay-ms",
            str(args.delay_ms),
            "--error-pct",
            str(args.error_pct),
        ]
    )


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


def _schemas(args: argparse.Namespace) -> int:
    from hivekeeper.protocol.schemas import render, schemas

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for name, schema in schemas().items():
        (out / name).write_bytes(render(schema))
        print(f"wrote {out / name}")
    return 0


def _crds(args: argparse.Namespace) -> int:
    from hivekeeper.api.crd import all_crds, render

    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        for name, crd in all_crds().items():
            (out / name).write_text(render(crd))
            print(f"wrote {out / name}")
    else:
        print("---\n".join(render(crd) for crd in all_crds().values()), end="")
    return 0


def _role_docs(args: argparse.Namespace) -> int:
    from hivekeeper.api.roles.reference import render

    if args.out:
        Path(args.out).write_text(render())
        print(f"wrote {args.out}")
    else:
        print(render(), end="")
    return 0


def _metrics_port(text: str) -> int:
    from hivekeeper.operator.metrics import AUTO

    if text == "auto":
        return AUTO
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number, 0 (off) or 'auto'") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{port} is outside 0-65535")
    return port


ROUTINE_KOPF_LINES = frozenset(
    {
        "Timer 'roll_up' succeeded.",
        "Timer 'swarm_roll_up' succeeded.",
        "Handler 'note_deleted_role' succeeded.",
    }
)


def _quiet_routine(record: logging.LogRecord) -> bool:
    """False for kopf's routine success lines of the status timers and the deletion watcher."""
    return record.getMessage() not in ROUTINE_KOPF_LINES


def _operator(args: argparse.Namespace) -> int:
    import kopf

    from hivekeeper.operator import handlers  # noqa: F401 - registers the handlers with kopf

    kopf.configure(verbose=args.verbose)
    # The Kubernetes client's HTTP library (lightkube uses httpx2; httpx under the same log name in older releases)
    # logs every request at INFO: over a thousand lines in a few minutes of one swarm. They are debugging detail:
    # shown with --verbose only. So are the admission webhook server's access lines (aiohttp.access), one per
    # `kubectl apply` of a Swarm or WorkerRole.
    for name in ("httpx", "httpx2", "aiohttp.access"):
        logging.getLogger(name).setLevel(logging.DEBUG if args.verbose else logging.WARNING)
    if not args.verbose:
        # kopf says "succeeded" for every timer run (every 2 s per WorkerRole and Swarm) and every watch event:
        # routine, not news. Reconciles, failures and retries are still logged.
        logging.getLogger("kopf.objects").addFilter(_quiet_routine)
    settings = kopf.OperatorSettings()
    # Watching only the namespaces it was given, the operator needs no cluster-wide rights (the Helm chart's
    # namespaced RBAC grants none): kopf then neither lists namespaces nor watches CRDs, instead of retrying
    # both for a minute before it falls back to the same. The CRDs must exist when it starts.
    settings.scanning.disabled = bool(args.namespace)
    if args.webhook_port:
        from hivekeeper.operator import admission  # registers the admission handler with kopf

        settings.admission.server = admission.server(args.webhook_port, Path(args.webhook_cert_dir))
    _name_this_operator()
    kopf.run(
        **_peering(args),
        settings=settings,
        memo=kopf.Memo(metrics_port=args.metrics_port),
        namespaces=args.namespace or (),
        clusterwide=not args.namespace,
        liveness_endpoint=f"http://0.0.0.0:{args.health_port}/healthz" if args.health_port else None,
    )
    return 0


def _name_this_operator() -> None:
    """Give kopf this operator's identity among peers when ``POD_ID`` does not (the chart sets it to the pod name).

    Without it kopf builds ``user@host/time/random`` and asks the password database for the user, which has no
    entry for a uid the image does not list (65532 in ours, an arbitrary one on OpenShift): the operator crashed
    at start (``KeyError: 'getpwuid(): uid not found: 65532'``) in any pod the chart did not write. This is kopf's
    form, with the uid standing in for a user without a name.
    """
    import getpass
    import os
    import secrets
    import socket
    import time

    if os.environ.get("POD_ID"):
        return
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = f"uid{os.getuid()}"
    when = time.strftime("%Y%m%d%H%M%S", time.gmtime())
    os.environ["POD_ID"] = f"{user}@{socket.gethostname()}/{when}/{secrets.token_hex(2)}"


def _peering(args: argparse.Namespace) -> dict[str, Any]:
    """kopf's peering options: standalone by default; with ``--peering NAME`` replicas take turns.

    kopf pauses every operator of a peering when two share a priority, so each gets its own: unless
    ``--priority`` says otherwise, the earlier an operator started, the higher its priority. The oldest
    replica works; the others stand by and take over when it leaves (at once on a clean exit, after
    kopf's peer lifetime of 60 s on a crash).
    """
    if not args.peering:
        return {"standalone": True}
    import time

    _ensure_peering(args.peering, args.namespace or [])
    priority = args.priority if args.priority is not None else -(time.time_ns() // 1000)
    return {"standalone": False, "peering_name": args.peering, "priority": priority}


def _ensure_peering(name: str, namespaces: list[str]) -> None:
    """Create the peering object(s) kopf keeps its keep-alives in, unless they exist.

    kopf only patches them, and a Helm chart cannot create them next to their CRDs in one release.
    """
    from lightkube import ApiError, Client, KubeConfig
    from lightkube.generic_resource import create_global_resource, create_namespaced_resource
    from lightkube.models.meta_v1 import ObjectMeta

    client = Client(config=KubeConfig.from_env())
    wanted: list[Any]
    if namespaces:
        kind = create_namespaced_resource("kopf.dev", "v1", "KopfPeering", "kopfpeerings")
        wanted = [kind(metadata=ObjectMeta(name=name, namespace=namespace)) for namespace in namespaces]
    else:
        cluster_kind = create_global_resource("kopf.dev", "v1", "ClusterKopfPeering", "clusterkopfpeerings")
        wanted = [cluster_kind(metadata=ObjectMeta(name=name))]
    for peering in wanted:
        try:
            client.create(peering)
        except ApiError as exc:
            if exc.status.code == 404:
                raise SystemExit(
                    "error: --peering needs kopf's peering CRDs (kopf.dev/v1 ClusterKopfPeering and KopfPeering): "
                    "the Helm chart installs them with operator.peering.enabled, or run without --peering"
                ) from exc
            if exc.status.code != 409:  # 409: it exists already
                raise


def _import(args: argparse.Namespace) -> int:
    from hivekeeper.importer.command import main
    from hivekeeper.importer.translate import ImportOptions

    options = ImportOptions(bundle=Path(args.bundle), sut=args.sut, profile=args.profile, name=args.name)
    return main(options, Path(args.output) if args.output else None, sys.stdout, sys.stderr)


def _import_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    importer = sub.add_parser(
        "import",
        help="translate a PocketHive scenario bundle into a Swarm manifest (docs/import.md)",
        description="Print the Swarm manifest for a PocketHive scenario bundle; findings go to stderr. Exit 0: "
        "imported (warnings at most); 1: something could not be translated; 2: the bundle cannot be read.",
    )
    importer.add_argument("bundle", metavar="BUNDLE_DIR", help="the bundle folder (the one holding scenario.yaml)")
    importer.add_argument("--sut", metavar="ID", help="the SUT to use (sut/<ID>/sut.yaml); default: the only one")
    importer.add_argument(
        "--profile", metavar="ID", help="the variables profile (variables.yaml); default: the only one"
    )
    importer.add_argument("--name", help="the Swarm's metadata.name (default: the scenario id)")
    importer.add_argument("-o", "--output", metavar="FILE", help="write the manifest to FILE instead of stdout")
    importer.set_defaults(func=_import)


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


def _debug_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
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


def _validate(args: argparse.Namespace) -> int:
    from hivekeeper.validate.report import render
    from hivekeeper.validate.run import validate_paths

    summary = validate_paths(args.paths, strict=args.strict)
    sys.stdout.write(render(summary, args.format))
    for problem in summary.unreadable:
        print(f"error: {problem}", file=sys.stderr)
    return summary.exit_code


def _validate_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    validate = sub.add_parser(
        "validate",
        help="check Swarm and WorkerRole manifests offline, with the API server's and the workers' rules",
        description="Check manifests without a cluster: the CRD schema and its CEL rules, the role configs the "
        "workers accept, and the references between roles, templates, vars and SUT endpoints. Exit code 0: no "
        "errors; 1: errors (or warnings with --strict); 2: a path could not be read. Finding codes: docs/ci.md.",
    )
    validate.add_argument(
        "paths", nargs="+", metavar="PATH", help="files, directories (*.yaml, *.yml below them) or - for stdin"
    )
    validate.add_argument(
        "--format",
        choices=("text", "json", "github", "gitlab"),
        default="text",
        help="text (default), json, github (workflow annotations) or gitlab (a Code Quality report)",
    )
    validate.add_argument("--strict", action="store_true", help="warnings fail the run too")
    validate.set_defaults(func=_validate)


def _worker(args: argparse.Namespace) -> int:
    from hivekeeper.worker.main import main as worker_main

    return worker_main()


def _version(args: argparse.Namespace) -> int:
    from hivekeeper import __version__

    print(f"hivekeeper {__version__}")
    return 0


def _run_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
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
    run.add_argument("--json", metavar="FILE", help="also write the summary as JSON")
    target = run.add_mutually_exclusive_group()
    target.add_argument(
        "--demo-sut",
        action="store_true",
        help="start the built-in demo HTTP service and aim sut.endpoints.default at it (not with --sut)",
    )
    target.add_argument("--sut", metavar="URL", help="aim sut.endpoints.default at this base URL (not with --demo-sut)")
    run.add_argument("--broker", metavar="AMQP_URL", help="use this RabbitMQ instead of in-memory queues")
    run.add_argument("--redis", metavar="REDIS_URL", help="keep sequence() counters in this Redis")
    run.add_argument(
        "--interval",
        type=_seconds("--interval", low=MIN_INTERVAL, high=3600.0, inclusive=True, hint="the default is 1"),
        default=1.0,
        help=f"progress refresh in seconds ({MIN_INTERVAL:g} to 3600; default 1)",
    )
    run.set_defaults(func=_run)


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="hivekeeper", description="Load-testing swarms on Kubernetes and locally.")
    sub = root.add_subparsers(dest="command", required=True)

    _run_parser(sub)

    demo = sub.add_parser("demo-sut", help="serve the demo cards API (a target for local runs)")
    demo.add_argument("--host", default="127.0.0.1")
    demo.add_argument("--port", type=int, default=8080)
    demo.add_argument("--delay-ms", type=float, default=0.0)
    demo.add_argument("--error-pct", type=float, default=0.0)
    demo.set_defaults(func=_demo_sut)

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

    operator = sub.add_parser(
        "operator", help="run the operator (reads KUBECONFIG or the service account, HIVEKEEPER_AMQP_URL)"
    )
    operator.add_argument("--namespace", action="append", help="watch only this namespace (repeatable)")
    operator.add_argument("--health-port", type=int, default=8080, help="liveness endpoint port (0 disables)")
    operator.add_argument(
        "--metrics-port",
        type=_metrics_port,
        default=9090,
        help="Prometheus /metrics port (0 disables; 'auto' binds a free port and logs it; default 9090)",
    )
    operator.add_argument(
        "--peering",
        metavar="NAME",
        help="take turns with other replicas through the kopf peering object NAME (a ClusterKopfPeering, or a "
        "KopfPeering in each watched namespace; the Helm chart creates them) instead of running standalone",
    )
    operator.add_argument(
        "--priority", type=int, help="with --peering: this operator's priority (default: older operators win)"
    )
    operator.add_argument(
        "--webhook-port",
        type=int,
        default=0,
        help="serve the validating admission webhook (Swarm and WorkerRole role configs) over HTTPS on this port "
        "(default 0: off; the Helm chart turns it on with webhook.enabled)",
    )
    operator.add_argument(
        "--webhook-cert-dir",
        default="/etc/hivekeeper/webhook",
        help="with --webhook-port: directory of the serving certificate tls.crt and its key tls.key "
        "(default: /etc/hivekeeper/webhook, where the chart mounts them)",
    )
    operator.add_argument("--verbose", action="store_true")
    operator.set_defaults(func=_operator)

    _debug_parser(sub)
    _validate_parser(sub)
    _import_parser(sub)

    worker = sub.add_parser("worker", help="run one worker (the container entry point; reads HIVEKEEPER_* env)")
    worker.set_defaults(func=_worker)

    crds = sub.add_parser("crds", help="print the CustomResourceDefinitions (or write them with --out DIR)")
    crds.add_argument("--out", help="write one file per CRD into DIR instead of printing")
    crds.set_defaults(func=_crds)

    role_docs = sub.add_parser("role-docs", help="print the reference of every role's config keys (docs/roles.md)")
    role_docs.add_argument("--out", help="write it to this file instead of printing")
    role_docs.set_defaults(func=_role_docs)

    schemas = sub.add_parser("schemas", help="write the JSON Schemas of the wire formats")
    schemas.add_argument("--out", default="docs/schemas", help="directory (default: docs/schemas)")
    schemas.set_defaults(func=_schemas)

    version = sub.add_parser("version", help="print the version")
    version.set_defaults(func=_version)
    return root


def main(argv: list[str] | None = None) -> int:
    import os

    from hivekeeper.protocol import redaction

    args = parser().parse_args(argv)
    try:  # one list of secret names for every command: tap, run, worker logs and captures, operator messages
        redaction.configure_from(os.environ)
    except redaction.RedactionConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
