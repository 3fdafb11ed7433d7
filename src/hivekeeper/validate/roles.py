"""Step 4: the role configs. What Swarm and WorkerRole documents share: a :class:`Role` per stage, its
config validated by the workers' own code (:meth:`RoleChecks.check_role`), and a real worker built offline
(:meth:`RoleChecks.build_worker`), each problem placed at the manifest path it comes from."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hivekeeper.api.roles import ConfigError
from hivekeeper.api.roles.common import CommonConfig
from hivekeeper.templating.engine import TemplateEngine
from hivekeeper.validate import offline
from hivekeeper.validate.document import Document
from hivekeeper.validate.fixes import config_fix, problem_text
from hivekeeper.validate.io_combinations import io_findings
from hivekeeper.validate.lenient import without_refused
from hivekeeper.validate.paths import DocPath, relative_path, show_path
from hivekeeper.worker.control import WorkerState


@dataclass
class Role:
    """One stage being checked: where it is, what it runs, and its typed config once that validated."""

    name: str
    kind: str
    base: DocPath
    """The path of the stage (``spec.roles[i]`` or ``spec`` for a WorkerRole)."""
    raw: dict[str, Any]
    """The role's own config, as written."""
    merged: dict[str, Any]
    """The config its workers get (for a Swarm role: :func:`~hivekeeper.api.role_config.merged_role_config`, the one
    merge the operator and ``hivekeeper run`` use too)."""
    work_in: str | None
    work_out: str | None
    spec_templates: int = 0
    """How many of the merged templates come from spec.templates (they come first)."""
    config: CommonConfig | None = None
    state: WorkerState | None = None
    refs: CommonConfig | None = None
    """The config the reference checks read (call ids, steps, templates): :attr:`config`, or, when some keys
    were refused, the config without those keys, so that one refused value does not hide the problems of
    the references (:func:`.lenient.without_refused`)."""

    @property
    def config_path(self) -> DocPath:
        return (*self.base, "config")

    @property
    def label(self) -> str:
        return f"{self.kind} {self.name!r}"

    def vars(self) -> dict[str, Any]:
        found = self.merged.get("vars")
        return found if isinstance(found, dict) else {}


class RoleChecks:
    """The checks of one document's roles; :class:`~.swarm.SwarmCheck` places merged values back where the
    Swarm declares them (spec.templates, spec.vars, spec.sut)."""

    def __init__(self, doc: Document, engine: TemplateEngine, *, strict: bool = False) -> None:
        self.doc = doc
        self.engine = engine
        """Compiles the templates (one per run; :func:`hivekeeper.validate.review` keeps one for good)."""
        self.strict = strict
        self.roles: list[Role] = []

    # paths ------------------------------------------------------------------------------------------
    def config_problem_path(self, role: Role, relative: str) -> DocPath:
        """The manifest path of a problem the worker reports at ``relative`` in the merged config."""
        if relative in ("(root)", "config", ""):
            return role.config_path
        parts = relative_path(relative)
        if parts[0] == "role":
            return (*role.base, "role")
        return (*role.config_path, *parts)

    def template_path(self, role: Role, name: str) -> DocPath:
        """The manifest path of a template the worker names (``cards::topup bodyTemplate``, ``message.body``)."""
        if " " in name:
            key, _, rest = name.partition(" ")
            templates = role.merged.get("templates", [])
            for index, entry in enumerate(templates):
                if isinstance(entry, dict) and f"{entry.get('serviceId', 'default')}::{entry.get('callId')}" == key:
                    return (*self.template_base(role, index), *relative_path(rest))
        return self.config_problem_path(role, name)

    def template_base(self, role: Role, index: int) -> DocPath:
        return (*role.config_path, "templates", index)

    # one role -----------------------------------------------------------------------------------------
    def check_role(self, role: Role) -> None:
        try:
            role.state = WorkerState.bootstrap(role.kind, role.merged, has_out=role.work_out is not None)
        except ConfigError as exc:
            for relative, message in exc.problems:
                self.doc.add(
                    "error",
                    "role-config",
                    self.config_problem_path(role, relative),
                    f"{role.label}: {relative}: {problem_text(message)}",
                    config_fix(relative, message),
                )
            role.refs = without_refused(role.kind, role.merged, exc)
            return
        role.config = role.refs = role.state.config
        io_findings(self.doc, role)

    def build_worker(self, role: Role, swarm: str) -> None:
        """Build the role's real worker offline, so every check its constructors make runs."""
        # templateRoot is a directory in the worker's pods, not here: build without it, and leave the
        # templates it would hold to the pods (a note says so).
        outside = bool(role.merged.get("templateRoot"))
        config = {k: v for k, v in role.merged.items() if k != "templateRoot"}
        for problem in offline.build_problems(
            offline.Stage(swarm, role.name, role.kind, role.work_in, role.work_out), config
        ):
            if problem.template is not None:
                self._worker_finding(role, self.template_path(role, problem.template), problem.message)
            elif not (outside and "no template" in problem.message):
                path = self.config_problem_path(role, problem.key)
                self._worker_finding(role, path, f"{problem.key}: {problem_text(problem.message)}")

    def _worker_finding(self, role: Role, path: DocPath, message: str) -> None:
        shown = show_path(path)
        if self.doc.has_error_at(shown):
            return  # already reported with a more specific code
        self.doc.add("error", "role-config", path, f"{role.label}: {message}", config_fix(shown, message))
