"""Work aliases: every ``work.in`` must be some role's ``work.out``, or its workers never get an item.

Within a Swarm the CRD's CEL rule says so too (and :func:`alias_problems` gives it the role's name); a
WorkerRole joining a Swarm is checked against the Swarms of the same run (:func:`joining_findings`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hivekeeper.api.swarm import Swarm
from hivekeeper.api.workerrole import WorkerRole
from hivekeeper.validate.findings import Finding
from hivekeeper.validate.paths import show_path

if TYPE_CHECKING:
    from hivekeeper.validate.document import Document


def alias_problems(doc: Document, data: dict[str, Any]) -> list[Finding]:
    """``alias-unproduced`` for each role consuming an alias no role produces (from the raw document)."""
    roles = data.get("spec", {}).get("roles") if isinstance(data.get("spec"), dict) else None
    if not isinstance(roles, list):
        return []
    works: list[dict[str, Any]] = [
        r["work"] if isinstance(r, dict) and isinstance(r.get("work"), dict) else {} for r in roles
    ]
    produced = {w.get("out") for w in works if isinstance(w.get("out"), str)}
    found = []
    for index, (role, work) in enumerate(zip(roles, works, strict=True)):
        alias = work.get("in")
        if isinstance(alias, str) and alias not in produced:
            name = role.get("name") if isinstance(role, dict) else None
            finding = Finding(
                "error",
                "alias-unproduced",
                show_path(("spec", "roles", index, "work", "in")),
                f"role {name!r} (spec.roles[{index}]) consumes work.in {alias!r}, but no role has work.out "
                f"{alias!r}; produced aliases: {', '.join(sorted(str(p) for p in produced)) or 'none'}",
                "set work.in to an alias some role produces, or add the role that produces it",
                file=doc.file,
                line=doc.line(("spec", "roles", index, "work", "in")),
            )
            found.append(finding)
    return found


def joining_findings(documents: list[Document]) -> None:
    """A WorkerRole joining a Swarm of this run: its work.in must be produced by that swarm."""
    swarms = {
        (d.model.metadata.namespace, d.model.metadata.name): d.model for d in documents if isinstance(d.model, Swarm)
    }
    joining = [d for d in documents if isinstance(d.model, WorkerRole)]
    for doc in joining:
        assert isinstance(doc.model, WorkerRole)
        spec = doc.model.spec
        if not spec.work.in_:
            continue
        swarm = swarms.get((doc.model.metadata.namespace, spec.swarmRef))
        if swarm is None:
            matches = [s for (ns, name), s in swarms.items() if name == spec.swarmRef]
            swarm = matches[0] if len(matches) == 1 else None
        if swarm is None:
            doc.note(
                f"{doc.label}: swarm {spec.swarmRef!r} is not among the checked manifests; work.in "
                f"{spec.work.in_!r} was not checked against its roles",
                ("spec", "swarmRef"),
            )
            continue
        produced = {r.work.out for r in swarm.spec.roles if r.work.out}
        for other in joining:
            assert isinstance(other.model, WorkerRole)
            if other.model.spec.swarmRef == spec.swarmRef and other.model.spec.work.out:
                produced.add(other.model.spec.work.out)
        if spec.work.in_ not in produced:
            doc.add(
                "error",
                "alias-unproduced",
                ("spec", "work", "in"),
                f"{doc.label} consumes work.in {spec.work.in_!r}, but no role of swarm {spec.swarmRef!r} (nor "
                f"another WorkerRole joining it) has work.out {spec.work.in_!r}: it would never get an item",
                f"use an alias that is produced: {', '.join(sorted(produced)) or 'none'}",
            )
