"""Admission: the API server asks the operator before it stores a Swarm or a WorkerRole.

A validating webhook served by kopf (``settings.admission.server``, started by ``hivekeeper operator
--webhook-port``). A Swarm or WorkerRole that ``hivekeeper validate`` finds errors in is refused, with the lines
``hivekeeper validate`` prints for it as the message (``kubectl apply`` shows them after ``admission webhook ...
denied the request:``); its warnings go back as the AdmissionReview's warnings (kubectl prints each as
``Warning: ...``). So a bad role config is refused when it is applied, not later by a worker.

The Helm chart writes the ValidatingWebhookConfiguration (``templates/webhook.yaml``): its TLS, its Service, which
requests are sent here and what the API server does when the operator does not answer (docs/operator.md,
"Admission webhook"). The chart already keeps updates that leave ``spec`` as it was (kopf's annotations and
finalizers) and the operator's own writes from being sent; :func:`decide` lets the former through too, so a
configuration written by hand behaves the same.

:func:`decide` is pure (it validates in memory; no I/O); :func:`validate` is the kopf adapter around it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import kopf

from hivekeeper.api import GROUP, VERSION
from hivekeeper.validate import review

HANDLER_ID = "role-configs"
"""kopf serves each admission handler at ``/<its id>``: the chart's webhook calls ``/role-configs``."""
REFUSED = 422
"""The HTTP code of a refusal: the object is well-formed but its content is invalid (as for the API server's own
validation)."""
CHECKED = frozenset({"CREATE", "UPDATE"})
CERT_FILE, KEY_FILE = "tls.crt", "tls.key"
"""The serving certificate and key in ``--webhook-cert-dir`` (the keys of a Secret of type kubernetes.io/tls)."""


@dataclass(frozen=True)
class Decision:
    """The answer to one admission request: what the AdmissionReview response carries."""

    allowed: bool
    message: str = ""
    """Why not, when refused: every error, as ``hivekeeper validate`` prints it, one after the other."""
    warnings: list[str] = field(default_factory=list)


def decide(operation: str, obj: Mapping[str, Any] | None, old: Mapping[str, Any] | None = None) -> Decision:
    """Whether the API server may store ``obj`` (the request's ``object``; ``old``: its ``oldObject``).

    Only creations and updates that change ``spec`` are checked: an update of metadata alone (kopf's progress
    annotations, a finalizer removed, a label) passes, so an object stored before the webhook was installed, or
    under an older operator's rules, can still be finished with and deleted.
    """
    if operation not in CHECKED or obj is None:
        return Decision(allowed=True)
    if operation == "UPDATE" and old is not None and old.get("spec") == obj.get("spec"):
        return Decision(allowed=True)
    found = review(obj)
    warnings = [one_line(warning) for warning in found.warnings]
    if found.errors:
        return Decision(allowed=False, message="\n".join(found.errors), warnings=warnings)
    return Decision(allowed=True, warnings=warnings)


def one_line(text: str) -> str:
    """A warning as the API server passes it on: it drops, without a word, any warning with a control character
    (a line break included), so a finding's ``fix:`` line joins its first line."""
    return " ".join(line.strip() for line in text.splitlines() if line.strip())


@kopf.on.validate(GROUP, VERSION, "swarms", id=HANDLER_ID, operations=["CREATE", "UPDATE"])
@kopf.on.validate(GROUP, VERSION, "workerroles", id=HANDLER_ID, operations=["CREATE", "UPDATE"])
def validate(body: kopf.Body, warnings: list[str], **kwargs: Any) -> None:
    """kopf's side: refuse with :class:`kopf.AdmissionError`, pass warnings through kopf's list.

    A plain function, so kopf runs it in its thread pool: validating (milliseconds to tens of them) does not hold
    up the operator's event loop.
    """
    old: kopf.Body | None = kwargs.get("old")  # kopf passes old and operation; its WebhookFn protocol omits them
    operation: str = kwargs.get("operation") or ""
    decision = decide(operation, _raw(body), _raw(old) if old is not None else None)
    warnings.extend(decision.warnings)
    if not decision.allowed:
        raise kopf.AdmissionError(decision.message, code=REFUSED)


def _raw(body: kopf.Body) -> dict[str, Any]:
    """The object as the API server sent it (kopf's Body is a read-only view of it)."""
    return {key: body[key] for key in body}


def server(port: int, cert_dir: Path) -> kopf.WebhookServer:
    """kopf's HTTPS server for the webhook, on every address of the pod, with the chart's certificate.

    kopf reads the files again when they change (a renewed Secret reaches the pod within a minute or so), so a new
    certificate needs no restart. No CA is given: the chart writes the caBundle into the webhook configuration.
    """
    for name in (CERT_FILE, KEY_FILE):
        if not (cert_dir / name).is_file():
            raise SystemExit(
                f"error: --webhook-port {port} needs a serving certificate, and {cert_dir / name} does not exist; "
                f"mount a kubernetes.io/tls Secret at {cert_dir} (the Helm chart does with webhook.enabled) or "
                "pass --webhook-port 0 to run without the admission webhook"
            )
    return kopf.WebhookServer(
        addr="0.0.0.0", port=port, certfile=str(cert_dir / CERT_FILE), pkeyfile=str(cert_dir / KEY_FILE)
    )
