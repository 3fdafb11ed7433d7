"""One PocketHive bee's ``config`` as the config of one of our roles.

Most keys keep their names (DESIGN.md §4), so the config is copied and then adjusted:

- the newer ``config.worker`` block is lifted to the root, ``enabled`` is dropped (our controller
  enables workers); a built-in role's ``templateRoot`` under the bundle's ``templates/`` is carried as
  ``spec.templates`` (another is reported); a custom image keeps every key;
- a value naming another file of the bundle (``/app/scenario/...``) is left in place with an error
  (``bundle-file``): the manifest cannot carry the file;
- Redis connection keys (``host``/``port``/``username``/``password``/``ssl`` in ``inputs.redis``,
  ``outputs.redis``, ``interceptors.redisUploader``, and the whole ``config.redis`` block) are dropped:
  ours comes from the Secret's ``redisUrl``, and a password is never copied into a manifest;
- ``inputs.rabbit`` is ``inputs.rabbitmq``; ``ARTEMIS`` inputs/outputs become ``RABBITMQ``;
- every template string is rewritten (:mod:`.pebble`);
- keys our role does not know are dropped with a warning, except those whose loss changes what the scenario
  does: they are left in place with an error, so that the role (and validate) refuse the config until it is
  adapted; a number written as ``{{ vars.x }}`` is inlined;
- what the role still refuses is reported by validate's checks of the whole manifest (:mod:`.agreement`).
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from hivekeeper.api import roles as role_configs
from hivekeeper.api.manifests import field_path
from hivekeeper.importer import datasets, pebble
from hivekeeper.importer.bundle import Collector, Path_, SourceFile, mapping
from hivekeeper.validate.bundle_paths import BUNDLE_MOUNT, bundle_paths

REDIS_CONNECTION_KEYS = ("host", "port", "username", "password", "ssl")
_REDIS_BLOCKS = (("inputs", "redis"), ("outputs", "redis"), ("interceptors", "redisUploader"))
_SECRET_KEYS = ("password", "username")
_QUIET = {"txOutcomeSinkMode": "NONE", "historyPolicy": "FULL", "connectionReuse": "GLOBAL"}
"""PocketHive keys dropped without a finding when they hold this value (ours behaves so anyway)."""
_QUIET_ANY = ("dropTxOutcomeWithoutCallId", "ports")
SEMANTIC_KEYS = ("whileJson", "failJson", "txOutcomeSinkMode", "csv", "templating")
"""Keys whose loss changes what the scenario does: dropping them is an error, not a warning."""
_VAR_ONLY = re.compile(r"^\s*\{\{\s*vars\.([A-Za-z_]\w*)\s*\}\}\s*$")
TEMPLATES_MOUNT = f"{BUNDLE_MOUNT}/templates"


@dataclass
class BeeContext:
    """What translating one bee needs, and what it found out."""

    index: int
    scenario: SourceFile
    collect: Collector
    extras: dict[str, Any]
    """The swarm's ``vars``, ``sut`` and ``templates``, merged into the config to validate it whole."""
    upstream: dict[str, str] = field(default_factory=dict)
    endpoints: dict[str, str] = field(default_factory=dict)
    """SUT endpoint id -> baseUrl (to warn about https without sslVerify)."""
    booleans: frozenset[str] = frozenset()
    """Variables holding true/false (rendered ``| tojson``, see :func:`.pebble.rewrite`)."""
    var_refs: dict[str, Path_] = field(default_factory=dict)
    """Variables the templates read, each with where it was first read."""
    endpoint_refs: dict[str, Path_] = field(default_factory=dict)
    lifted: set[str] = field(default_factory=set)
    kept: set[tuple[str | int, ...]] = field(default_factory=set)
    """Config paths of keys left in place although the role refuses them (``key-unsupported``)."""
    """Keys that came from the newer ``config.worker`` block (lifted to the config root)."""

    def src(self, *path: str | int) -> Path_:
        """Where ``config.<path>`` was in scenario.yaml (keys lifted from ``config.worker`` included)."""
        base: Path_ = ("template", "bees", self.index, "config")
        return (*base, "worker", *path) if path and path[0] in self.lifted else (*base, *path)

    def error(self, code: str, path: Path_, message: str, fix: str) -> None:
        self.collect.error(code, self.scenario, path, message, fix)

    def warning(self, code: str, path: Path_, message: str, fix: str) -> None:
        self.collect.warning(code, self.scenario, path, message, fix)


