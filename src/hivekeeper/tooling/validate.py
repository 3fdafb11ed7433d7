"""``hivekeeper validate``: check manifests without a cluster, with the rules the API server and the workers apply.

For every Swarm and WorkerRole document (other kinds are skipped with a note):

1. **Schema**: the generated CRD's openAPIV3Schema (:mod:`hivekeeper.api.crd`, the source of ``crds/``), with
   unknown fields refused as kubectl's strict field validation refuses them.
2. **CEL rules**: every ``x-kubernetes-validations`` rule of the CRD, run at its location (:mod:`.cel_rules`).
3. **The models**: what the operator and ``hivekeeper run`` check when they read the manifest.
4. **Role configs**: each built-in role's merged config through :func:`hivekeeper.api.roles.validate`, and
   then a real :class:`~hivekeeper.worker.runtime.Worker` built offline, so that every constructor-time check
   of the roles runs (templates compile, baseUrl renders, steps have templates, Redis routes compile).
5. **Wiring and references**: input/output types against work.in/work.out, every call id a generator can
   send has a template in the request-builder it feeds, vars and SUT endpoints used by templates exist.

Each problem is a :class:`~hivekeeper.tooling.findings.Finding` with the path and line it is about.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import re
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, TextIO

import jinja2
import yaml
from jsonschema import Draft4Validator
from jsonschema.exceptions import ValidationError as SchemaError
from pydantic import BaseModel
from pydantic import ValidationError as ModelError

from hivekeeper.api import API_VERSION, GROUP
from hivekeeper.api import roles as role_configs
from hivekeeper.api.crd import all_crds
from hivekeeper.api.roles import ConfigError
from hivekeeper.api.roles.common import CommonConfig
from hivekeeper.api.roles.generator.config import GeneratorConfig
from hivekeeper.api.roles.http_sequence.config import HttpSequenceConfig
from hivekeeper.api.roles.postprocessor.config import PostprocessorConfig
from hivekeeper.api.roles.processor.config import ProcessorConfig
from hivekeeper.api.roles.request_builder.config import RequestBuilderConfig
from hivekeeper.api.swarm import _ALIAS_PATTERN, RoleSpec, Swarm, SwarmSpec, merged_role_config
from hivekeeper.api.workerrole import WorkerRole
from hivekeeper.protocol.redaction import got as got_value
from hivekeeper.protocol.workitem import CALL_ID_HEADER, SERVICE_ID_HEADER
from hivekeeper.templating.engine import TemplateBudgetError, TemplateEngine, TemplateError, is_literal
from hivekeeper.tooling import cel_rules, locate, template_refs
from hivekeeper.tooling.findings import Finding, Severity
from hivekeeper.tooling.report import Note, Summary
from hivekeeper.worker.control import WorkerState

KINDS = {"Swarm": "swarms.hivekeeper.io.yaml", "WorkerRole": "workerroles.hivekeeper.io.yaml"}
SUFFIXES = (".yaml", ".yml")
DEFAULT_SECRET = "hivekeeper-broker"
TEMPLATE_RENDERERS = ("request-builder", "http-sequence")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_OBJECT_META = (
    *("name", "generateName", "namespace", "labels", "annotations", "finalizers", "ownerReferences", "uid"),
    *("resourceVersion", "generation", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds"),
    *("managedFields", "selfLink"),
)
_PART = re.compile(r"\[(\d+)\]|([^.\[\]]+)")
_RULE_FIX = "change the manifest so that this rule holds: "

DocPath = locate.Path


# -- reading ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Source:
    name: str
    text: str


def sources(paths: Iterable[str], stdin: TextIO | None = None) -> tuple[list[Source], list[str]]:
    """The texts to check: files, ``*.yaml``/``*.yml`` below directories (hidden ones such as ``.git`` left
    out), ``-`` for stdin; and the problems of paths that could not be read."""
    found: list[Source] = []
    problems: list[str] = []
    for raw in paths:
        if raw == "-":
            found.append(Source("<stdin>", (stdin or sys.stdin).read()))
            continue
        path = Path(raw)
        if path.is_dir():
            files = sorted(
                p
                for p in path.rglob("*")
                if p.suffix in SUFFIXES
                and p.is_file()
                and not any(part.startswith(".") for part in p.relative_to(path).parts)
            )
            if not files:
                problems.append(f"{raw}: no *.yaml or *.yml file in this directory")
            for file in files:
                _read(file, found, problems)
        elif path.exists():
            _read(path, found, problems)
        else:
            problems.append(f"{raw}: no such file or directory")
    return found, problems


def _read(path: Path, found: list[Source], problems: list[str]) -> None:
    try:
        found.append(Source(str(path), path.read_text(encoding="utf-8")))
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else f"not UTF-8 text ({exc.reason})"
        problems.append(f"{path}: cannot read: {reason}")


# -- entry points ----------------------------------------------------------------------------------
def validate_paths(paths: Iterable[str], *, strict: bool = False, stdin: TextIO | None = None) -> Summary:
    """Check every manifest under ``paths`` (``summary.unreadable`` names the paths that could not be read)."""
    found, problems = sources(paths, stdin)
    summary = validate_sources(found, strict=strict)
    summary.unreadable = problems
    return summary


def validate_text(text: str, name: str = "<manifest>", *, strict: bool = False) -> Summary:
    return validate_sources([Source(name, text)], strict=strict)


def validate_sources(texts: list[Source], *, strict: bool = False) -> Summary:
    summary = Summary(files=len(texts), strict=strict)
    documents: list[_Document] = []
    for source in texts:
        documents.extend(_parse(source, summary))
    summary.documents += len(documents)
    checked = [doc for doc in documents if doc.checkable()]
    summary.checked = len(checked)
    run = _Run(strict=strict, documents=checked)
    for doc in checked:
        run.check(doc)
    run.cross_documents()
    for doc in documents:
        summary.findings.extend(doc.findings)
        summary.notes.extend(doc.notes)
    summary.findings.extend(run.findings)
    summary.notes.extend(run.notes)
    summary.findings.sort(key=lambda f: (f.file, f.line or 0, f.severity != "error", f.code, f.path))
    return summary


def _parse(source: Source, summary: Summary) -> list[_Document]:
    try:
        parsed = locate.load_documents(source.text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        context = getattr(exc, "context", None)
        summary.findings.append(
            Finding(
                "error",
                "yaml-syntax",
                "",
                f"not valid YAML: {problem}" + (f" ({context})" if context else ""),
                "fix the YAML at this line (indentation, an unclosed quote or bracket, a tab instead of spaces); "
                "nothing in this file was checked",
                file=source.name,
                line=mark.line + 1 if mark is not None else None,
            )
        )
        return []
    return [_Document(source.name, document) for document in parsed]


# -- one document ----------------------------------------------------------------------------------
@dataclass
class _Document:
    file: str
    document: locate.Document
    findings: list[Finding] = field(default_factory=list)
    notes: list[Note] = field(default_factory=list)
    kind: str = ""
    model: Swarm | WorkerRole | None = None

    @property
    def data(self) -> Any:
        return self.document.data

    def line(self, path: DocPath) -> int:
        return locate.line_of(self.document.node, path)

    def add(
        self,
        severity: Severity,
        code: str,
        path: DocPath,
        message: str,
        fix: str,
        line: int | None = None,
    ) -> Finding:
        finding = Finding(severity, code, show_path(path), message, fix, file=self.file, line=line or self.line(path))
        self.findings.append(finding)
        return finding

    def note(self, message: str, path: DocPath = ()) -> None:
        self.notes.append(Note(message, self.file, self.line(path)))

    @property
    def label(self) -> str:
        name = self.data.get("metadata", {}).get("name") if isinstance(self.data.get("metadata"), dict) else None
        return f"{self.kind} {name!r}" if name else self.kind

    def checkable(self) -> bool:
        """Whether this is a hivekeeper resource to check (else: a finding or a note says why not)."""
        data = self.data
        if not isinstance(data, dict):
            self.add(
                "error",
                "not-an-object",
                (),
                f"document {self.document.index + 1} is {_type_name(data)}, not a Kubernetes object",
                "each YAML document must be a map with apiVersion, kind, metadata and spec",
            )
            return False
        api_version, kind = data.get("apiVersion"), data.get("kind")
        group = api_version.split("/", 1)[0] if isinstance(api_version, str) and "/" in api_version else ""
        if group != GROUP and not (api_version is None and kind in KINDS):
            shown = f"{kind or 'no kind'} ({api_version or 'no apiVersion'})"
            self.note(f"skipped: {shown} is not a hivekeeper resource")
            return False
        if kind not in KINDS or api_version != API_VERSION:
            path = ("kind",) if kind not in KINDS else ("apiVersion",)
            self.add(
                "error",
                "unknown-kind",
                path,
                f"the API server serves no {api_version or '(no apiVersion)'} {kind or '(no kind)'}",
                f"use apiVersion: {API_VERSION} with kind Swarm or WorkerRole",
            )
            return False
        self.kind = str(kind)
        return True


def show_path(path: DocPath) -> str:
    """``("spec", "roles", 2, "config")`` -> ``spec.roles[2].config``."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else ("." if out else "") + str(part)
    return out


