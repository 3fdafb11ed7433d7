"""A Swarm's CSV datasets and buffer guards: the file a CSV_DATASET input reads, and the queue a ``bufferGuard``
watches (one of the swarm's, and not the guarded role's own input queue).

A manifest read from a file has its CSV files checked next to it, exactly as ``hivekeeper run`` reads them
(header, duplicate columns, declared types, every cell): what validate passes, the workers can read. A manifest
received by the admission webhook has no directory: its files are in ConfigMaps the workers mount, and the
workers check them when they start.
"""

from __future__ import annotations

from pathlib import Path

from hivekeeper.api.run import RATE_BLOCKS
from hivekeeper.validate.document import Document
from hivekeeper.validate.roles import Role
from hivekeeper.worker.inputs import csv_table


def dataset_findings(doc: Document, roles: list[Role]) -> None:
    aliases = {alias for role in roles for alias in (role.work_in, role.work_out) if alias}
    base = _manifest_dir(doc)
    for role in roles:
        if role.config is None or role.state is None:
            continue
        _guard(doc, role, aliases)
        csv = role.config.inputs.csv
        if role.state.input_type != "CSV_DATASET" or csv is None:
            continue
        where = (*role.config_path, "inputs", "csv")
        if not Path(csv.filePath).is_absolute() and csv.configMap is None:
            doc.add(
                "warning",
                "csv-no-configmap",
                (*where, "filePath"),
                f"{role.label} reads {csv.filePath} next to the manifest; on a cluster its pods have no such file "
                "and do not start",
                f"create a ConfigMap with the file (kubectl create configmap NAME --from-file={csv.filePath}) and "
                "set inputs.csv.configMap: NAME",
            )
        if base is None:
            continue
        try:
            csv_table.load(csv, base)
        except csv_table.CsvError as exc:
            doc.add(
                "error",
                "csv-dataset",
                (*where, *exc.key.split(".")),
                f"{role.label}: {exc}",
                "fix the file or inputs.csv; the workers refuse to start with it as it is",
            )


def _guard(doc: Document, role: Role, aliases: set[str]) -> None:
    assert role.config is not None
    assert role.state is not None
    guard = role.config.bufferGuard
    if guard is None:
        return
    where = (*role.config_path, "bufferGuard")
    if role.state.input_type not in RATE_BLOCKS and guard.queue == role.work_in:
        doc.add(
            "error",
            "buffer-guard-input",
            (*where, "queue"),
            f"{role.label} guards {guard.queue!r}, the queue it takes its own items from: held back, it would only "
            "make that queue deeper, and the guard would never open again",
            "guard a queue downstream (this role's work.out, whose depth its held input lets drain), or put the "
            f"guard on the role feeding {guard.queue!r}",
        )
    if guard.queue not in aliases:
        doc.add(
            "error",
            "buffer-guard-queue",
            (*where, "queue"),
            f"{role.label}: bufferGuard.queue {guard.queue!r} is no work queue of this swarm (queues: "
            f"{', '.join(sorted(aliases)) or 'none'}): the guard could never read its depth",
            "name the work.in alias of the stage whose backlog should slow this producer",
        )


def _manifest_dir(doc: Document) -> Path | None:
    """The manifest's directory when it was read from a file (relative dataset files are read there)."""
    if not doc.file or doc.file == "<stdin>":
        return None
    path = Path(doc.file)
    return path.resolve().parent if path.is_file() else None