def translate(kind: str | None, raw: dict[str, Any], ctx: BeeContext) -> dict[str, Any]:
    """The config of a ``kind`` role (None: a custom image, whose keys are kept) for bee config ``raw``."""
    config = copy.deepcopy(raw)
    worker = config.pop("worker", None)
    if isinstance(worker, dict):
        ctx.lifted = set(worker)
        config.update(worker)
    config.pop("enabled", None)
    _drop_redis_connection(config, ctx)
    _transports(config, ctx)
    if kind is not None:
        _template_root(config.pop("templateRoot", None), ctx)
    _bundle_files(config, ctx)
    for key, quiet in _QUIET.items():
        if config.get(key) == quiet:
            del config[key]
    for key in _QUIET_ANY:
        config.pop(key, None)
    config = {k: _rewrite_strings(v, (k,), ctx, raw_payload=kind != "http-sequence") for k, v in config.items()}
    if kind in role_configs.ROLES:
        _fit(kind, config, ctx)
        _ssl_note(kind, config, ctx)
    return config


def moderator_mode(raw: dict[str, Any]) -> str:
    """A moderator bee's ``mode.type`` in hivekeeper's spelling (``pass-through``, ``rate-per-sec``, ``sine``)."""
    mode = mapping(raw.get("worker")).get("mode") or raw.get("mode")
    kind = str(mode.get("type", "pass-through") if isinstance(mode, dict) else "pass-through")
    kind = kind.strip().lower().replace("_", "-")
    return "pass-through" if kind in ("passthrough", "pass-thru") else kind


def moderator_folded(raw: dict[str, Any], ctx: BeeContext) -> None:
    """A pass-through moderator with one queue in and one out is removed: the hop would change nothing."""
    where = ctx.src("mode", "type") if isinstance(raw.get("mode"), dict) else ("template", "bees", ctx.index)
    ctx.warning(
        "moderator-folded",
        where,
        "moderator (mode pass-through) was removed: its producers now publish straight to the queue its "
        "consumers read, which is what pass-through did",
        "nothing to do; keep it as a role (mode rate-per-sec or sine) to shape the flow",
    )


def moderator(raw: dict[str, Any], ctx: BeeContext) -> dict[str, Any]:
    """The config of a ``moderator`` role: PocketHive's ``mode`` with the type spelled as hivekeeper's."""
    config = copy.deepcopy(raw)
    for block in (config, mapping(config.get("worker"))):
        if isinstance(block.get("mode"), dict):
            block["mode"]["type"] = moderator_mode(raw)
    return translate("moderator", config, ctx)


def _template_root(root: Any, ctx: BeeContext) -> None:
    """A built-in role's ``templateRoot``: the calls of the bundle's ``templates/`` are in ``spec.templates``,
    so a root there is carried; any other root's templates were not read, which is said."""
    shown = str(root or "").strip().rstrip("/")
    if not shown or shown == TEMPLATES_MOUNT or shown.startswith(f"{TEMPLATES_MOUNT}/"):
        return
    inside = shown.startswith(f"{BUNDLE_MOUNT}/")
    ctx.warning(
        "template-root-outside-bundle",
        ctx.src("templateRoot"),
        f"templateRoot {root!r} is "
        + (f"not under {TEMPLATES_MOUNT}" if inside else f"outside the bundle ({BUNDLE_MOUNT})")
        + "; the importer reads call templates from the bundle's templates/ folder only, so its templates were "
        "not imported",
        "move those templates into the bundle's templates/ folder and import again",
    )


