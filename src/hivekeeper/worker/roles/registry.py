"""The built-in roles by name: the one place the runtime learns which roles exist.

Adding a role: a package under ``worker.roles`` whose ``role`` module defines the role and its
:class:`~hivekeeper.worker.roles.base.RoleKind` (``KIND``: its factory, and whether it wants a
``threadCount`` of work loops or an HTTP client), its config (a package in ``hivekeeper.api.roles``), and one entry
here.
"""

from __future__ import annotations

from hivekeeper.worker.roles.base import RoleKind
from hivekeeper.worker.roles.generator import role as generator
from hivekeeper.worker.roles.http_sequence import role as http_sequence
from hivekeeper.worker.roles.moderator import role as moderator
from hivekeeper.worker.roles.postprocessor import role as postprocessor
from hivekeeper.worker.roles.processor import role as processor
from hivekeeper.worker.roles.request_builder import role as request_builder

ROLES: dict[str, RoleKind] = {
    "generator": generator.KIND,
    "request-builder": request_builder.KIND,
    "processor": processor.KIND,
    "postprocessor": postprocessor.KIND,
    "http-sequence": http_sequence.KIND,
    "moderator": moderator.KIND,
}
"""Role name (``WorkerRole.spec.role``, ``Identity.kind``) -> how the runtime builds and runs it."""
