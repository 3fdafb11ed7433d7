"""Step 1 for ``metadata``: the CRD schema leaves it to the API server's ObjectMeta, checked here the same way
(known fields only, a DNS subdomain name, string labels and annotations)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from hivekeeper.validate.wording import did_you_mean, show_value, type_name

if TYPE_CHECKING:
    from hivekeeper.validate.document import Document

_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_OBJECT_META = (
    *("name", "generateName", "namespace", "labels", "annotations", "finalizers", "ownerReferences", "uid"),
    *("resourceVersion", "generation", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds"),
    *("managedFields", "selfLink"),
)


def metadata_findings(doc: Document, data: dict[str, Any]) -> None:
    metadata = data.get("metadata")
    if metadata is None:
        doc.add("error", "schema-required", ("metadata",), "the document has no metadata", "add metadata: {name: ...}")
        return
    if not isinstance(metadata, dict):
        return  # the schema reports the type
    for name in metadata:
        if name not in _OBJECT_META:
            doc.add(
                "error",
                "unknown-field",
                ("metadata", name),
                f"unknown field {name!r} in metadata (kubectl's strict field validation refuses it)",
                f"{did_you_mean(name, _OBJECT_META)}remove it or fix the spelling",
            )
    name = metadata.get("name")
    if name is None and "generateName" not in metadata:
        doc.add("error", "schema-required", ("metadata", "name"), "metadata has no name", "add metadata.name")
    elif isinstance(name, str) and (len(name) > 253 or not _DNS_SUBDOMAIN.match(name)):
        doc.add(
            "error",
            "schema-pattern",
            ("metadata", "name"),
            f"metadata.name is {show_value(name)}, not a DNS subdomain name",
            "use lowercase letters, digits, '-' and '.', starting and ending with a letter or digit",
        )
    for key in ("labels", "annotations"):
        entries = metadata.get(key)
        if isinstance(entries, dict):
            for label, value in entries.items():
                if not isinstance(value, str):
                    doc.add(
                        "error",
                        "schema-type",
                        ("metadata", key, label),
                        f"metadata.{key}.{label} is {type_name(value)} ({show_value(value)}), but must be a string",
                        "quote the value",
                    )