def _bundle_files(config: dict[str, Any], ctx: BeeContext) -> None:
    """A config value naming another file of the bundle: the manifest cannot carry it (hivekeeper's pods have
    no bundle folder), so it is an error, which validate finds again on the value left in place."""
    for path, value in bundle_paths(config):
        ctx.error(
            "bundle-file",
            ctx.src(*path),
            f"config.{field_path(path)}: {value!r} is a file of the bundle; hivekeeper's pods have no "
            f"{BUNDLE_MOUNT} folder and the manifest cannot carry it (the value was left in place)",
            "give the worker that file another way (built into its image, or its content in a config value), "
            "then change or remove this key",
        )


def _drop_redis_connection(config: dict[str, Any], ctx: BeeContext) -> None:
    block = config.pop("redis", None)
    if isinstance(block, dict):
        ctx.warning(
            "redis-connection-moved",
            ctx.src("redis"),
            f"config.redis ({_shown(block)}) was dropped: the Redis of sequence() counters and debug captures "
            "is the worker's HIVEKEEPER_REDIS_URL",
            "put the Redis URL in the redisUrl key of the swarm's Secret (hivekeeper-broker by default); "
            "locally: hivekeeper run --redis URL",
        )
    for outer, inner in _REDIS_BLOCKS:
        holder = config.get(outer)
        target = holder.get(inner) if isinstance(holder, dict) else None
        if not isinstance(target, dict):
            continue
        found = {key: target.pop(key) for key in REDIS_CONNECTION_KEYS if key in target}
        if found:
            ctx.warning(
                "redis-connection-moved",
                ctx.src(outer, inner),
                f"{outer}.{inner}: {_shown(found)} dropped: the Redis connection comes from HIVEKEEPER_REDIS_URL",
                "put the Redis URL in the redisUrl key of the swarm's Secret (hivekeeper-broker by default); "
                "locally: hivekeeper run --redis URL",
            )


def _shown(block: dict[str, Any]) -> str:
    """Keys and values of a connection block, secrets hidden."""
    return ", ".join(f"{k}=<not shown>" if k in _SECRET_KEYS else f"{k}={v!r}" for k, v in block.items())


def _transports(config: dict[str, Any], ctx: BeeContext) -> None:
    for side in ("inputs", "outputs"):
        block = config.get(side)
        if not isinstance(block, dict):
            continue
        if side == "inputs" and "rabbit" in block:
            block["rabbitmq"] = block.pop("rabbit")
        if str(block.get("type", "")).upper() == "ARTEMIS":
            block["type"] = "RABBITMQ"
            block.pop("artemis", None)
            ctx.warning(
                "transport-mapped",
                ctx.src(side, "type"),
                f"{side}.type ARTEMIS became RABBITMQ (hivekeeper's work queues are RabbitMQ queues)",
                "nothing to do; the Artemis settings were dropped",
            )
        if side == "inputs" and isinstance(block.get("csv"), dict):
            block["csv"] = datasets.csv_input(block["csv"], ctx.src(side, "csv"), ctx.scenario, ctx.collect)
            ctx.kept.update(("inputs", "csv", key) for key in datasets.LEFT_IN_PLACE if key in block["csv"])


def _rewrite_strings(value: Any, path: tuple[str | int, ...], ctx: BeeContext, *, raw_payload: bool) -> Any:
    if isinstance(value, dict):
        return {k: _rewrite_strings(v, (*path, k), ctx, raw_payload=raw_payload) for k, v in value.items()}
    if isinstance(value, list):
        return [_rewrite_strings(v, (*path, i), ctx, raw_payload=raw_payload) for i, v in enumerate(value)]
    if not isinstance(value, str) or ("{{" not in value and "{%" not in value):
        return value
    done = pebble.rewrite(value, raw_payload=raw_payload, upstream=ctx.upstream, booleans=ctx.booleans)
    for name in sorted(done.vars):
        ctx.var_refs.setdefault(name, ctx.src(*path))
    for name in sorted(done.endpoints):
        ctx.endpoint_refs.setdefault(name, ctx.src(*path))
    for issue in done.issues:
        ctx.collect.add(
            issue.severity,
            issue.code,
            ctx.scenario,
            ctx.src(*path),
            f"{issue.expression}: {issue.message}",
            issue.fix,
        )
    return done.text


