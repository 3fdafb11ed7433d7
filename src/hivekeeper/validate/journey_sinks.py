"""Step 5, what a postprocessor reads: processor results (``http.result``). One fed by an http-sequence gets
journeys instead and drops every one of them (``postprocessor.bad-result``), a PocketHive bundle shape that
``hivekeeper import`` folds away when it can (a Redis sink becomes the http-sequence's uploader) and reports
when it cannot; validate reports it in the manifest, so both say the same."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hivekeeper.validate.document import Document
    from hivekeeper.validate.roles import Role


def journey_sink_findings(doc: Document, roles: list[Role]) -> None:
    """A postprocessor whose ``work.in`` is an http-sequence's ``work.out``."""
    journeys = {role.work_out: role for role in roles if role.kind == "http-sequence" and role.work_out}
    for role in roles:
        feeder = journeys.get(role.work_in) if role.kind == "postprocessor" and role.work_in else None
        if feeder is None:
            continue
        doc.add(
            "error",
            "postprocessor-after-journey",
            (*role.base, "work", "in"),
            f"{role.label} reads work.in {role.work_in!r}, the journeys of {feeder.label}: a postprocessor reads "
            "processor results (http.result), so it drops every journey (postprocessor.bad-result)",
            "remove this role (an http-sequence reports its own latency and errors); to push journeys to Redis "
            "lists, give the http-sequence config.interceptors.redisUploader (phase AFTER)",
        )
