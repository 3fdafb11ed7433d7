"""Reading a PocketHive scenario bundle, and pointing findings at the file and line they are about.

A bundle is a folder: ``scenario.yaml``; optional ``variables.yaml``; ``sut/<sutId>/sut.yaml``;
``authProfiles.yaml``; call templates under ``templates/`` (``templates/http/**.yaml`` for HTTP);
anything else (``schemas/``, ``mock-config/``, docs) is not read. A bundle that cannot be read at
all (no folder, no ``scenario.yaml``, a YAML syntax error) raises :class:`BundleError`; everything
else is reported as :class:`~hivekeeper.validate.findings.Finding` values by the importer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from hivekeeper.api.manifests import field_path
from hivekeeper.errors import InvalidInput
from hivekeeper.validate.findings import Finding, Severity

Path_ = tuple[str | int, ...]
"""A path into a YAML document: ``('template', 'bees', 2, 'config')``."""

TEMPLATE_SUFFIXES = (".yaml", ".yml", ".json")


def mapping(value: Any) -> dict[str, Any]:
    """``value`` when it is a mapping, else ``{}`` (bundles are hand-written: any key may hold anything)."""
    return value if isinstance(value, dict) else {}


class BundleError(InvalidInput):
    """The bundle cannot be read (``hivekeeper import`` exits with 2)."""


@dataclass(frozen=True)
class SourceFile:
    """One YAML file of the bundle: its data and its node tree (for line numbers)."""

    rel: str
    """Path inside the bundle, e.g. ``templates/http/cards/balance.yaml``."""
    data: Any
    node: yaml.Node | None

    def line(self, path: Path_) -> int | None:
        """1-based line of the deepest part of ``path`` present in the file."""
        node, line = self.node, None
        for part in path:
            if isinstance(node, yaml.MappingNode):
                found = next(((k, v) for k, v in node.value if getattr(k, "value", None) == str(part)), None)
                if found is None:
                    break
                line, node = found[0].start_mark.line + 1, found[1]
            elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
                node = node.value[part]
                line = node.start_mark.line + 1
            else:
                break
        if line is None and self.node is not None:
            line = self.node.start_mark.line + 1
        return line


@dataclass(frozen=True)
class Bundle:
    root: Path
    scenario: SourceFile
    variables: SourceFile | None
    suts: dict[str, SourceFile]
    """By sut id (the folder name under ``sut/``)."""
    templates: list[SourceFile]
    """Every template file under ``templates/``, sorted by path."""
    auth_profiles: SourceFile | None


class BundleLoader(yaml.SafeLoader):
    """YAML as PocketHive reads its bundles: only ``true`` and ``false`` are booleans, so ``on:``, ``off``,
    ``yes`` and ``no`` stay strings (YAML 1.1 would read ``retry: {on: [...]}`` as ``{true: [...]}``)."""


BundleLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
BundleLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


def load_yaml(text: str) -> Any:
    """One YAML document read with :class:`BundleLoader`."""
    return yaml.load(text, Loader=BundleLoader)


def read_yaml(root: Path, path: Path) -> SourceFile:
    rel = path.relative_to(root).as_posix()
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise BundleError(f"{root / rel}: cannot read: {exc}") from exc
    try:
        loader = BundleLoader(text)
        try:
            node = loader.get_single_node()
            data = loader.construct_document(node) if node is not None else None
        finally:
            loader.dispose()
    except yaml.YAMLError as exc:
        raise BundleError(f"{root / rel}: not valid YAML: {exc}") from exc
    return SourceFile(rel, data, node)


def read_bundle(root: Path) -> Bundle:
    """The bundle in folder ``root``; raises :class:`BundleError` when it cannot be read."""
    if not root.is_dir():
        raise BundleError(f"{root}: not a folder; give the folder that holds scenario.yaml")
    scenario_path = root / "scenario.yaml"
    if not scenario_path.is_file():
        raise BundleError(f"{root}: no scenario.yaml in this folder; is it a PocketHive scenario bundle?")
    scenario = read_yaml(root, scenario_path)
    if not isinstance(scenario.data, dict):
        raise BundleError(f"{scenario_path}: expected a mapping (protocolVersion, id, template, ...)")
    optional = {name: root / name for name in ("variables.yaml", "authProfiles.yaml")}
    loaded = {name: read_yaml(root, path) if path.is_file() else None for name, path in optional.items()}
    suts = {
        path.parent.name: read_yaml(root, path)
        for path in sorted((root / "sut").glob("*/sut.yaml"))
        if (root / "sut").is_dir()
    }
    templates_dir = root / "templates"
    templates = [
        read_yaml(root, path)
        for path in sorted(templates_dir.rglob("*"))
        if path.is_file() and path.suffix in TEMPLATE_SUFFIXES and path.name != "authProfiles.yaml"
    ]
    return Bundle(root, scenario, loaded["variables.yaml"], suts, templates, loaded["authProfiles.yaml"])


@dataclass
class Collector:
    """The findings of one import, each pointing at a bundle file (shown as ``<bundle>/<rel>``) and line."""

    shown_root: str
    """The bundle folder as the user gave it (findings name ``<shown_root>/scenario.yaml``)."""
    findings: list[Finding] = field(default_factory=list)

    def add(
        self, severity: Severity, code: str, source: SourceFile | None, path: Path_, message: str, fix: str
    ) -> None:
        file = f"{self.shown_root.rstrip('/')}/{source.rel}" if source else self.shown_root
        line = source.line(path) if source else None
        self.findings.append(Finding(severity, code, field_path(path), message, fix, file=file, line=line))

    def error(self, code: str, source: SourceFile | None, path: Path_, message: str, fix: str) -> None:
        self.add("error", code, source, path, message, fix)

    def warning(self, code: str, source: SourceFile | None, path: Path_, message: str, fix: str) -> None:
        self.add("warning", code, source, path, message, fix)

    @property
    def errors(self) -> int:
        return sum(1 for f in self.findings if f.severity == "error")
