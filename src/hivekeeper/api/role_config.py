"""The config a role's workers get from its Swarm: its own keys plus the swarm's vars, sut, templates, auth
profiles, templating and deadLetter. One merge for the operator (the config-update it pushes), ``hivekeeper
run`` (the bootstrap config) and ``hivekeeper validate``."""

from __future__ import annotations

from typing import Any

from hivekeeper.api.call_template import CallTemplate
from hivekeeper.api.swarm import SwarmSpec


def _template_config(template: CallTemplate) -> dict[str, Any]:
    """A template as a role's config carries it (no ``auth: null`` or ``resultRules: null`` on templates without
    them, so a config's digest is what it was before templates could name either)."""
    dumped = template.model_dump(mode="json")
    for key in ("auth", "resultRules"):
        if dumped.get(key) is None:
            dumped.pop(key, None)
    return dumped


def merged_role_config(spec: SwarmSpec, role_config: dict[str, Any]) -> dict[str, Any]:
    """The config a role's workers get: its own keys plus the swarm's vars, sut, templates, auth profiles,
    templating (with ``spec.run.id`` as ``templating.runId``) and deadLetter.

    One merge for the operator (the config-update it pushes), ``hivekeeper run`` (the bootstrap config) and
    ``hivekeeper validate``. A role's ``vars``, ``templating`` and ``deadLetter`` override the swarm's key by key; its
    ``templates`` come after the swarm's. It never raises: a value of the wrong type is passed on for the
    worker's validation to name.
    """
    config = dict(role_config)
    own_vars, own_templates = role_config.get("vars", {}), role_config.get("templates", [])
    config["vars"] = {**spec.vars, **own_vars} if isinstance(own_vars, dict) else own_vars
    spec_templates = [_template_config(t) for t in spec.templates]
    config["templates"] = spec_templates + own_templates if isinstance(own_templates, list) else own_templates
    config["sut"] = spec.sut.model_dump(mode="json", exclude_none=True)
    if spec.auth:
        config["auth"] = {
            name: p.model_dump(mode="json", by_alias=True, exclude_unset=True) for name, p in spec.auth.items()
        }
    templating = spec.templating.model_dump(mode="json", exclude_defaults=True)
    if spec.run is not None:
        templating["runId"] = spec.run.id  # templates read it as {{ runId }}
    own_templating = role_config.get("templating", {})
    if templating:  # only when set: a swarm without it keeps the exact config it had
        config["templating"] = {**templating, **own_templating} if isinstance(own_templating, dict) else own_templating
    own = role_config.get("deadLetter", {})
    config["deadLetter"] = {**spec.deadLetter.model_dump(mode="json"), **own} if isinstance(own, dict) else own
    return config
