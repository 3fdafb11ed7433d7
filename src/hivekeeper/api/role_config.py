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


def pockethive_read_aliases(spec: SwarmSpec) -> frozenset[str]:
    """The work aliases a ``protocol: pockethive`` role consumes: a PocketHive worker reads one WorkItem per message,
    so whoever publishes there must not send batches (decision 0013)."""
    return frozenset(r.work.in_ for r in spec.roles if r.protocol == "pockethive" and r.work.in_ is not None)


def _unbatched(config: dict[str, Any]) -> None:
    """``outputs.batching.enabled`` false in ``config`` (in place), keeping the rest of ``outputs`` as it is."""
    outputs = config.get("outputs", {})
    if not isinstance(outputs, dict):
        return  # the worker's validation names the wrong type
    batching = outputs.get("batching", {})
    if isinstance(batching, dict):
        config["outputs"] = {**outputs, "batching": {**batching, "enabled": False}}


def merged_role_config(spec: SwarmSpec, role_config: dict[str, Any], work_out: str | None = None) -> dict[str, Any]:
    """The config a role's workers get: its own keys plus the swarm's vars, sut, templates, auth profiles,
    templating (with ``spec.run.id`` as ``templating.runId``) and deadLetter.

    One merge for the operator (the config-update it pushes), ``hivekeeper run`` (the bootstrap config) and
    ``hivekeeper validate``. A role's ``vars``, ``templating`` and ``deadLetter`` override the swarm's key by key; its
    ``templates`` come after the swarm's. A role whose ``work_out`` alias a ``protocol: pockethive`` role reads gets
    ``outputs.batching.enabled: false`` whatever it says (PocketHive readers take one item per message). It never
    raises: a value of the wrong type is passed on for the worker's validation to name.
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
    if work_out is not None and work_out in pockethive_read_aliases(spec):
        _unbatched(config)
    return config
