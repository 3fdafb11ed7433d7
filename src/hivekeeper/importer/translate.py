"""``hivekeeper import BUNDLE_DIR``: a PocketHive scenario bundle as one Swarm manifest.

The mapping (docs/import.md has the tables):

- each ``template.bees[]`` entry becomes a ``spec.roles[]`` stage: the image of a known PocketHive
  role (``generator``, ``request-builder``, ``processor``, ``postprocessor``, ``http-sequence``)
  becomes our built-in ``role``; a ``moderator`` is folded away (its queues merged); another image is
  kept as a custom ``image`` with ``protocol: pockethive`` (a bee image is a PocketHive worker). Bee
  ``role`` names become stage names, made valid and unique;
- the ``work`` port maps' queue suffixes become our ``work`` aliases (sanitised, reserved ones renamed);
- ``config`` keeps its keys (:mod:`.bees` says what changes);
- ``templates/http/**`` become ``spec.templates`` (:mod:`.call_templates`), their Pebble and SpEL
  rewritten for our Jinja sandbox (:mod:`.pebble`);
- the chosen SUT becomes ``spec.sut`` and the chosen variables profile ``spec.vars`` (:mod:`.bundle_values`);
- ``spec.templating`` gets PocketHive's template rules (:data:`PEBBLE_SEMANTICS`);
- the manifest then goes through ``hivekeeper validate``'s checks, and the import's errors are validate's errors,
  placed back in the bundle (:mod:`.agreement`).

The output is deterministic (no dates, sorted inputs): importing twice gives the same text.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from hivekeeper.importer import agreement, bees, bundle_values, call_templates, datasets
from hivekeeper.importer.auth_profiles import AuthImport
from hivekeeper.importer.bundle import Bundle, Collector, mapping, read_bundle
from hivekeeper.importer.wiring import Wiring, bee_kind, dns_name
from hivekeeper.validate.findings import Finding

SUPPORTED_MAJOR = "2"
PEBBLE_SEMANTICS = {"undefined": "empty", "tagNewline": "trim"}
"""PocketHive's template rules (``spec.templating``): an undefined name renders as "", and the newline right
after a tag is not output; every imported swarm gets them, so its templates render as they did there."""


@dataclass(frozen=True)
class ImportOptions:
    bundle: Path
    sut: str | None = None
    profile: str | None = None
    name: str | None = None


@dataclass
class ImportResult:
    bundle_id: str
    document: dict[str, Any] | None
    """The Swarm (None when the bundle was refused, e.g. another protocolVersion major)."""
    text: str
    """The manifest as YAML with its header comment ("" when refused)."""
    findings: list[Finding] = field(default_factory=list)
    secrets: dict[str, dict[str, str]] = field(default_factory=dict, repr=False)
    """Credentials of the imported auth profiles by Secret and key; never in ``text`` (``--secrets-dir``)."""

    @property
    def errors(self) -> int:
        return sum(1 for f in self.findings if f.severity == "error")


def import_bundle(options: ImportOptions) -> ImportResult:
    """Translate the bundle; raises :class:`~hivekeeper.importer.bundle.BundleError` when it is unreadable."""
    bundle = read_bundle(options.bundle)
    collect = Collector(str(options.bundle))
    scenario = bundle.scenario.data
    bundle_id = str(scenario.get("id") or options.bundle.resolve().name)
    template = scenario.get("template")
    if not _protocol_ok(bundle, collect):
        return ImportResult(bundle_id, None, "", collect.findings)
    if not isinstance(template, dict) or not isinstance(template.get("bees"), list) or not template["bees"]:
        collect.error(
            "bees-missing",
            bundle.scenario,
            ("template", "bees"),
            "scenario.yaml has no template.bees",
            "list the bees under template.bees (role, image, work, config)",
        )
        return ImportResult(bundle_id, None, "", collect.findings)
    sut = bundle_values.resolve_sut(bundle, options.sut, collect)
    variables, profile = bundle_values.resolve_vars(bundle, options.profile, sut.id, collect)
    wiring = Wiring.of(bundle, template["bees"], collect)
    booleans = frozenset(name for name, value in variables.items() if isinstance(value, bool))
    auth = AuthImport.of(bundle, bundle_id, sut.endpoints, template["bees"])
    settings = call_templates.TemplateSettings(
        wiring.default_service(collect), wiring.journey_keys(), sut.upstream, booleans, auth
    )
    calls = call_templates.translate(bundle, settings, collect)
    auth.findings(collect)
    spec = _spec_head(sut.endpoints, auth.profiles, variables, calls.templates)
    extras = {"vars": variables, "sut": spec.get("sut", {}), "templates": calls.templates}
    var_refs = dict(calls.var_refs)
    endpoint_refs = dict(calls.endpoint_refs)
    roles: dict[int, dict[str, Any]] = {}
    lifted: dict[int, frozenset[str]] = {}
    for index, bee in enumerate(template["bees"]):
        ctx = bees.BeeContext(index, bundle.scenario, collect, extras, sut.upstream, sut.endpoints, booleans)
        role = _role(index, bee, wiring, ctx, auth.credential_env)
        if role is not None:
            roles[index] = role
        lifted[index] = frozenset(ctx.lifted)
        var_refs.update({n: (bundle.scenario, p) for n, p in ctx.var_refs.items() if n not in var_refs})
        endpoint_refs.update({n: (bundle.scenario, p) for n, p in ctx.endpoint_refs.items() if n not in endpoint_refs})
    wiring.fold_journey_sinks(roles, collect)
    spec["roles"] = [roles[index] for index in sorted(roles)]
    _check_refs(variables, var_refs, sut, endpoint_refs, collect)
    wiring.check_topology(scenario.get("topology"), collect)
    _not_translated(bundle, scenario, collect)
    policy = scenario.get("trafficPolicy")
    if isinstance(policy, dict):
        datasets.buffer_guard(policy, wiring.aliases, spec["roles"], bundle.scenario, collect)
    name = options.name or dns_name(bundle_id, "imported")
    document = {"apiVersion": "hivekeeper.io/v1alpha1", "kind": "Swarm", "metadata": {"name": name}, "spec": spec}
    origins = agreement.Origins(
        str(options.bundle),
        bundle.scenario,
        roles=[(index, lifted[index]) for index in sorted(roles)],
        templates=calls.origins,
        variables=bundle.variables,
        sut=bundle.suts.get(sut.id) if sut.id else None,
    )
    body = dump_yaml(document)
    validated = agreement.checked(body, f"{options.bundle}/(imported manifest)", origins)
    findings = _in_file_order(agreement.reconcile(collect.findings, validated))
    header = _header(bundle_id, scenario, sut.id, profile, findings)
    secrets = {auth.secret: dict(auth.secrets)} if auth.secrets else {}
    return ImportResult(bundle_id, document, header + body, findings, secrets)


def _spec_head(
    endpoints: dict[str, str], auth: dict[str, Any], variables: dict[str, Any], templates: list[dict[str, Any]]
) -> dict[str, Any]:
    """``spec`` up to its roles: the SUT, the auth profiles, the variables, the templates, PocketHive's template
    semantics."""
    spec: dict[str, Any] = {}
    if endpoints:
        spec["sut"] = {"endpoints": {name: {"baseUrl": url} for name, url in endpoints.items()}}
    if auth:
        spec["auth"] = auth
    if variables:
        spec["vars"] = variables
    if templates:
        spec["templates"] = templates
    spec["templating"] = dict(PEBBLE_SEMANTICS)
    return spec


def _in_file_order(findings: list[Finding]) -> list[Finding]:
    """Findings by file, then line (whole-bundle findings first); same-place findings keep their order."""
    return sorted(findings, key=lambda f: (f.file, f.line or 0))


def _protocol_ok(bundle: Bundle, collect: Collector) -> bool:
    version = bundle.scenario.data.get("protocolVersion")
    if version is None:
        collect.warning(
            "protocol-version",
            bundle.scenario,
            (),
            "scenario.yaml has no protocolVersion; read as 2.x",
            'add protocolVersion: "2.0.0"',
        )
        return True
    major = str(version).strip().lstrip("v").split(".", 1)[0]
    if major != SUPPORTED_MAJOR:
        collect.error(
            "protocol-version",
            bundle.scenario,
            ("protocolVersion",),
            f"protocolVersion {version!r}: this importer reads PocketHive bundles of protocol 2.x only; "
            "nothing was imported",
            "migrate the bundle to protocolVersion 2.x with PocketHive's tools first",
        )
        return False
    return True


def _role(index: int, bee: Any, wiring: Wiring, ctx: bees.BeeContext, credentials: set[str]) -> dict[str, Any] | None:
    if not isinstance(bee, dict):
        ctx.error(
            "bee-invalid",
            ("template", "bees", index),
            f"bee {index} is {bee!r}, not a mapping; its stage has only a name",
            "write each bee as a mapping with role, image, work and config",
        )
        return {"name": wiring.names[index]}  # kept, so that the manifest says it too (no role, no image)
    kind = bee_kind(bee)
    image = str(bee.get("image") or "")
    raw = mapping(bee.get("config"))
    role: dict[str, Any] = {"name": wiring.names[index]}
    if kind == "moderator" and index in wiring.folded:
        bees.moderator_folded(raw, ctx)
        return None
    if kind == "moderator":
        config = bees.moderator(raw, ctx)
        role["role"] = kind
    elif kind is not None:
        config = bees.translate(kind, raw, ctx)
        role["role"] = kind
    else:
        ctx.warning(
            "custom-image",
            ("template", "bees", index, "image"),
            f"image {image!r} is not a PocketHive role hivekeeper has built in; it was kept as a custom worker image "
            "with protocol: pockethive (its pods get the environment a PocketHive worker reads)",
            "build or pull the image where the cluster can run it and have the operator policy allow it "
            "(policy.allowedImages); or replace it with a built-in role (docs/custom-images.md)",
        )
        config = bees.translate(None, raw, ctx)
        role["image"] = image
        role["protocol"] = "pockethive"
    work = wiring.work(index, config, ctx)
    if work:
        role["work"] = work
    if config:
        role["config"] = config
    env = bee.get("env")
    if isinstance(env, dict) and env:  # a credential an auth profile read went to its Secret instead
        kept = [{"name": str(k), "value": str(v)} for k, v in env.items() if str(k) not in credentials]
        if kept:
            role["env"] = kept
    return role


def _check_refs(
    variables: dict[str, Any],
    var_refs: dict[str, Any],
    sut: bundle_values.Sut,
    endpoint_refs: dict[str, Any],
    collect: Collector,
) -> None:
    for name, (source, path) in sorted(var_refs.items()):
        if name not in variables:
            collect.warning(  # the manifest keeps PocketHive's rule (spec.templating.undefined: empty)
                "var-undefined",
                source,
                path,
                f"vars.{name} is read here but has no value (variables: {', '.join(sorted(variables)) or 'none'}); "
                'it renders as "" as in PocketHive',
                f"define {name} in variables.yaml (definitions and values for the profile) or pass --profile",
            )
    for name, (source, path) in sorted(endpoint_refs.items()):
        if name not in sut.endpoints:
            known = ", ".join(sorted(sut.endpoints)) or "none"
            collect.error(
                "sut-endpoint-undefined",
                source,
                path,
                f"sut.endpoints.{name} is read here but SUT {sut.id or '(none chosen)'} has no such endpoint "
                f"(endpoints: {known})",
                "pass --sut with a SUT that has it, or add it to sut/<id>/sut.yaml",
            )


def _not_translated(bundle: Bundle, scenario: dict[str, Any], collect: Collector) -> None:
    policy = scenario.get("trafficPolicy")
    others = sorted(key for key in policy if key != "bufferGuard") if isinstance(policy, dict) else []
    if others:
        collect.warning(
            "traffic-policy-dropped",
            bundle.scenario,
            ("trafficPolicy",),
            f"trafficPolicy {', '.join(others)} is not translated (only bufferGuard is)",
            "scale consumers on queue depth with KEDA on the WorkerRole /scale subresource, or tune ratePerSec live",
        )
    if scenario.get("plan"):
        collect.warning(
            "plan-dropped",
            bundle.scenario,
            ("plan",),
            "plan (the timeline of config changes) is not translated",
            "apply the steps as Swarm edits over time (kubectl patch, or a GitOps commit per step)",
        )


def _header(
    bundle_id: str, scenario: dict[str, Any], sut: str | None, profile: str | None, findings: list[Finding]
) -> str:
    lines = [f"# Imported by `hivekeeper import` from the PocketHive scenario bundle {bundle_id!r}."]
    title, about = str(scenario.get("name") or bundle_id), str(scenario.get("description") or "")
    description = " ".join(f"{title}: {about}".split()) if about else title
    while description:
        cut = description.rfind(" ", 0, 110) if len(description) > 110 else len(description)
        cut = cut if cut > 0 else len(description)
        lines.append(f"# {description[:cut]}")
        description = description[cut:].strip()
    errors = sum(1 for f in findings if f.severity == "error")
    warnings = len(findings) - errors
    lines.append(
        f"# SUT: {sut or 'none'}; variables profile: {profile or 'none'}; import findings: {errors} errors, "
        f"{warnings} warnings."
    )
    return "\n".join(lines) + "\n"


class _Dumper(yaml.SafeDumper):
    """Block style with list items indented under their key (as in examples/), no anchors."""

    def ignore_aliases(self, data: Any) -> bool:
        return True

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)


def _str(dumper: yaml.SafeDumper, data: str) -> yaml.Node:
    style = "|" if "\n" in data else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)


_Dumper.add_representer(str, _str)


def dump_yaml(document: dict[str, Any]) -> str:
    # no line folding: a long template stays on one line, as written
    return yaml.dump(document, Dumper=_Dumper, sort_keys=False, width=1_000_000, allow_unicode=True)
