"""Admission: one Swarm or WorkerRole object, as the API server sends it to a validating webhook, checked as
``hivekeeper validate`` checks a manifest file, with the same messages.

An admission request carries the object parsed (no YAML text), so each message is located by its field path:
it is the text ``hivekeeper validate`` prints for the same problem without the leading ``file:line:``
(:func:`hivekeeper.validate.report.finding_text`). Notes (what was not checked) and the run's own warning
that the CEL rules cannot run here are left out: they are about the checker, not the object, and the API
server has run the CRD's CEL rules before any validating webhook is called.

It runs inside the API server's admission call, so it keeps what can be kept between calls: the compiled
schemas and CEL programs (cached where they are built), one template engine (compiled templates, keyed by
source) and the outcome of building each role's worker (:mod:`.offline`). Calls are serialised by a lock:
kopf runs synchronous handlers on a thread pool, and the engine is not thread-safe.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from hivekeeper.templating.engine import TemplateEngine
from hivekeeper.validate import locate
from hivekeeper.validate.document import Document
from hivekeeper.validate.report import finding_text
from hivekeeper.validate.run import Run

_lock = threading.Lock()


@dataclass(frozen=True)
class Review:
    """The verdict on one object: refuse it when ``errors`` is not empty; ``warnings`` go back to the client
    (kubectl prints them) without refusing it."""

    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def allowed(self) -> bool:
        return not self.errors


def review(obj: Mapping[str, Any]) -> Review:
    """Check one Swarm or WorkerRole object (apiVersion, kind, metadata, spec; ``status`` is ignored).

    An object of another kind gives an empty review, unless it claims the hivekeeper API group with a kind or
    version it does not serve.
    """
    doc = Document("", locate.Document(0, _plain(obj), None))
    with _lock:
        if doc.checkable():
            Run(engine=_engine()).check(doc)
    return Review(
        errors=[finding_text(f) for f in doc.findings if f.severity == "error"],
        warnings=[finding_text(f) for f in doc.findings if f.severity == "warning"],
    )


@cache
def _engine() -> TemplateEngine:
    """The engine every review compiles templates with (made on first use, kept for good)."""
    return TemplateEngine()


def _plain(value: Any) -> Any:
    """Plain dicts and lists (the checks read JSON-like data; kopf hands over its own Mapping views)."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value
