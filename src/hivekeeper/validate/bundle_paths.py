"""Step 4, files a config names in a PocketHive bundle: PocketHive mounts a scenario bundle at
``/app/scenario`` in every bee, so a bundle's config may name its files there (``templateRoot``, a schema, a
dataset). hivekeeper's pods have no such folder: the worker would not find the file. ``hivekeeper import``
carries the call templates into ``spec.templates`` and reports any other file it cannot carry; validate
reports such a path in any role's config, a custom image's included, so that both say the same."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from hivekeeper.validate.paths import DocPath

if TYPE_CHECKING:
    from hivekeeper.validate.document import Document

BUNDLE_MOUNT = "/app/scenario"
"""Where PocketHive's bees see their scenario bundle."""


def bundle_paths(config: Any, path: DocPath = ()) -> Iterator[tuple[DocPath, str]]:
    """(path, value) of every string in ``config`` that names a file or folder under :data:`BUNDLE_MOUNT`."""
    if isinstance(config, dict):
        for key, value in config.items():
            yield from bundle_paths(value, (*path, str(key)))
    elif isinstance(config, list):
        for index, value in enumerate(config):
            yield from bundle_paths(value, (*path, index))
    elif isinstance(config, str):
        text = config.strip()
        if text == BUNDLE_MOUNT or text.startswith(f"{BUNDLE_MOUNT}/"):
            yield path, text


def bundle_path_findings(doc: Document, label: str, config_path: DocPath, config: Any) -> None:
    """An error for each bundle path in the role config at ``config_path``."""
    for where, value in bundle_paths(config):
        doc.add(
            "error",
            "bundle-file",
            (*config_path, *where),
            f"{label}: {value!r} is a file of a PocketHive bundle (mounted at {BUNDLE_MOUNT} in PocketHive's "
            "bees); hivekeeper's pods have no such folder, so the worker does not find it",
            "put call templates in spec.templates (hivekeeper import does) and give other files to the worker "
            "another way (built into its image, or a value of its config); or remove the key",
        )
