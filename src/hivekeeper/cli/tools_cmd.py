"""The tools: `validate`, `import`, the generated files (`crds`, `role-docs`, `schemas`), the worker entry
point and `version`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def _validate(args: argparse.Namespace) -> int:
    from hivekeeper.validate.report import render
    from hivekeeper.validate.run import validate_paths

    summary = validate_paths(args.paths, strict=args.strict)
    sys.stdout.write(render(summary, args.format))
    for problem in summary.unreadable:
        print(f"error: {problem}", file=sys.stderr)
    return summary.exit_code


def add_validate(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
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


def _import(args: argparse.Namespace) -> int:
    from hivekeeper.importer.command import main
    from hivekeeper.importer.translate import ImportOptions

    options = ImportOptions(bundle=Path(args.bundle), sut=args.sut, profile=args.profile, name=args.name)
    secrets = Path(args.secrets_dir) if args.secrets_dir else None
    return main(options, Path(args.output) if args.output else None, sys.stdout, sys.stderr, secrets)


def add_import(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
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
    importer.add_argument(
        "--secrets-dir",
        metavar="DIR",
        help="write the bundle's credentials (its auth profiles') as DIR/<secret>/<key> files for hivekeeper run "
        "--secrets DIR; they are never in the manifest",
    )
    importer.set_defaults(func=_import)


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


def _worker(args: argparse.Namespace) -> int:
    from hivekeeper.worker.main import main as worker_main

    return worker_main()


def _version(args: argparse.Namespace) -> int:
    from hivekeeper import __version__

    print(f"hivekeeper {__version__}")
    return 0


def add_generated(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
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
