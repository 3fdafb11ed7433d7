"""Steps 2 and 3: the CRD's CEL rules (``x-kubernetes-validations``, run at their location by
:mod:`.cel_rules`) and the API models, which the operator and ``hivekeeper run`` apply when they read a
manifest. A value the schema already refused is not reported again; a failed CEL rule gets the model's own
words for it (which role, which key) as its fix."""

from __future__ import annotations

import dataclasses
import re
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel
from pydantic import ValidationError as ModelError

from hivekeeper.api.swarm import Swarm
from hivekeeper.api.workerrole import WorkerRole
from hivekeeper.protocol.redaction import got as got_value
from hivekeeper.validate import cel_rules
from hivekeeper.validate.findings import Finding
from hivekeeper.validate.fixes import config_fix
from hivekeeper.validate.paths import below, show_path
from hivekeeper.validate.schema import crd_schema
from hivekeeper.validate.wording import show_value

if TYPE_CHECKING:
    from hivekeeper.validate.document import Document

_RULE_FIX = "change the manifest so that this rule holds: "


def cel_findings(doc: Document, data: dict[str, Any], aliases: list[Finding]) -> bool:
    """Run the CRD's CEL rules (:func:`cel_rules.available` must be true); True when the wiring rule reported
    the ``aliases`` problems."""
    schema = crd_schema(doc.kind)
    failures, skipped = cel_rules.check(schema, cel_rules.apply_defaults(schema, data))
    for skip in skipped:
        doc.note(f"CEL rule not checked ({skip.reason}): {skip.rule}", skip.path)
    wiring = False
    for failure in failures:
        if failure.error is not None and doc.has_error_at(show_path(failure.path)):
            continue  # the value is already refused by the schema; the rule just cannot read it
        message = failure.message
        if failure.error is not None:
            message += f" (the rule could not be evaluated: {failure.error})"
        hints = [a.message for a in aliases if "work.__in__" in failure.rule]
        wiring = wiring or bool(hints)
        fix = "; ".join(hints) if hints else f"{_RULE_FIX}{failure.rule}"
        doc.add("error", "cel-rule", failure.path, message, fix)
    return wiring


def model_findings(doc: Document, data: dict[str, Any]) -> None:
    """Parse the resource with its API model; sets ``doc.model`` when the model accepts it."""
    model: type[BaseModel] = Swarm if doc.kind == "Swarm" else WorkerRole
    try:
        parsed = model.model_validate(data)
    except ModelError as exc:
        for error in exc.errors():
            path = tuple("in" if p == "in_" else p for p in error["loc"])
            shown = show_path(path)
            message = str(error["msg"]).removeprefix("Value error, ")
            if path == ("spec",) and _RUN_PROBLEM.match(message):
                for where, said in _run_problems(message):
                    doc.add("error", "run-reference", where, said, _RUN_FIX)
                continue
            if doc.has_error_at(shown):
                _explain_rule(doc, shown, message)
                continue
            value = error.get("input")
            got = got_value(path, value, show_value)
            doc.add(
                "error",
                "model-rule",
                path,
                f"{message}{got}; the operator and `hivekeeper run` refuse the manifest",
                config_fix(shown, message),
            )
        return
    if isinstance(parsed, Swarm | WorkerRole):
        # the models accept it: the role configs and references are checked too, in the same pass, even when
        # the schema or a CEL rule refused something (each finding is about its own field)
        doc.model = parsed


_RUN_PROBLEM = re.compile(r"run\.[a-zA-Z]+\[\d+\](\.[a-zA-Z]+)?: ")
_RUN_FIX = "name a role of spec.roles (and, for steps, a step id of that http-sequence role); docs/runs.md"


def _run_problems(message: str) -> list[tuple[tuple[str | int, ...], str]]:
    """The spec.run problems the Swarm model joined into one message, each at its own field."""
    out: list[tuple[tuple[str | int, ...], str]] = []
    for part in re.split(r"; (?=run\.[a-zA-Z]+\[\d+\])", message):
        where, _, said = part.partition(": ")
        path: list[str | int] = ["spec"]
        for name, index in re.findall(r"\.?([a-zA-Z]+)(?:\[(\d+)\])?", where):
            path.extend([name, int(index)] if index else [name])
        out.append((tuple(path), said))
    return out


def _explain_rule(doc: Document, path: str, message: str) -> None:
    """Give a failed CEL rule at or above ``path`` the model's own words for it (which role, which key)."""
    for index, finding in enumerate(doc.findings):
        covers = finding.path == path or below(path, finding.path)
        if finding.code == "cel-rule" and covers and finding.fix.startswith(_RULE_FIX):
            rule = finding.fix.removeprefix(_RULE_FIX)
            doc.findings[index] = dataclasses.replace(finding, fix=f"{message} (the rule: {rule})")
            return
