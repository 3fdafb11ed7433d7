"""`hivekeeper report NAMESPACE/SWARM [--run ID] [-o FILE.html] [--json FILE]`: the HTML report of a run on the
cluster, the same page ``hivekeeper run --report`` writes for a local run.

The operator keeps each run's record in a ConfigMap named by the Swarm's status (``status.run.series``,
``status.runs[].series``; decision 0012). This command reads the Swarm (``history_cmd.read_swarm``), picks the
run (``report.run_choice``), reads its ConfigMap (:func:`read_configmap`) and renders it
(``report.cluster_run``). :func:`load_run` and :func:`write_report` are callable in-process (the e2e test does)
and raise the errors the command prints. Exit codes as ``hivekeeper history``'s: 0 written, 2 bad input (not
``NAMESPACE/SWARM``, a swarm or run the cluster does not have, a run without a stored record, an output file
that cannot be written), 3 when the cluster cannot be asked or its record cannot be read.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from hivekeeper.cli import history_cmd
from hivekeeper.errors import InvalidInput

if TYPE_CHECKING:
    from hivekeeper.report.run_document import RunDocument

EXIT_OK = 0
EXIT_BAD_INPUT = 2
EXIT_CLUSTER_ERROR = 3


class RecordNotFound(InvalidInput):
    """The Swarm's status names a ConfigMap the cluster does not have (deleted by hand, or pruned)."""


def read_configmap(namespace: str, name: str) -> dict[str, str]:
    """The data of a ConfigMap as the Kubernetes API holds it (KUBECONFIG or the service account);
    :class:`RecordNotFound` when there is none."""
    from lightkube import ApiError, Client, KubeConfig
    from lightkube.resources.core_v1 import ConfigMap

    client = Client(config=KubeConfig.from_env())
    try:
        found = client.get(ConfigMap, name, namespace=namespace)
    except ApiError as exc:
        if exc.status.code == 404:
            raise RecordNotFound(
                f"ConfigMap {namespace}/{name}, the run's record named in the Swarm's status, does not exist "
                "(deleted by hand?); pick another run with --run (hivekeeper history lists them)"
            ) from exc
        raise
    return dict(found.data or {})


def load_run(namespace: str, name: str, run_id: str | None = None) -> RunDocument:
    """The stored record of the Swarm's run ``run_id`` (default: the current run, else the newest stored)."""
    from hivekeeper.report.cluster_run import BadRunDocument, parse_document
    from hivekeeper.report.run_choice import choose
    from hivekeeper.report.run_document import DATA_KEY

    ref = f"{namespace}/{name}"
    chosen, series = choose(ref, history_cmd.read_swarm(namespace, name), run_id)
    where = f"ConfigMap {namespace}/{series} (run {chosen} of swarm {ref})"
    data = read_configmap(namespace, series)
    if DATA_KEY not in data:
        raise BadRunDocument(f"{where} has no data key {DATA_KEY!r} (keys: {sorted(data) or 'none'}): not a run record")
    document = parse_document(data[DATA_KEY], where)
    if (document.namespace, document.swarm, document.runId) != (namespace, name, chosen):
        raise BadRunDocument(
            f"{where} holds run {document.runId} of swarm {document.namespace}/{document.swarm}, not run "
            f"{chosen} of {ref}: the status names the wrong ConfigMap"
        )
    return document


def write_report(
    namespace: str,
    name: str,
    run_id: str | None = None,
    out_path: Path | None = None,
    *,
    json_path: Path | None = None,
) -> Path:
    """Write the HTML report of the run to ``out_path`` (default ``<swarm>-<run>.html`` here), and the record as
    JSON (without the operator's ``baseline``) to ``json_path`` when given; the HTML file's path."""
    document = load_run(namespace, name, run_id)
    return _write(document, out_path, json_path)


def _write(document: RunDocument, out_path: Path | None, json_path: Path | None) -> Path:
    from hivekeeper.report import html
    from hivekeeper.report.cluster_run import to_report

    path = out_path or Path(f"{document.swarm}-{document.runId}.html")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(html.render(to_report(document)), encoding="utf-8")
    if json_path is not None:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        record = document.model_dump(mode="json", exclude={"baseline"})
        json_path.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    return path


def _report(args: argparse.Namespace) -> int:
    from hivekeeper.report.cluster_run import BadRunDocument

    try:
        namespace, name = history_cmd.swarm_ref(args.swarm)
    except InvalidInput as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    ref = f"{namespace}/{name}"
    try:
        document = load_run(namespace, name, args.run)
    except BadRunDocument as exc:  # the cluster answered, but its record cannot be read: not the user's input
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_CLUSTER_ERROR
    except InvalidInput as exc:  # no such swarm or run, a run without a record
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except Exception as exc:  # no kubeconfig, no cluster, no rights: one line, not a traceback
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        print(f"error: cannot read swarm {ref} from the Kubernetes API: {detail} (check KUBECONFIG)", file=sys.stderr)
        return EXIT_CLUSTER_ERROR
    out = Path(args.output) if args.output else None
    json_path = Path(args.json) if args.json else None
    try:
        path = _write(document, out, json_path)
    except OSError as exc:
        print(f"error: cannot write the report: {exc} (choose another file with -o / --json)", file=sys.stderr)
        return EXIT_BAD_INPUT
    print(f"report of run {document.runId} of swarm {ref} written to {path}")
    if json_path is not None:
        print(f"run record written to {json_path}")
    return EXIT_OK


def add(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    report = sub.add_parser(
        "report",
        help="the HTML report (plots, verdict, thresholds) of a Swarm's run on the cluster, as hivekeeper run writes",
    )
    report.add_argument("swarm", metavar="NAMESPACE/SWARM")
    report.add_argument(
        "--run", metavar="ID", help="the run's id (spec.run.id; default: the current run, else the newest stored)"
    )
    report.add_argument(
        "-o", "--output", metavar="FILE.html", help="where to write the report (default: <swarm>-<run>.html here)"
    )
    report.add_argument("--json", metavar="FILE", help="also write the run's stored record as JSON")
    report.set_defaults(func=_report)