def _fit(kind: str, config: dict[str, Any], ctx: BeeContext) -> None:
    """Drop the keys ``kind`` does not know and inline ``{{ vars.x }}`` numbers. What the role still refuses
    is reported by validate's checks of the manifest (:mod:`.agreement`), as ``role-config``."""
    model = role_configs.ROLES[kind].model
    for _ in range(20):
        try:
            model.model_validate(_merged(config, ctx))
            break
        except ValidationError as exc:
            if not [err for err in exc.errors() if _repair(config, err["type"], tuple(err["loc"]), ctx)]:
                break


def _merged(config: dict[str, Any], ctx: BeeContext) -> dict[str, Any]:
    extras = ctx.extras
    return {
        **config,
        "vars": {**extras.get("vars", {}), **config.get("vars", {})},
        "sut": extras.get("sut", {}),
        "templates": [*extras.get("templates", []), *config.get("templates", [])],
    }


def _repair(config: dict[str, Any], kind: str, loc: tuple[str | int, ...], ctx: BeeContext) -> bool:
    holder: Any = config
    for part in loc[:-1]:
        try:
            holder = holder[part]
        except (KeyError, IndexError, TypeError):
            return False
    key = loc[-1]
    if not loc or loc[0] in ("vars", "sut", "templates") or not isinstance(holder, dict) or key not in holder:
        return False
    value = holder[key]
    if kind == "extra_forbidden":
        shown = f"{key}: {value!r}" if not isinstance(value, dict | list) else f"{key} (a {type(value).__name__})"
        dotted = field_path(loc)
        # Left in place, so that the role refuses the config until it is adapted: a key whose loss changes what
        # the scenario does, or one reported already with its own error (a CSV file's charset).
        if key in SEMANTIC_KEYS or loc in ctx.kept:
            if loc not in ctx.kept:
                ctx.kept.add(loc)
                ctx.error(
                    "key-unsupported",
                    ctx.src(*loc),
                    f"config.{dotted}: PocketHive's {shown} has no hivekeeper equivalent; the scenario behaves "
                    "differently without it, so it was left in place and the role refuses the config",
                    "see docs/import.md (what is not translated), adapt the scenario by hand and remove the key",
                )
            return False
        del holder[key]
        ctx.warning(
            "key-dropped",
            ctx.src(*loc),
            f"config.{dotted}: PocketHive's {shown} has no hivekeeper equivalent and was dropped",
            "nothing to do unless the scenario relied on it (docs/import.md lists what is not translated)",
        )
        return True
    match = _VAR_ONLY.match(value) if isinstance(value, str) else None
    known = ctx.extras.get("vars", {})
    if match and match.group(1) in known:
        holder[key] = known[match.group(1)]
        ctx.warning(
            "var-inlined",
            ctx.src(*loc),
            f"config.{field_path(loc)}: {value!r} became {holder[key]!r} (this key is not a template)",
            "edit the value in the Swarm when the variable changes",
        )
        return True
    return False


def _ssl_note(kind: str, config: dict[str, Any], ctx: BeeContext) -> None:
    base = str(config.get("baseUrl", ""))
    targets = [base] + [url for name, url in ctx.endpoints.items() if f"sut.endpoints.{name}." in base]
    transport = config.get("tcpTransport")
    tcp_verify_set = isinstance(transport, dict) and "sslVerify" in transport
    if kind == "processor" and not tcp_verify_set and any(t.startswith("tcps://") for t in targets):
        ctx.warning(
            "ssl-verify-default",
            ctx.src("baseUrl"),
            f"baseUrl {base!r} is tcps: PocketHive's tcpTransport trusts every certificate by default, hivekeeper "
            "verifies them",
            "set tcpTransport.sslVerify: false (tests only) or tcpTransport.caFile if the SUT's certificate is not "
            "signed by a CA the worker trusts",
        )
    if kind not in ("processor", "http-sequence") or "sslVerify" in config:
        return
    if any(t.startswith("https://") for t in targets):
        ctx.warning(
            "ssl-verify-default",
            ctx.src("baseUrl"),
            f"baseUrl {base!r} is https: PocketHive trusts every certificate by default, hivekeeper verifies them",
            "set sslVerify: false on this role if the SUT's certificate is self-signed (tests only)",
        )
