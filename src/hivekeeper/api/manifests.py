"""Reading Swarm manifests from YAML, with errors that name the file, the field and the fix."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from hivekeeper.api.swarm import Swarm
from hivekeeper.errors import InvalidInput
from hivekeeper.protocol.redaction import got


class ManifestError(InvalidInput, ValueError):
    """A manifest could not be read or does not describe a valid Swarm."""


def field_path(loc: tuple[int | str, ...]) -> str:
    """``('spec', 'roles', 2, 'config')`` -> ``spec.roles[2].config``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + ("in" if part == "in_" else str(part))
    return out


def parse_swarm(document: Any, source: str = "<manifest>") -> Swarm:
    if not isinstance(document, dict):
        raise ManifestError(f"{source}: expected a Swarm object, got {type(document).__name__}")
    if document.get("kind") != "Swarm":
        raise ManifestError(f"{source}: kind is {document.get('kind')!r}; this command reads `kind: Swarm`")
    try:
        return Swarm.model_validate(document)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            value = err.get("input")
            shown = got(err["loc"], value)
            problems.append(f"  {field_path(err['loc']) or '(root)'}: {err['msg']}{shown}")
        raise ManifestError(f"{source}: invalid Swarm:\n" + "\n".join(problems)) from exc


def load_swarm_text(text: str, source: str = "<manifest>") -> Swarm:
    try:
        documents = [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError as exc:
        raise ManifestError(f"{source}: not valid YAML: {exc}") from exc
    swarms = [d for d in documents if isinstance(d, dict) and d.get("kind") == "Swarm"]
    if len(swarms) != 1:
        raise ManifestError(f"{source}: expected exactly one `kind: Swarm` document, found {len(swarms)}")
    return parse_swarm(swarms[0], source)


def load_swarm(path: Path) -> Swarm:
    try:
        text = path.read_text()
    except OSError as exc:
        raise ManifestError(f"{path}: cannot read the manifest: {exc.strerror}") from exc
    return load_swarm_text(text, str(path))
