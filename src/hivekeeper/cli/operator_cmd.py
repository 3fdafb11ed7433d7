"""`hivekeeper operator`: kopf configured for the hivekeeper operator (logging, namespaces, peering, webhook)."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any


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
        "Webhook 'role-configs' succeeded.",
    }
)
WEBHOOK_REFUSAL = "Webhook 'role-configs' failed permanently: "
"""kopf's words, at ERROR, for every manifest the admission webhook refuses."""


def _quiet_routine(record: logging.LogRecord) -> bool:
    """False for kopf's routine success lines of the status timers and the deletion watcher."""
    return record.getMessage() not in ROUTINE_KOPF_LINES


def _refusals_as_info(record: logging.LogRecord) -> bool:
    """kopf logs each refused manifest at ERROR; it is the user's manifest that was wrong, not the operator, and
    alerting on operator errors must not fire for it: the line is kept, at INFO, saying what it is."""
    message = record.getMessage()
    if message.startswith(WEBHOOK_REFUSAL):
        record.msg, record.args = f"admission refused a manifest: {message[len(WEBHOOK_REFUSAL) :]}", ()
        record.levelno, record.levelname = logging.INFO, logging.getLevelName(logging.INFO)
    return True


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
    logging.getLogger("kopf.objects").addFilter(_refusals_as_info)
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


def add(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
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
