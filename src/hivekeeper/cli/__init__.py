"""The ``hivekeeper`` command line.

hivekeeper run [SWARM.yaml ...] [--duration S] [--json FILE] [--demo-sut]
hivekeeper demo-sut [--port N] [--tcp --mode echo|sink|end-tag|length-prefix]
hivekeeper tap SWARM [ALIAS] [--namespace NS] [--amqp URL] [--count N] [--full] [--timeout S] [--dead-letters [--peek]]
hivekeeper operator [--namespace NS] [--health-port N] [--metrics-port N] [--peering NAME [--priority N]]
                    [--webhook-port N [--webhook-cert-dir DIR]] [--verbose]
hivekeeper worker
hivekeeper history NAMESPACE/SWARM [--json]
hivekeeper report NAMESPACE/SWARM [--run ID] [-o FILE.html] [--json FILE]
hivekeeper debug SWARM [--namespace NS] [--redis URL] [--role R] [--last N] [--full] | --key KEY
hivekeeper import BUNDLE_DIR [--sut ID] [--profile ID] [--name NAME] [-o FILE]
hivekeeper validate PATH... [--format text|json|github|gitlab] [--strict]
hivekeeper crds [--out DIR] | role-docs [--out FILE] | schemas [--out DIR]
hivekeeper version

One module per group of subcommands; each adds its parsers (``add*``) and imports what it runs only when it
runs, so ``hivekeeper version`` does not load kopf or the worker.
"""

from __future__ import annotations

import argparse
import sys

from hivekeeper.cli import history_cmd, operator_cmd, report_cmd, run_cmd, tap_cmd, tools_cmd
from hivekeeper.errors import InvalidInput


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="hivekeeper", description="Load-testing swarms on Kubernetes and locally.")
    sub = root.add_subparsers(dest="command", required=True)
    run_cmd.add(sub)
    run_cmd.add_demo_sut(sub)
    tap_cmd.add_tap(sub)
    operator_cmd.add(sub)
    history_cmd.add(sub)
    report_cmd.add(sub)
    tap_cmd.add_debug(sub)
    tools_cmd.add_validate(sub)
    tools_cmd.add_import(sub)
    tools_cmd.add_generated(sub)
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
    try:
        result: int = args.func(args)
    except InvalidInput as exc:  # a wrong option, URL or file the command did not word itself: said, not a traceback
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return result
