"""A bundle's CSV dataset inputs and its buffer guard, as our ``inputs.csv`` and per-role ``bufferGuard``.

PocketHive's ``inputs.csv`` keys mostly keep their meaning (``filePath``, ``ratePerSec``, ``rotate``,
``delimiter``); its columns are strings, as ours are when none is declared. The file itself is not copied: the
finding says where it is in the bundle and how to provide it (next to the manifest locally, a ConfigMap on a
cluster). PocketHive's ``trafficPolicy.bufferGuard`` is a swarm controller retuning the producer step by step
towards a target depth; ours is a two-state guard in the producer: slowed to ``adjust.minRatePerSec`` at
``maxDepth``, its rate restored at ``targetDepth``.
"""

from __future__ import annotations

from typing import Any

from hivekeeper.api.run import RATE_BLOCKS
from hivekeeper.importer.bundle import Collector, Path_, SourceFile

SCENARIO_MOUNT = "/app/scenario/"
"""Where PocketHive mounts a bundle in its workers' containers."""

_KEPT = ("filePath", "ratePerSec", "rotate", "delimiter")
_UTF8 = {"utf-8", "utf8"}
LEFT_IN_PLACE = ("charset",)
"""Keys :func:`csv_input` reports as errors and leaves in place, so that the role (and validate) refuses them."""
_GUARD_KEYS = ("enabled", "queueAlias", "maxDepth", "targetDepth", "minDepth", "adjust")
"""The keys of PocketHive's bufferGuard the translation uses."""


def csv_input(block: dict[str, Any], where: Path_, source: SourceFile, collect: Collector) -> dict[str, Any]:
    """Our ``inputs.csv`` for PocketHive's ``block`` (``where`` is its path in scenario.yaml)."""
    csv = {key: block[key] for key in _KEPT if key in block}
    path = str(csv.get("filePath", ""))
    if path.startswith(SCENARIO_MOUNT):
        csv["filePath"] = path = path[len(SCENARIO_MOUNT) :]
    if path:
        collect.warning(
            "csv-file",
            source,
            (*where, "filePath"),
            f"inputs.csv.filePath {path} is read when the workers start: next to the imported manifest by "
            "`hivekeeper run`, from a ConfigMap on a cluster",
            f"copy the bundle's {path} next to the manifest; on a cluster `kubectl create configmap NAME "
            f"--from-file={path.rsplit('/', 1)[-1]}=...`, set filePath to that key and inputs.csv.configMap: NAME",
        )
    charset = str(block.get("charset", "UTF-8"))
    if charset.lower() not in _UTF8:
        csv["charset"] = block["charset"]  # left in place: the role refuses it (validate too) until it is removed
        collect.error(
            "csv-charset",
            source,
            (*where, "charset"),
            f"inputs.csv.charset {charset} is not read: hivekeeper reads CSV files as UTF-8",
            "convert the file to UTF-8 (iconv -f <charset> -t UTF-8), then remove inputs.csv.charset",
        )
    if block.get("skipHeader") is False:
        collect.warning(
            "csv-header",
            source,
            (*where, "skipHeader"),
            "inputs.csv.skipHeader false: hivekeeper always takes the first row as the header naming the columns",
            "make sure the file's first row names the columns",
        )
    dropped = sorted(k for k in block if k not in (*_KEPT, "charset", "skipHeader"))
    if dropped:
        collect.warning(
            "csv-keys-dropped",
            source,
            where,
            f"inputs.csv {', '.join(dropped)} dropped: rows are paced smoothly from the start",
            "nothing to do; delay the producer with a run's stages (spec.run) if the start must wait",
        )
    return csv


def buffer_guard(
    policy: dict[str, Any], aliases: dict[str, str], roles: list[dict[str, Any]], source: SourceFile, collect: Collector
) -> None:
    """Put ``trafficPolicy.bufferGuard`` on the swarm's producers (roles with a paced input and no work.in)."""
    guard = policy.get("bufferGuard")
    where: Path_ = ("trafficPolicy", "bufferGuard")
    if not isinstance(guard, dict) or guard.get("enabled") is False:
        return
    adjust = _block(guard.get("adjust"))
    suffix = str(guard.get("queueAlias", ""))
    high, low = guard.get("maxDepth"), guard.get("targetDepth", guard.get("minDepth"))
    producers = [role for role in roles if _paced(role) and not _block(role.get("work")).get("in")]
    if not suffix or not isinstance(high, int) or not isinstance(low, int) or not producers:
        collect.warning(
            "traffic-policy-dropped",
            source,
            where,
            "trafficPolicy.bufferGuard needs queueAlias, maxDepth and targetDepth (whole numbers) and a producer "
            "with a SCHEDULER, REDIS_DATASET or CSV_DATASET input; it is not translated",
            "set config.bufferGuard {queue, high, low, minRatePerSec} on the producing role by hand",
        )
        return
    translated = {"queue": aliases.get(suffix, suffix), "high": high, "low": min(low, high - 1)}
    if isinstance(adjust.get("minRatePerSec"), int | float):
        translated["minRatePerSec"] = adjust["minRatePerSec"]
    for role in producers:
        role.setdefault("config", {})["bufferGuard"] = dict(translated)
    rest = sorted(k for k in guard if k not in _GUARD_KEYS)
    collect.warning(
        "buffer-guard-translated",
        source,
        where,
        f"trafficPolicy.bufferGuard became config.bufferGuard of {', '.join(r['name'] for r in producers)}: slowed "
        f"to adjust.minRatePerSec at maxDepth {high}, restored at targetDepth {translated['low']}; PocketHive's "
        f"step-by-step retuning ({', '.join(['adjust.max*', *rest])}) is not",
        "check high, low and minRatePerSec against your queue (docs/worker.md#buffer-guard)",
    )


def _block(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _paced(role: dict[str, Any]) -> bool:
    declared = _block(_block(role.get("config")).get("inputs")).get("type")
    return (declared or ("SCHEDULER" if role.get("role") == "generator" else None)) in RATE_BLOCKS
