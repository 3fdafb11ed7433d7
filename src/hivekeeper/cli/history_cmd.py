"""`hivekeeper history NAMESPACE/SWARM`: the last finished runs of a Swarm on a cluster (``status.runs``) and its
current run, as a table or as JSON.

The formatting (:func:`table`, :func:`as_json`) is pure, over the Swarm as the Kubernetes API returns it; only
:func:`read_swarm` talks to the cluster (KUBECONFIG or the service account, like ``kubectl``). Exit codes as
``hivekeeper run``'s: 2 for bad input (no ``NAMESPACE/SWARM``, a swarm the cluster does not have), 3 when the
cluster cannot be asked.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import re
import sys
from typing import Any

from hivekeeper.api.run_status import RunRecord, RunStatus
from hivekeeper.errors import InvalidInput

EXIT_OK = 0
EXIT_BAD_INPUT = 2
EXIT_CLUSTER_ERROR = 3
_DNS_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_REASON_WIDTH = 80


class SwarmNotFound(InvalidInput):
    """The cluster has no Swarm of that name in that namespace."""


def swarm_ref(text: str) -> tuple[str, str]:
    """``NAMESPACE/SWARM`` → (namespace, name); anything else is bad input, said with the fix."""
    namespace, slash, name = text.partition("/")
    if not slash or not _DNS_NAME.match(namespace) or not _DNS_NAME.match(name):
        raise InvalidInput(f"swarm {text!r}: give it as NAMESPACE/SWARM, e.g. perf/staged-run (lowercase names)")
    return namespace, name


def runs_of(body: dict[str, Any]) -> tuple[RunStatus | None, list[RunRecord]]:
    """The current run (``status.run``) and the finished ones (``status.runs``, newest first) of a Swarm body."""
    status = body.get("status") or {}
    run = status.get("run")
    current = RunStatus.model_validate({k: v for k, v in run.items() if v is not None}) if run else None
    return current, [RunRecord.model_validate(r) for r in status.get("runs") or []]


def duration(started: str | None, finished: str | None) -> str:
    """``1m20s`` between two RFC 3339 times; ``-`` when one is missing."""
    if not started or not finished:
        return "-"
    seconds = int((_time(finished) - _time(started)).total_seconds())
    hours, rest = divmod(max(seconds, 0), 3600)
    minutes, secs = divmod(rest, 60)
    return (f"{hours}h" if hours else "") + (f"{minutes}m" if minutes or hours else "") + f"{secs}s"


def _time(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def table(ref: str, body: dict[str, Any]) -> str:
    """The current run's phase, then one line per finished run: id, result, start, duration, the verdict's reason."""
    current, runs = runs_of(body)
    lines = [f"swarm {ref}: " + (f"run {current.id} is {current.phase}" if current else "no spec.run")]
    if not runs:
        lines.append("no finished runs yet")
        return "\n".join(lines)
    rows = [("RUN", "RESULT", "STARTED", "DURATION", "REASON")]
    rows += [
        (r.id, r.result, r.startedAt or "-", duration(r.startedAt, r.finishedAt), _cut(r.reason, _REASON_WIDTH))
        for r in runs
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    for row in rows:
        lines.append("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False)) + "  " + row[4])
    return "\n".join(line.rstrip() for line in lines)


def as_json(ref: str, body: dict[str, Any]) -> dict[str, Any]:
    """``--json``: the swarm, its current run (id, phase, times, verdict) and the finished runs as stored."""
    current, runs = runs_of(body)
    run = None
    if current is not None:
        run = current.model_dump(mode="json", exclude_none=True, exclude={"baseline", "latencyMs"})
    return {"swarm": ref, "run": run, "runs": [r.model_dump(mode="json", exclude_none=True) for r in runs]}


def read_swarm(namespace: str, name: str) -> dict[str, Any]:
    """The Swarm as the Kubernetes API holds it; :class:`SwarmNotFound` when there is none."""
    from lightkube import ApiError, Client, KubeConfig
    from lightkube.generic_resource import create_namespaced_resource

    kind = create_namespaced_resource("hivekeeper.io", "v1alpha1", "Swarm", "swarms")
    client = Client(config=KubeConfig.from_env())
    try:
        found = client.get(kind, name, namespace=namespace)
    except ApiError as exc:
        if exc.status.code == 404:
            raise SwarmNotFound(
                f"swarm {namespace}/{name}: the cluster has no such Swarm "
                f"(kubectl get swarms -n {namespace} lists them)"
            ) from exc
        raise
    body: dict[str, Any] = dict(found)  # a generic resource is the dict the API server sent
    return body


def _history(args: argparse.Namespace) -> int:
    try:
        namespace, name = swarm_ref(args.swarm)
    except InvalidInput as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    ref = f"{namespace}/{name}"
    try:
        body = read_swarm(namespace, name)
        text = json.dumps(as_json(ref, body), indent=2) if args.json else table(ref, body)
    except SwarmNotFound as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except Exception as exc:  # no kubeconfig, no cluster, no rights, an unreadable status: one line, not a traceback
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        print(f"error: cannot read swarm {ref} from the Kubernetes API: {detail} (check KUBECONFIG)", file=sys.stderr)
        return EXIT_CLUSTER_ERROR
    print(text)
    return EXIT_OK


def add(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    history = sub.add_parser(
        "history", help="the last finished runs of a Swarm on the cluster (status.runs) and its current run"
    )
    history.add_argument("swarm", metavar="NAMESPACE/SWARM")
    history.add_argument("--json", action="store_true", help="print JSON (the current run and status.runs)")
    history.set_defaults(func=_history)
