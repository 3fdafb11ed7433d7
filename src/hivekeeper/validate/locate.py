"""Reading manifests as the API server does, and finding the line of a path in them.

``kubectl`` turns YAML into JSON before anything else sees it (sigs.k8s.io/yaml): timestamps stay strings
and keys become strings. :func:`load_documents` reads the same way, and keeps PyYAML's node tree of each
document (``compose``), whose start marks give :func:`line_of` the line of any path.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import yaml

PathPart = str | int
Path = tuple[PathPart, ...]


class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader without the timestamp resolver: ``2024-01-01`` stays the string kubectl sends."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


@dataclass(frozen=True)
class Document:
    """One YAML document of a file: its data (JSON-like, as kubectl sends it) and its node tree."""

    index: int
    data: Any
    node: yaml.Node | None
    """None for an object that arrives parsed (an admission request): no lines, only field paths."""


@dataclass(frozen=True)
class DuplicateKey:
    path: Path
    key: str
    line: int
    first_line: int


def load_documents(text: str) -> list[Document]:
    """Every non-empty document of ``text``; raises ``yaml.YAMLError`` (with a mark) on a syntax error."""
    loader = _Loader(text)
    documents: list[Document] = []
    try:
        index = 0
        while loader.check_node():
            node = loader.get_node()
            if node is not None:
                data = loader.construct_document(node)
                if data is not None:
                    documents.append(Document(index, json_like(data), node))
            index += 1
    finally:
        loader.dispose()
    return documents


def json_like(value: Any) -> Any:
    """Keys as strings the way sigs.k8s.io/yaml makes them (``on:`` is YAML 1.1's true: ``"true"``)."""
    if isinstance(value, dict):
        return {_key(k): json_like(v) for k, v in value.items()}
    if isinstance(value, list):
        return [json_like(v) for v in value]
    return value


def _key(key: Any) -> str:
    if isinstance(key, bool):
        return "true" if key else "false"
    if key is None:
        return "null"
    return str(key)


def _child(node: yaml.Node, part: PathPart) -> tuple[yaml.Node, yaml.Node] | None:
    """(the node naming ``part``, its value node) below ``node``, or None."""
    if isinstance(node, yaml.MappingNode) and isinstance(part, str):
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode) and _scalar_key(key) == part:
                return key, value
    if isinstance(node, yaml.SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
        item = node.value[part]
        return item, item
    return None


def _scalar_key(key: yaml.ScalarNode) -> str:
    if key.style is None and key.tag == "tag:yaml.org,2002:bool":
        return "true" if key.value.lower() in ("y", "yes", "true", "on") else "false"
    return str(key.value)


def node_at(root: yaml.Node, path: Path) -> tuple[yaml.Node | None, yaml.Node]:
    """(the value node at ``path`` or None when absent, the node of the deepest part that exists)."""
    node: yaml.Node = root
    marker: yaml.Node = root
    for part in path:
        found = _child(node, part)
        if found is None:
            return None, marker
        marker, node = found
    return node, marker


def line_of(root: yaml.Node, path: Path) -> int:
    """1-based line of ``path`` (its key), or of its deepest ancestor present in the document."""
    _, marker = node_at(root, path)
    return marker.start_mark.line + 1


def duplicate_keys(root: yaml.Node, path: Path = ()) -> Iterator[DuplicateKey]:
    """Keys given twice in one mapping: PyYAML keeps the last, kubectl refuses the manifest."""
    if isinstance(root, yaml.MappingNode):
        seen: dict[str, int] = {}
        for key, value in root.value:
            name = _scalar_key(key) if isinstance(key, yaml.ScalarNode) else str(key.value)
            line = key.start_mark.line + 1
            if name in seen:
                yield DuplicateKey(path, name, line, seen[name])
            else:
                seen[name] = line
            yield from duplicate_keys(value, (*path, name))
    elif isinstance(root, yaml.SequenceNode):
        for index, item in enumerate(root.value):
            yield from duplicate_keys(item, (*path, index))
