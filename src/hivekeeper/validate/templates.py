"""Step 5, templates: each template a role renders compiles within its budget, calls only template helpers,
and reads only names, vars and SUT endpoints its renderers have (:mod:`.template_refs` reads its syntax tree).
What an undefined name does depends on the role's ``templating.undefined``: ``strict`` fails every render (an
error here), ``empty`` renders "" (a warning)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import jinja2
import yaml

from hivekeeper.api.roles.generator.config import GeneratorConfig
from hivekeeper.api.roles.http_sequence.config import HttpSequenceConfig
from hivekeeper.api.roles.processor.config import ProcessorConfig
from hivekeeper.templating.context import CONTEXT_NAMES
from hivekeeper.templating.engine import (
    STRICT,
    Semantics,
    TemplateBudgetError,
    TemplateEngine,
    TemplateError,
    is_literal,
)
from hivekeeper.validate import locate, template_refs
from hivekeeper.validate.paths import DocPath, show_path

if TYPE_CHECKING:
    from hivekeeper.validate.document import Document
    from hivekeeper.validate.roles import Role, RoleChecks

Scopes = list[tuple[str, dict[str, Any]]]
"""(who renders the template, the vars they have), for each renderer."""
JOURNEY_NAMES = frozenset(("ctx",))
"""Names http-sequence templates also read (the journey's context)."""


def semantics_of(config: Any) -> Semantics:
    """The template semantics of a role config (``templating``) or of a Swarm's ``spec.templating``."""
    templating = getattr(config, "templating", config)
    return Semantics(templating.undefined, templating.tagNewline)


def role_templates(checks: RoleChecks, role: Role) -> Iterator[tuple[DocPath, str]]:
    """(manifest path, source) of every template the role's workers render from their own config."""
    config, base = role.refs, role.config_path
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
        yield from http_template_sources((*checks.template_base(role, role.spec_templates + index),), template)


def http_template_sources(base: DocPath, template: Any) -> Iterator[tuple[DocPath, str]]:
    yield (*base, "method"), template.method
    yield (*base, "pathTemplate"), template.pathTemplate
    for name, source in template.headersTemplate.items():
        yield (*base, "headersTemplate", name), source
    if template.bodyTemplate is not None:
        yield (*base, "bodyTemplate"), template.bodyTemplate


def check_template(
    doc: Document,
    engine: TemplateEngine,
    path: DocPath,
    source: str,
    scopes: Scopes,
    endpoints: dict[str, Any],
    semantics: Semantics = STRICT,
) -> None:
    """Syntax, then the names, vars and SUT endpoints it reads; ``scopes`` are (who renders it, their vars)."""
    if is_literal(source):
        return
    engine.configure(semantics)
    try:
        engine.validate(show_path(path), source)
        tree = template_refs.parse(source)
    except TemplateBudgetError as exc:
        doc.add(
            "error",
            "template-budget",
            path,
            f"the template breaks the template budget: {exc.problem}"
            + (f" (template line {exc.line})" if exc.line else ""),
            f"keep the template within its budget ({exc.limit}); the limits are in docs/worker.md (Templates)",
            line=_template_line(doc, path, exc.line),
        )
        return
    except (TemplateError, jinja2.TemplateSyntaxError) as exc:
        line = exc.line if isinstance(exc, TemplateError) else exc.lineno
        problem = exc.problem if isinstance(exc, TemplateError) else exc.message
        doc.add(
            "error",
            "template-syntax",
            path,
            f"the template does not compile: {problem}" + (f" (template line {line})" if line else ""),
            "fix the Jinja syntax: {{ expression }}, {% if %}...{% endif %}, filters with |",
            line=_template_line(doc, path, line),
        )
        return
    for name in sorted(template_refs.called_names(tree) - engine.function_names()):
        doc.add(
            "error",
            "template-unknown-function",
            path,
            f"the template calls {name}(), which is not a template helper; rendering fails on every item",
            "use a helper from docs/worker.md (uuid, randInt, pickWeighted, sequence, date_format, ...); "
            'SpEL `eval("#fn(...)")` from PocketHive becomes a direct call, e.g. {{ uuid() }}',
        )
    for method in sorted(template_refs.java_method_calls(tree)):
        doc.add(
            "error",
            "template-java-method",
            path,
            f"the template calls .{method}(), a Java method no template value has; rendering fails on every item",
            "write it in Jinja: `'a' in x` for contains, x.find('a') for indexOf, x[1:3] for substring, "
            "x | length for length/size, x | upper / lower, x.strip() for trim (docs/import.md lists more)",
        )
    _undefined_names(doc, engine, path, tree, semantics)
    strict = semantics.undefined == "strict"
    effect = "rendering fails on every item" if strict else 'it renders as "" (spec.templating.undefined: empty)'
    reported: set[str] = set()
    for chain in template_refs.references(tree, "vars"):
        key = chain[0]
        for who, defined in scopes:
            if key not in defined and key not in reported:
                reported.add(key)
                known = ", ".join(sorted(defined)) or "none"
                doc.add(
                    "error" if strict else "warning",
                    "var-undefined",
                    path,
                    f"the template reads vars.{key}, but {who} has no such var (defined: {known}); {effect}",
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
            doc.add(
                "error",
                "sut-endpoint-undefined",
                path,
                f"the template reads sut.endpoints.{endpoint}, but the SUT has no endpoint "
                f"{endpoint!r} (endpoints: {known})",
                f"add spec.sut.endpoints.{endpoint}.baseUrl, or use one of: {known}",
            )
        elif len(chain) > 2 and chain[2] != "baseUrl" and endpoint in endpoints:
            doc.add(
                "error",
                "sut-endpoint-undefined",
                path,
                f"the template reads sut.endpoints.{endpoint}.{chain[2]}, but an endpoint has only baseUrl",
                f"use sut.endpoints.{endpoint}.baseUrl",
            )


def _undefined_names(
    doc: Document, engine: TemplateEngine, path: DocPath, tree: jinja2.nodes.Template, semantics: Semantics
) -> None:
    """Top-level names no render defines: an error under ``strict`` (every render fails), a warning under
    ``empty`` (each renders as "")."""
    known = {*CONTEXT_NAMES, *JOURNEY_NAMES, *engine.function_names()}
    names = ", ".join(CONTEXT_NAMES)
    for name in sorted(template_refs.free_names(tree) - known):
        if semantics.undefined == "strict":
            doc.add(
                "error",
                "template-name-undefined",
                path,
                f"the template reads {name}, which no render defines ('{name}' is undefined): rendering fails on "
                "every item and the item is dropped",
                f"use a name templates have ({names}), vars.{name} for a scenario variable, "
                f"{{{{ {name} | default('') }}}}, or set spec.templating.undefined: empty to render undefined "
                'names as "" (PocketHive\'s rule)',
            )
        else:
            doc.add(
                "warning",
                "template-name-undefined",
                path,
                f'the template reads {name}, which no render defines: it renders as "" '
                "(spec.templating.undefined: empty)",
                f"use a name templates have ({names}) or vars.{name}, or remove it if an empty value is meant",
            )


def _template_line(doc: Document, path: DocPath, template_line: int | None) -> int | None:
    """The file line of a template's own line ``template_line`` when it is a ``|`` block, else of ``path``."""
    root = doc.document.node
    if root is None:
        return None
    node, _ = locate.node_at(root, path)
    if template_line and isinstance(node, yaml.ScalarNode) and node.style == "|":
        return node.start_mark.line + 1 + template_line
    return doc.line(path)
