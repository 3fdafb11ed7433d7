"""Reading a credential from where its :class:`~hivekeeper.api.auth.SecretValue` says, never from the manifest.

A ``secretKeyRef`` is a file ``<dir>/<secret name>/<key>`` under one of the reader's directories: on the
cluster the operator mounts each Secret a profile reads at ``/var/run/hivekeeper/secrets/<name>``
(``HIVEKEEPER_SECRETS_DIR`` overrides it); ``hivekeeper run --secrets DIR`` lays a directory out the same way
(``DIR/<name>/<key>``, as ``kubectl create secret generic --from-file`` takes it), and ``--demo-sut`` provides
the demo SUT's own Secret in memory. ``env`` and ``file`` read the worker's environment and file system.
Messages say where a credential was looked for, never what it holds.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from hivekeeper.api.auth import SECRETS_DIR_VARIABLE, SECRETS_MOUNT, SecretValue
from hivekeeper.errors import InvalidInput

MAX_SECRET_BYTES = 1_048_576
"""Kubernetes' own bound of a Secret; a larger file is not a credential."""


class SecretUnreadable(InvalidInput, ValueError):
    """A credential's source does not exist or cannot be read; the message names the source and the fix."""


@dataclass(frozen=True)
class SecretReader:
    dirs: tuple[Path, ...] = ()
    """Directories holding Secrets as ``<name>/<key>`` files, searched in order."""
    environ: Mapping[str, str] = field(default_factory=dict)
    provided: Mapping[tuple[str, str], str] = field(default_factory=dict)
    """Secrets given in memory, by (name, key): the demo SUT's under ``hivekeeper run --demo-sut``."""
    offline: bool = False
    """Read nothing (``hivekeeper validate``, the admission webhook: the Secrets are the cluster's, not theirs);
    ``text`` gives a placeholder and nothing is loaded from a file."""

    @classmethod
    def for_validation(cls) -> SecretReader:
        return cls(offline=True)

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> SecretReader:
        """The worker's reader: the mounted Secrets (``HIVEKEEPER_SECRETS_DIR``, else the operator's mount)."""
        environ = os.environ if environ is None else environ
        raw = environ.get(SECRETS_DIR_VARIABLE) or SECRETS_MOUNT
        return cls(tuple(Path(part) for part in raw.split(os.pathsep) if part), dict(environ))

    def text(self, value: SecretValue, where: str) -> str:
        """The credential as text (a trailing newline, as files and ``echo`` leave one, cut)."""
        if self.offline:
            return "offline-placeholder"
        ref = value.secretKeyRef
        if ref is not None and (ref.name, ref.key) in self.provided:
            return self.provided[(ref.name, ref.key)]
        if value.env is not None:
            found = self.environ.get(value.env)
            if found is None:
                raise SecretUnreadable(
                    f"{where}: environment variable {value.env} is not set; set it before the run, or use "
                    "secretKeyRef (a Secret) or file"
                )
            return found
        raw = self._read(self.path(value, where), where)
        try:
            text = raw.decode()
        except UnicodeDecodeError as exc:
            raise SecretUnreadable(f"{where}: {value.describe()} is not UTF-8 text") from exc
        return text[:-1] if text.endswith("\n") else text

    def path(self, value: SecretValue, where: str) -> Path:
        """Where the credential is as a file (TLS certificates and keys are read by path)."""
        if self.offline:
            return Path(os.devnull)
        ref = value.secretKeyRef
        if ref is not None:
            for base in self.dirs:
                candidate = base / ref.name / ref.key
                if candidate.is_file():
                    return candidate
            searched = ", ".join(str(base) for base in self.dirs) or "no directory"
            raise SecretUnreadable(
                f"{where}: {value.describe()} was not found (looked for <dir>/{ref.name}/{ref.key} in {searched}); "
                f"on a cluster create the Secret in the swarm's namespace (kubectl create secret generic {ref.name} "
                f"--from-literal={ref.key}=...); with hivekeeper run pass --secrets DIR holding {ref.name}/{ref.key}"
            )
        if value.file is not None:
            path = Path(value.file).expanduser()
            if not path.is_file():
                raise SecretUnreadable(f"{where}: file {value.file} does not exist; fix the path")
            return path
        raise SecretUnreadable(f"{where}: {value.describe()} cannot be used as a file; give it as secretKeyRef or file")

    @staticmethod
    def _read(path: Path, where: str) -> bytes:
        try:
            with path.open("rb") as handle:
                raw = handle.read(MAX_SECRET_BYTES + 1)
        except OSError as exc:
            raise SecretUnreadable(f"{where}: cannot read {path}: {exc.strerror or exc}") from exc
        if len(raw) > MAX_SECRET_BYTES:
            raise SecretUnreadable(f"{where}: {path} is larger than {MAX_SECRET_BYTES:,} bytes; it is no credential")
        return raw