def _relative(text: str) -> DocPath:
    """``steps[0].set[1].template`` -> ``("steps", 0, "set", 1, "template")``; header maps keep dotted names."""
    parts: list[str | int] = []
    rest = text
    while rest:
        if parts and parts[-1] in ("headers", "headersTemplate") and not rest.startswith("["):
            parts.append(rest)
            break
        match = _PART.match(rest)
        if match is None:
            parts.append(rest)
            break
        index, name = match.groups()
        parts.append(int(index) if index is not None else name)
        rest = rest[match.end() :].removeprefix(".")
    return tuple(parts)


def _field(path: DocPath) -> str:
    """How a message names the field at ``path``: its key (``replicas``), or the item (``roles[2]``)."""
    if not path:
        return "the document"
    if isinstance(path[-1], str):
        return path[-1]
    return show_path(path[-2:]) if len(path) > 1 else show_path(path)


def _show(value: Any, limit: int = 60) -> str:
    try:
        text = json.dumps(value, default=str)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


_TYPE_NAMES = ((bool, "a boolean"), (int, "an integer"), (float, "a number"), (str, "a string"), (list, "a list"))


def _type_name(value: Any) -> str:
    """How a message names the YAML type of ``value`` (bool before int: True is an int in Python)."""
    if value is None:
        return "null"
    for kind, name in _TYPE_NAMES:
        if isinstance(value, kind):
            return name
    return "a map" if isinstance(value, dict) else type(value).__name__


_WANTED = {
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "true or false",
    "object": "a map (key: value)",
    "array": "a list",
}


def _overlaps(a: str, b: str) -> bool:
    """Whether one path is the other or lies below it (``spec`` and ``spec.roles[0]`` overlap)."""
    if a == b or not a or not b:
        return True
    return _below(a, b) or _below(b, a)


def _below(path: str, ancestor: str) -> bool:
    """Whether ``path`` lies under ``ancestor`` (``spec.roles[0]`` under ``spec``, not ``specs``)."""
    return path.startswith(ancestor) and path[len(ancestor) : len(ancestor) + 1] in (".", "[")


# -- the schema ------------------------------------------------------------------------------------
@cache
def crd_schema(kind: str) -> dict[str, Any]:
    """The openAPIV3Schema of ``kind``, generated from the API models (the same source as crds/)."""
    crd = all_crds()[KINDS[kind]]
    schema: dict[str, Any] = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    return schema


@cache
def _json_schema_validator(kind: str) -> Draft4Validator:
    return Draft4Validator(json_schema(crd_schema(kind)))


def json_schema(node: dict[str, Any]) -> dict[str, Any]:
    """A structural schema as JSON Schema (draft 4) that also refuses undeclared fields, as kubectl's
    strict field validation does (the API server would otherwise prune them silently)."""
    out: dict[str, Any] = {
        key: value
        for key, value in node.items()
        if key not in ("properties", "items", "additionalProperties", "default", "description")
        and not key.startswith("x-")
    }
    if "properties" in node:
        out["properties"] = {name: json_schema(child) for name, child in node["properties"].items()}
        if "additionalProperties" not in node and not node.get("x-kubernetes-preserve-unknown-fields"):
            out["additionalProperties"] = False
    if isinstance(node.get("additionalProperties"), dict):
        out["additionalProperties"] = json_schema(node["additionalProperties"])
    if isinstance(node.get("items"), dict):
        out["items"] = json_schema(node["items"])
    return out


def _schema_findings(doc: _Document, data: dict[str, Any]) -> None:
    errors = sorted(_json_schema_validator(doc.kind).iter_errors(data), key=lambda e: [str(p) for p in e.path])
    for error in errors:
        _schema_finding(doc, error)


def _schema_finding(doc: _Document, error: SchemaError) -> None:
    path: DocPath = tuple(error.absolute_path)
    value = error.instance
    rule = error.validator
    where = show_path(path) or "the document"
    name = _field(path)
    schema = error.schema if isinstance(error.schema, dict) else {}
    wanted_value: Any = error.validator_value
    if rule == "additionalProperties" and isinstance(value, dict):
        known = list(schema.get("properties", {}))
        for extra in value:
            if extra in known:
                continue
            close = difflib.get_close_matches(extra, known, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            doc.add(
                "error",
                "unknown-field",
                (*path, extra),
                f"unknown field {extra!r} in {where} (kubectl's strict field validation refuses it; without it "
                "the API server would drop it silently)",
                f"{hint}remove it or fix the spelling; the fields here are: {', '.join(known)}",
            )
        return
    if rule == "required":
        for missing in wanted_value:
            if isinstance(value, dict) and missing not in value:
                doc.add(
                    "error",
                    "schema-required",
                    (*path, missing),
                    f"{where} has no {missing!r}, which is required",
                    f"add {missing}: to {where}",
                )
        return
    if rule == "type":
        wanted = _WANTED.get(str(error.validator_value), str(error.validator_value))
        hint = ""
        if isinstance(value, str) and error.validator_value in ("integer", "number", "boolean"):
            hint = " (without quotes)"
        doc.add(
            "error",
            "schema-type",
            path,
            f"{name} is {_type_name(value)} ({_show(value)}), but must be {wanted}",
            f"write {wanted}{hint}",
        )
        return
    if rule == "enum":
        allowed = ", ".join(str(v) for v in wanted_value)
        doc.add(
            "error",
            "schema-enum",
            path,
            f"{name} is {_show(value)}, which is not one of {allowed}",
            f"use one of: {allowed} (case matters)",
        )
        return
    if rule == "pattern":
        pattern = str(error.validator_value)
        explained = (
            "lowercase letters, digits and '-', starting and ending with a letter or digit"
            if pattern == _ALIAS_PATTERN
            else f"the pattern {pattern}"
        )
        doc.add(
            "error",
            "schema-pattern",
            path,
            f"{name} is {_show(value)}, which does not match {pattern}",
            f"use {explained}",
        )
        return
    bounds = {
        "minimum": ("at least", ""),
        "maximum": ("at most", ""),
        "minLength": ("at least", " characters long"),
        "maxLength": ("at most", " characters long"),
        "minItems": ("at least", " entries"),
        "maxItems": ("at most", " entries"),
    }
    if rule in bounds:
        word, unit = bounds[str(rule)]
        size = f"{len(value)}{unit}" if isinstance(value, str | list) else _show(value)
        doc.add(
            "error",
            "schema-range",
            path,
            f"{name} is {size}, but must be {word} {error.validator_value}{unit}",
            f"use a value {word} {error.validator_value}{unit}",
        )
        return
    doc.add("error", "schema-invalid", path, f"{name}: {error.message}", "change the value so the schema accepts it")


def _metadata_findings(doc: _Document, data: dict[str, Any]) -> None:
    metadata = data.get("metadata")
    if metadata is None:
        doc.add("error", "schema-required", ("metadata",), "the document has no metadata", "add metadata: {name: ...}")
        return
    if not isinstance(metadata, dict):
        return  # the schema reports the type
    for name in metadata:
        if name not in _OBJECT_META:
            close = difflib.get_close_matches(name, _OBJECT_META, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            doc.add(
                "error",
                "unknown-field",
                ("metadata", name),
                f"unknown field {name!r} in metadata (kubectl's strict field validation refuses it)",
                f"{hint}remove it or fix the spelling",
            )
    name = metadata.get("name")
    if name is None and "generateName" not in metadata:
        doc.add("error", "schema-required", ("metadata", "name"), "metadata has no name", "add metadata.name")
    elif isinstance(name, str) and (len(name) > 253 or not _DNS_SUBDOMAIN.match(name)):
        doc.add(
            "error",
            "schema-pattern",
            ("metadata", "name"),
            f"metadata.name is {_show(name)}, not a DNS subdomain name",
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
                        f"metadata.{key}.{label} is {_type_name(value)} ({_show(value)}), but must be a string",
                        "quote the value",
                    )


# -- the run over all documents --------------------------------------------------------------------
@dataclass
class _Run:
    strict: bool
    documents: list[_Document]
    findings: list[Finding] = field(default_factory=list)
    notes: list[Note] = field(default_factory=list)
    engine: TemplateEngine = field(default_factory=TemplateEngine)
    _cel_warned: bool = False

    def check(self, doc: _Document) -> None:
        for duplicate in locate.duplicate_keys(doc.document.node):
            doc.add(
                "error",
                "duplicate-key",
                (*duplicate.path, duplicate.key),
                f"{duplicate.key!r} is given twice in {show_path(duplicate.path) or 'the document'} (first on "
                f"line {duplicate.first_line}); kubectl and YAML readers silently keep only the last one",
                "remove one of them",
                line=duplicate.line,
            )
        data = {k: v for k, v in doc.data.items() if k != "status"}  # status is the operator's, never applied
        _metadata_findings(doc, data)
        _schema_findings(doc, data)
        aliases = _alias_problems(doc, data) if doc.kind == "Swarm" else []
        if not self._cel(doc, data, aliases):
            doc.findings.extend(aliases)  # the CEL rule did not say it (it is not installed): say it here
        self._model(doc, data)
        if doc.model is None:
            if any(f.severity == "error" for f in doc.findings):
                doc.note(f"{doc.label}: role configs and references were not checked; fix the errors above first")
            return
        if isinstance(doc.model, Swarm):
            _SwarmCheck(self, doc, doc.model).run()
        else:
            _WorkerRoleCheck(self, doc, doc.model).run()

    def _cel(self, doc: _Document, data: dict[str, Any], aliases: list[Finding]) -> bool:
        """Run the CRD's CEL rules; True when the wiring rule reported the ``aliases`` problems."""
        if not cel_rules.available():
            if not self._cel_warned:
                self._cel_warned = True
                self.findings.append(
                    Finding(
                        "warning",
                        "cel-unavailable",
                        "",
                        "the CRDs' CEL rules were not run: cel-expr-python is not installed; the same invariants "
                        "are still checked through the API models",
                        "install the validate extra: `pip install 'hivekeeper[validate]'` (Linux x86_64, macOS or "
                        "Windows have wheels)",
                    )
                )
            return False
        schema = crd_schema(doc.kind)
        failures, skipped = cel_rules.check(schema, cel_rules.apply_defaults(schema, data))
        for skip in skipped:
            doc.note(f"CEL rule not checked ({skip.reason}): {skip.rule}", skip.path)
        wiring = False
        for failure in failures:
            if failure.error is not None and any(
                f.severity == "error" and _overlaps(f.path, show_path(failure.path)) for f in doc.findings
            ):
                continue  # the value is already refused by the schema; the rule just cannot read it
            message = failure.message
            if failure.error is not None:
                message += f" (the rule could not be evaluated: {failure.error})"
            hints = [a.message for a in aliases if "work.__in__" in failure.rule]
            wiring = wiring or bool(hints)
            fix = "; ".join(hints) if hints else f"{_RULE_FIX}{failure.rule}"
            doc.add("error", "cel-rule", failure.path, message, fix)
        return wiring

    def _model(self, doc: _Document, data: dict[str, Any]) -> None:
        model: type[BaseModel] = Swarm if doc.kind == "Swarm" else WorkerRole
        try:
            parsed = model.model_validate(data)
        except ModelError as exc:
            for error in exc.errors():
                path = tuple("in" if p == "in_" else p for p in error["loc"])
                shown = show_path(path)
                message = str(error["msg"]).removeprefix("Value error, ")
                if any(f.severity == "error" and _overlaps(f.path, shown) for f in doc.findings):
                    _explain_rule(doc, shown, message)
                    continue
                value = error.get("input")
                got = got_value(path, value, _show)
                doc.add(
                    "error",
                    "model-rule",
                    path,
                    f"{message}{got}; the operator and `hivekeeper run` refuse the manifest",
                    _config_fix(shown, message),
                )
            return
        if not any(f.severity == "error" for f in doc.findings) and isinstance(parsed, Swarm | WorkerRole):
            doc.model = parsed

    def cross_documents(self) -> None:
        """A WorkerRole joining a Swarm of this run: its work.in must be produced by that swarm."""
        swarms = {
            (d.model.metadata.namespace, d.model.metadata.name): d.model
            for d in self.documents
            if isinstance(d.model, Swarm)
        }
        joining = [d for d in self.documents if isinstance(d.model, WorkerRole)]
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


def _explain_rule(doc: _Document, path: str, message: str) -> None:
    """Give a failed CEL rule at or above ``path`` the model's own words for it (which role, which key)."""
    for index, finding in enumerate(doc.findings):
        covers = finding.path == path or _below(path, finding.path)
        if finding.code == "cel-rule" and covers and finding.fix.startswith(_RULE_FIX):
            rule = finding.fix.removeprefix(_RULE_FIX)
            doc.findings[index] = dataclasses.replace(finding, fix=f"{message} (the rule: {rule})")
            return


def _alias_problems(doc: _Document, data: dict[str, Any]) -> list[Finding]:
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


# -- role configs ----------------------------------------------------------------------------------
def merged_config(spec: SwarmSpec, role_config: dict[str, Any]) -> dict[str, Any]:
    """The config a role's workers get (the one merge the operator and ``hivekeeper run`` use too)."""
    return merged_role_config(spec, role_config)


@dataclass
class _Role:
    """One stage being checked: where it is, what it runs, and its typed config once that validated."""

    name: str
    kind: str
    base: DocPath
    """The path of the stage (``spec.roles[i]`` or ``spec`` for a WorkerRole)."""
    raw: dict[str, Any]
    """The role's own config, as written."""
    merged: dict[str, Any]
    work_in: str | None
    work_out: str | None
    spec_templates: int = 0
    """How many of the merged templates come from spec.templates (they come first)."""
    config: CommonConfig | None = None
    state: WorkerState | None = None

    @property
    def config_path(self) -> DocPath:
        return (*self.base, "config")

    @property
    def label(self) -> str:
        return f"{self.kind} {self.name!r}"

    def vars(self) -> dict[str, Any]:
        found = self.merged.get("vars")
        return found if isinstance(found, dict) else {}


class _Checks:
    """What Swarm and WorkerRole documents share: role configs, templates, wiring of one role."""

    def __init__(self, run: _Run, doc: _Document) -> None:
        self.run_ = run
        self.doc = doc
        self.roles: list[_Role] = []

    # paths ------------------------------------------------------------------------------------------
    def config_problem_path(self, role: _Role, relative: str) -> DocPath:
        """The manifest path of a problem the worker reports at ``relative`` in the merged config."""
        if relative in ("(root)", "config", ""):
            return role.config_path
        parts = _relative(relative)
        if parts[0] == "role":
            return (*role.base, "role")
        return (*role.config_path, *parts)

    def template_path(self, role: _Role, name: str) -> DocPath:
        """The manifest path of a template the worker names (``cards::topup bodyTemplate``, ``message.body``)."""
        if " " in name:
            key, _, rest = name.partition(" ")
            templates = role.merged.get("templates", [])
            for index, entry in enumerate(templates):
                if isinstance(entry, dict) and f"{entry.get('serviceId', 'default')}::{entry.get('callId')}" == key:
                    return (*self.template_base(role, index), *_relative(rest))
        return self.config_problem_path(role, name)

    def template_base(self, role: _Role, index: int) -> DocPath:
        return (*role.config_path, "templates", index)

    # one role -----------------------------------------------------------------------------------------
    def check_role(self, role: _Role) -> None:
        try:
            role.state = WorkerState.bootstrap(role.kind, role.merged, has_out=role.work_out is not None)
        except ConfigError as exc:
            for relative, message in exc.problems:
                self.doc.add(
                    "error",
                    "role-config",
                    self.config_problem_path(role, relative),
                    f"{role.label}: {relative}: {_problem(message)}",
                    _config_fix(relative, message),
                )
            return
        role.config = role.state.config
        self.io_combinations(role)

    def io_combinations(self, role: _Role) -> None:
        state, config = role.state, role.config
        assert state is not None
        assert config is not None
        doc, inputs, outputs = self.doc, state.input_type, state.output_type
        in_path = (*role.config_path, "inputs", "type")
        out_path = (*role.config_path, "outputs", "type")
        default = "" if config.inputs.type else f", the default for a {role.kind}"
        if inputs == "RABBITMQ" and not role.work_in:
            doc.add(
                "error",
                "io-combination",
                in_path if config.inputs.type else (*role.base, "work", "in"),
                f"{role.label} reads its items from RabbitMQ (inputs.type RABBITMQ{default}) but has no work.in "
                "queue: its workers stop at start",
                "set work.in to the work.out alias of the role that feeds it, or set config.inputs.type to "
                "SCHEDULER or REDIS_DATASET",
            )
        if inputs != "RABBITMQ" and role.work_in:
            doc.add(
                "error",
                "io-combination",
                (*role.base, "work", "in"),
                f"{role.label} takes its items from {inputs} (inputs.type{default}), so nothing consumes its work.in "
                f"queue {role.work_in!r}: items published there pile up",
                "remove work.in, or set config.inputs.type: RABBITMQ to consume the queue",
            )
        if role.kind in ("request-builder", "postprocessor") and inputs == "SCHEDULER":
            doc.add(
                "error",
                "io-combination",
                in_path,
                f"a {role.kind} handles items from work.in; with a SCHEDULER input every tick is dropped "
                f"({role.kind}.no-item)",
                "remove config.inputs.type (RABBITMQ is the default) and set work.in",
            )
        if outputs == "REDIS" and role.work_out:
            doc.add(
                "error",
                "io-combination",
                (*role.base, "work", "out"),
                f"{role.label} pushes its results to Redis (outputs.type REDIS), so nothing is published to "
                f"work.out {role.work_out!r} and whoever consumes it never gets an item",
                "remove work.out, or keep the RabbitMQ output and push to Redis as well with "
                "config.interceptors.redisUploader",
            )
        if config.outputs.type == "RABBITMQ" and not role.work_out:
            doc.add(
                "error",
                "io-combination",
                out_path,
                f"{role.label} publishes to RabbitMQ (outputs.type RABBITMQ) but has no work.out queue: its workers "
                "stop at start",
                "set work.out to the alias the next role consumes, or set outputs.type: NONE",
            )
        if config.outputs.type == "NONE" and role.work_out:
            doc.add(
                "error",
                "io-combination",
                out_path,
                f"{role.label} has work.out {role.work_out!r} but outputs.type NONE publishes nothing to it",
                "remove outputs.type (RABBITMQ is the default with work.out), or remove work.out",
            )
        forwards = getattr(config, "forwardToOutput", True)
        if isinstance(config, PostprocessorConfig) and outputs == "RABBITMQ" and not forwards:
            doc.add(
                "warning",
                "io-combination",
                (*role.base, "work", "out"),
                f"{role.label} has work.out {role.work_out!r}, but a postprocessor publishes nothing unless "
                "forwardToOutput is true",
                "set config.forwardToOutput: true, or remove work.out",
            )

    # templates ------------------------------------------------------------------------------------
    def role_templates(self, role: _Role) -> Iterator[tuple[DocPath, str]]:
        """(manifest path, source) of every template the role's workers render from their own config."""
        config, base = role.config, role.config_path
        if config is None:
            return
        if isinstance(config, GeneratorConfig):
            message = config.message
            yield (*base, "message", "body"), message.body
            yield (*base, "message", "path"), message.path
            yield (*base, "message", "method"), message.method
            for name, source in message.headers.items():
                yield (*base, "message", "headers", name), source
        if isinstance(config, ProcessorConfig):
            yield (*base, "baseUrl"), config.baseUrl
            request = config.request
            yield (*base, "request", "path"), request.path
            yield (*base, "request", "body"), request.body or ""
            for name, source in request.headers.items():
                yield (*base, "request", "headers", name), source
        if isinstance(config, HttpSequenceConfig):
            yield (*base, "baseUrl"), config.baseUrl
            for i, step in enumerate(config.steps):
                for j, entry in enumerate(step.set):
                    yield (*base, "steps", i, "set", j, "template"), entry.template
        if config.outputs.redis is not None:
            yield (*base, "outputs", "redis", "targetListTemplate"), config.outputs.redis.targetListTemplate
        if config.interceptors.redisUploader is not None:
            target = config.interceptors.redisUploader.targetListTemplate
            yield (*base, "interceptors", "redisUploader", "targetListTemplate"), target
        for index, template in enumerate(config.templates[role.spec_templates :]):
            yield from _http_template_sources((*self.template_base(role, role.spec_templates + index),), template)

    def check_template(
        self, path: DocPath, source: str, scopes: list[tuple[str, dict[str, Any]]], endpoints: dict[str, Any]
    ) -> None:
        """Syntax, then the vars and SUT endpoints it reads; ``scopes`` are (who renders it, their vars)."""
        if is_literal(source):
            return
        try:
            self.run_.engine.validate(show_path(path), source)
            tree = template_refs.parse(source)
        except TemplateBudgetError as exc:
            self.doc.add(
                "error",
                "template-budget",
                path,
                f"the template breaks the template budget: {exc.problem}"
                + (f" (template line {exc.line})" if exc.line else ""),
                f"keep the template within its budget ({exc.limit}); the limits are in docs/worker.md (Templates)",
                line=self.template_line(path, exc.line),
            )
            return
        except (TemplateError, jinja2.TemplateSyntaxError) as exc:
            line = exc.line if isinstance(exc, TemplateError) else exc.lineno
            problem = exc.problem if isinstance(exc, TemplateError) else exc.message
            self.doc.add(
                "error",
                "template-syntax",
                path,
                f"the template does not compile: {problem}" + (f" (template line {line})" if line else ""),
                "fix the Jinja syntax: {{ expression }}, {% if %}...{% endif %}, filters with |",
                line=self.template_line(path, line),
            )
            return
        helpers = self.run_.engine.function_names()
        for name in sorted(template_refs.called_names(tree) - helpers):
            self.doc.add(
                "error",
                "template-unknown-function",
                path,
                f"the template calls {name}(), which is not a template helper; rendering fails on every item",
                "use a helper from docs/worker.md (uuid, randInt, pickWeighted, sequence, date_format, ...); "
                'SpEL `eval("#fn(...)")` from PocketHive becomes a direct call, e.g. {{ uuid() }}',
            )
        reported: set[str] = set()
        for chain in template_refs.references(tree, "vars"):
            key = chain[0]
            for who, defined in scopes:
                if key not in defined and key not in reported:
                    reported.add(key)
                    known = ", ".join(sorted(defined)) or "none"
                    self.doc.add(
                        "error",
                        "var-undefined",
                        path,
                        f"the template reads vars.{key}, but {who} has no such var (defined: {known}); "
                        "rendering fails on every item",
                        f"add {key} to spec.vars (or the role's config.vars), fix the name, or write "
                        f"{{{{ vars.{key} | default('...') }}}}",
                    )
        for chain in template_refs.references(tree, "sut"):
            if len(chain) < 2 or chain[0] != "endpoints":
                continue
            endpoint = chain[1]
            known = ", ".join(sorted(endpoints)) or "none"
            if endpoint not in endpoints and endpoint not in reported:
                reported.add(endpoint)
                self.doc.add(
                    "error",
                    "sut-endpoint-undefined",
                    path,
                    f"the template reads sut.endpoints.{endpoint}, but the SUT has no endpoint "
                    f"{endpoint!r} (endpoints: {known})",
                    f"add spec.sut.endpoints.{endpoint}.baseUrl, or use one of: {known}",
                )
            elif len(chain) > 2 and chain[2] != "baseUrl" and endpoint in endpoints:
                self.doc.add(
                    "error",
                    "sut-endpoint-undefined",
                    path,
                    f"the template reads sut.endpoints.{endpoint}.{chain[2]}, but an endpoint has only baseUrl",
                    f"use sut.endpoints.{endpoint}.baseUrl",
                )

    def template_line(self, path: DocPath, template_line: int | None) -> int:
        node, _ = locate.node_at(self.doc.document.node, path)
        if template_line and isinstance(node, yaml.ScalarNode) and node.style == "|":
            return node.start_mark.line + 1 + template_line
        return self.doc.line(path)

    # building the worker --------------------------------------------------------------------------
    def build_worker(self, role: _Role, swarm: str) -> None:
        """Build the role's real Worker offline, so every check its constructors make runs."""
        from hivekeeper.worker.memory import MemoryStore
        from hivekeeper.worker.runtime import Identity, Worker

        identity = Identity(
            swarm=swarm,
            role=role.name,
            kind=role.kind,
            instance=f"{role.name}-validate",
            work_in=role.work_in,
            work_out=role.work_out,
        )
        # templateRoot is a directory in the worker's pods, not here: build without it, and leave the
        # templates it would hold to the pods (a note says so).
        outside = bool(role.merged.get("templateRoot"))
        config = {k: v for k, v in role.merged.items() if k != "templateRoot"}
        try:
            worker = Worker(identity, config, _OfflineTransports(), store=MemoryStore())
        except ConfigError as exc:
            for relative, message in exc.problems:
                if outside and "no template" in message:
                    continue
                self._worker_finding(role, self.config_problem_path(role, relative), f"{relative}: {_problem(message)}")
            return
        except TemplateError as exc:
            self._worker_finding(role, self.template_path(role, exc.template), str(exc))
            return
        if worker.http is not None:
            worker.http.close()

    def _worker_finding(self, role: _Role, path: DocPath, message: str) -> None:
        shown = show_path(path)
        if any(f.severity == "error" and _overlaps(f.path, shown) for f in self.doc.findings):
            return  # already reported with a more specific code
        self.doc.add(
            "error",
            "role-config",
            path,
            f"{role.label}: {message}",
            _config_fix(shown, message),
        )


def _http_template_sources(base: DocPath, template: Any) -> Iterator[tuple[DocPath, str]]:
    yield (*base, "method"), template.method
    yield (*base, "pathTemplate"), template.pathTemplate
    for name, source in template.headersTemplate.items():
        yield (*base, "headersTemplate", name), source
    if template.bodyTemplate is not None:
        yield (*base, "bodyTemplate"), template.bodyTemplate


_SHOULD_BE = re.compile(r"Input should be (.+?)(?: \(got .*)?$")
_ADVICE = re.compile(r"; ((?:set|use|remove|give|add|name|choose|fix|pass|put)\b[^;]*)$")


def _did_you_mean(key: str, known: list[str]) -> str:
    close = difflib.get_close_matches(key, known, n=1)
    return f"did you mean {close[0]!r}? " if close else ""


_FIXES = (
    ("unknown key", "remove {path} or fix its spelling (docs/roles.md lists every key of each role)"),
    ("unknown role", "use a role the workers run ({roles}) or a custom image"),
    ("sequence() cannot be used here", "use a literal or sut/vars in this value; sequence() is for per-item templates"),
    ("must start with http:// or https://", "make it (or what it renders) an http:// or https:// URL"),
    ("needs exactly one of", "keep exactly one of the keys the message names"),
)


def _config_fix(path: str, message: str) -> str:
    """The fix of a worker's config problem: its own advice when it gives one, else what the value must be."""
    for words, fix in _FIXES:
        if words in message:
            return fix.format(path=path, roles=", ".join(role_configs.ROLES))
    if message.startswith("is required: "):
        return f"set {path.rsplit('.', 1)[-1]}: {message.removeprefix('is required: ')}"
    if advice := _ADVICE.search(message.split(" (got ", maxsplit=1)[0]):
        return advice.group(1)
    if should := _SHOULD_BE.search(message):
        return f"make it {should.group(1)}"
    return "change the value as the message says (docs/roles.md lists each role's keys and their ranges)"


def _problem(message: str) -> str:
    return message.replace("Value error, ", "")


class _SwarmCheck(_Checks):
    def __init__(self, run: _Run, doc: _Document, swarm: Swarm) -> None:
        super().__init__(run, doc)
        self.swarm = swarm
        self.by_name: dict[str, _Role] = {}

    def template_base(self, role: _Role, index: int) -> DocPath:
        if index < role.spec_templates:
            return ("spec", "templates", index)
        return (*role.config_path, "templates", index - role.spec_templates)

    def config_problem_path(self, role: _Role, relative: str) -> DocPath:
        parts = _relative(relative) if relative not in ("(root)", "config", "") else ()
        if parts and parts[0] == "templates" and len(parts) > 1 and isinstance(parts[1], int):
            return (*self.template_base(role, parts[1]), *parts[2:])
        if parts and parts[0] == "sut":
            return ("spec", *parts)
        if parts and parts[0] in ("vars", "deadLetter"):
            own = role.raw.get(str(parts[0]))  # the role's own value wins key by key over the swarm's
            if own is None or (isinstance(own, dict) and len(parts) > 1 and parts[1] not in own):
                return ("spec", *parts)
        return super().config_problem_path(role, relative)

    def run(self) -> None:
        spec = self.swarm.spec
        doc = self.doc
        if spec.secretRef is not None and not spec.secretRef.name.strip():
            doc.add(
                "error",
                "secret-ref-empty",
                ("spec", "secretRef", "name"),
                "spec.secretRef.name is empty: the worker pods would reference a Secret with no name",
                f"name the Secret holding amqpUrl (and redisUrl), or remove spec.secretRef to use the operator's "
                f"default ({DEFAULT_SECRET})",
            )
        elif spec.secretRef is None and self.run_.strict:  # a legitimate default: only --strict asks for it
            doc.add(
                "warning",
                "secret-default",
                ("spec",),
                f"{doc.label} names no spec.secretRef: its workers use the operator's default Secret "
                f"({DEFAULT_SECRET} unless the Helm values say otherwise)",
                "set spec.secretRef.name to say which Secret holds amqpUrl (and redisUrl)",
            )
        for index, spec_role in enumerate(spec.roles):
            self.add_role(index, spec_role)
        endpoints = spec.sut.endpoints
        for role in self.roles:
            scopes = [(f"{role.label} (spec.vars and its config.vars)", role.vars())]
            for path, source in self.role_templates(role):
                self.check_template(path, source, scopes, endpoints)
        renderers = [r for r in self.roles if r.kind in TEMPLATE_RENDERERS and r.config is not None]
        scopes = [(f"{r.label} (spec.vars and its config.vars)", r.vars()) for r in renderers]
        for index, template in enumerate(spec.templates):
            for path, source in _http_template_sources(("spec", "templates", index), template):
                self.check_template(path, source, scopes or [("spec.vars", spec.vars)], endpoints)
        self.call_ids()
        self.steps()
        for role in self.roles:
            if role.config is not None:
                self.build_worker(role, self.swarm.metadata.name)

    def add_role(self, index: int, spec_role: RoleSpec) -> None:
        base: DocPath = ("spec", "roles", index)
        if spec_role.role is None:
            self.doc.note(
                f"role {spec_role.name!r} runs the custom image {spec_role.image}: its config is not checked",
                (*base, "image"),
            )
            return
        role = _Role(
            name=spec_role.name,
            kind=spec_role.role,
            base=base,
            raw=spec_role.config,
            merged=merged_config(self.swarm.spec, spec_role.config),
            work_in=spec_role.work.in_,
            work_out=spec_role.work.out,
            spec_templates=len(self.swarm.spec.templates),
        )
        self.roles.append(role)
        self.by_name[role.name] = role
        self.check_role(role)

    # cross references -----------------------------------------------------------------------------
    def known_templates(self, role: _Role) -> list[str] | None:
        """The ``serviceId::callId`` keys ``role`` renders, or None when they cannot all be known."""
        assert role.config is not None
        templateRoot = getattr(role.config, "templateRoot", None)
        if templateRoot:
            self.doc.note(
                f"{role.label} also loads templates from templateRoot {templateRoot} (a directory in its pods): "
                "call ids are not checked against it",
                (*role.config_path, "templateRoot"),
            )
            return None
        return sorted(t.key for t in role.config.templates)

    def call_ids(self) -> None:
        """Every x-ph-call-id a generator can send has a template in each request-builder it feeds."""
        for generator in self.roles:
            config = generator.config
            if not isinstance(config, GeneratorConfig) or not generator.work_out:
                continue
            builders = [
                r for r in self.roles if r.work_in == generator.work_out and isinstance(r.config, RequestBuilderConfig)
            ]
            if not builders:
                continue
            headers_path = (*generator.config_path, "message", "headers")
            source = config.message.headers.get(CALL_ID_HEADER)
            if source is None:
                if not generator.work_in:  # items from work.in may carry the header already
                    names = ", ".join(b.label for b in builders)
                    self.doc.add(
                        "error",
                        "call-id-missing",
                        headers_path,
                        f"{generator.label} sets no {CALL_ID_HEADER} header, so {names} drops every item "
                        "(request-builder.missing-call-id)",
                        f"add message.headers.{CALL_ID_HEADER}: the callId of a template (for example with "
                        "pickWeighted('balance', 80, 'topup', 20))",
                    )
                continue
            call_ids = self.literal_values(generator, CALL_ID_HEADER, source)
            service_source = config.message.headers.get(SERVICE_ID_HEADER)
            service_ids = self.literal_values(generator, SERVICE_ID_HEADER, service_source) if service_source else None
            if call_ids is None or (service_source and service_ids is None):
                continue
            if "" in call_ids:
                self.doc.add(
                    "error",
                    "call-id-missing",
                    (*headers_path, CALL_ID_HEADER),
                    f"the {CALL_ID_HEADER} of {generator.label} renders empty in some case, and those items are "
                    "dropped by the request-builder (request-builder.missing-call-id)",
                    "give every branch of the template a call id",
                )
            for builder in builders:
                self.check_call_ids(generator, builder, sorted(c for c in call_ids if c), service_ids)

    def literal_values(self, generator: _Role, header: str, source: str) -> set[str] | None:
        """The values ``source`` can render, or None (with a warning) when some are computed per item."""
        if is_literal(source):
            return {source}
        path = (*generator.config_path, "message", "headers", header)
        try:
            values = template_refs.outputs(template_refs.parse(source))
        except jinja2.TemplateSyntaxError:
            return None  # reported as template-syntax
        if template_refs.DYNAMIC in values:
            self.doc.add(
                "warning",
                "call-id-dynamic",
                path,
                f"the {header} of {generator.label} is computed per item, so validate cannot tell whether the "
                "request-builder has a template for every value",
                "use literal values (text, or pickWeighted/pickWeightedSeeded with literal values, or literal "
                "{% if %} branches) so that they can be checked; or accept this warning",
            )
            return None
        return {v for v in values if v is not None}

    def check_call_ids(
        self, generator: _Role, builder: _Role, call_ids: list[str], service_ids: set[str] | None
    ) -> None:
        assert isinstance(builder.config, RequestBuilderConfig)
        known = self.known_templates(builder)
        if known is None:
            return
        services = sorted(service_ids) if service_ids else [builder.config.serviceId]
        severity: Severity = "warning" if builder.config.passThroughOnMissingTemplate else "error"
        effect = (
            "passes those items on unchanged (passThroughOnMissingTemplate)"
            if severity == "warning"
            else "drops them (request-builder.missing-template)"
        )
        path = (*generator.config_path, "message", "headers", CALL_ID_HEADER)
        for call_id in call_ids:
            for service in services:
                key = f"{service}::{call_id}"
                if key in known:
                    continue
                self.doc.add(
                    severity,
                    "template-missing",
                    path,
                    f"{generator.label} can send {CALL_ID_HEADER} {call_id!r}, but {builder.label} (serviceId "
                    f"{service!r}) has no template {key!r} and {effect}",
                    f"{_did_you_mean(key, known)}add a template with serviceId: {service} and callId: {call_id} to "
                    f"spec.templates, or fix the call id; known templates: {', '.join(known) or 'none'}",
                )

    def steps(self) -> None:
        """Every http-sequence step's serviceId::callId has a template."""
        for role in self.roles:
            config = role.config
            if not isinstance(config, HttpSequenceConfig):
                continue
            known = self.known_templates(role)
            if known is None:
                continue
            for index, step in enumerate(config.steps):
                key = f"{step.serviceId or config.serviceId}::{step.callId}"
                if key not in known:
                    self.doc.add(
                        "error",
                        "template-missing",
                        (*role.config_path, "steps", index, "callId"),
                        f"{role.label} step {step.id or f'step{index}'!r} calls {key!r}, which has no template",
                        f"{_did_you_mean(key, known)}add a template with serviceId: "
                        f"{step.serviceId or config.serviceId} and callId: {step.callId} to spec.templates, or fix "
                        f"the step; known templates: {', '.join(known) or 'none'}",
                    )


class _WorkerRoleCheck(_Checks):
    """A hand-written WorkerRole: its config goes to the workers as written (no swarm-level merge)."""

    def __init__(self, run: _Run, doc: _Document, workerrole: WorkerRole) -> None:
        super().__init__(run, doc)
        self.workerrole = workerrole

    def run(self) -> None:
        spec = self.workerrole.spec
        if spec.role is None:
            self.doc.note(f"{self.doc.label} runs the custom image {spec.image}: its config is not checked")
            return
        role = _Role(
            name=self.workerrole.metadata.name,
            kind=spec.role,
            base=("spec",),
            raw=spec.config,
            merged=dict(spec.config),
            work_in=spec.work.in_,
            work_out=spec.work.out,
        )
        self.roles.append(role)
        self.check_role(role)
        if role.config is None:
            return
        endpoints = role.config.sut.endpoints
        scopes = [(f"{role.label} (its config.vars)", role.config.vars)]
        for path, source in self.role_templates(role):
            self.check_template(path, source, scopes, endpoints)
        self.build_worker(role, spec.swarmRef)


class _OfflineTransports:
    """Transports that never move anything: a Worker is built only so that its constructors check its config."""

    def __init__(self) -> None:
        from hivekeeper.worker.memory import MemoryBroker, MemoryControlBus

        self._broker = MemoryBroker()
        self.control = MemoryControlBus(self._broker, "validate")

    def source(self, identity: Any, prefetch: int) -> Any:
        from hivekeeper.worker.memory import MemorySource

        return MemorySource(self._broker.declare_queue(identity.work_in or "validate"))

    def sink(self, identity: Any) -> Any:
        from hivekeeper.worker.memory import MemorySink

        return MemorySink(self._broker, "validate", identity.work_out or "validate")

    def dead_letters(self, identity: Any) -> Any:
        from hivekeeper.worker.memory import MemoryDeadLetters

        return MemoryDeadLetters()
