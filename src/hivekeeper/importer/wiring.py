"""How a bundle's bees are named and wired: stage names, roles, queue aliases, serviceIds.

PocketHive names a queue ``ph.<swarm>.<suffix>`` after the suffixes in each bee's ``work`` port maps
(``work: {in: {in: build}, out: {out: proc}}``); ours is ``hivekeeper.<swarm>.<alias>`` after
``work.in`` / ``work.out``. A suffix becomes an alias (lower-case, ``[a-z0-9-]``, at most 63
characters, never a reserved alias), the same suffix always the same alias. A bee's ``role`` becomes
the stage name, made valid and unique (a second ``processor`` is ``processor-2``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from hivekeeper.api.call_template import MAX_NAME
from hivekeeper.api.swarm import RESERVED_ALIASES
from hivekeeper.importer.bees import BeeContext, moderator_mode
from hivekeeper.importer.bundle import Bundle, Collector, mapping

ROLE_IMAGES = ("generator", "request-builder", "processor", "postprocessor", "http-sequence", "moderator")
"""PocketHive roles (by image name) the importer knows (a moderator is folded away, see :class:`Wiring`)."""
_IMAGE_AFFIXES = (("pockethive-", "ph-"), ("-service", "-worker", "-bee"))
_TEMPLATE_ROLES = ("request-builder", "http-sequence")


def dns_name(text: str, fallback: str) -> str:
    """``text`` as a name our aliases and stage names accept: ``httpSequence`` -> ``http-sequence``."""
    kebab = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "-", text).lower()
    name = re.sub(r"-{2,}", "-", re.sub(r"[^a-z0-9-]", "-", kebab)).strip("-")
    return name[:MAX_NAME].rstrip("-") or fallback


def bee_kind(bee: dict[str, Any]) -> str | None:
    """The PocketHive role a bee runs, from its image (``generator:latest``, ``ghcr.io/x/pockethive-processor:1``)."""
    image = str(bee.get("image") or "")
    if not image:
        role = str(bee.get("role") or "")
        return role if role in ROLE_IMAGES else None
    bare = image.rsplit("/", 1)[-1].split("@", 1)[0].split(":", 1)[0].lower()
    prefixes, suffixes = _IMAGE_AFFIXES
    for prefix in prefixes:
        bare = bare.removeprefix(prefix)
    for suffix in suffixes:
        bare = bare.removesuffix(suffix)
    return bare if bare in ROLE_IMAGES else None


def _config(bee: dict[str, Any]) -> dict[str, Any]:
    """A bee's config with the newer ``config.worker`` block lifted to the root."""
    raw = mapping(bee.get("config"))
    return {**raw, **mapping(raw.get("worker"))}


def _ports(value: Any) -> list[tuple[str, str]]:
    """``{port: suffix}`` (or a bare suffix) -> [(port, suffix)]."""
    if isinstance(value, dict):
        return [(str(port), str(suffix)) for port, suffix in value.items() if suffix not in (None, "")]
    return [("", str(value))] if value not in (None, "") else []


@dataclass
class Wiring:
    bundle: Bundle
    bees: list[Any]
    names: list[str] = field(default_factory=list)
    kinds: list[str | None] = field(default_factory=list)
    ins: list[list[tuple[str, str]]] = field(default_factory=list)
    outs: list[list[tuple[str, str]]] = field(default_factory=list)
    aliases: dict[str, str] = field(default_factory=dict)
    """Queue suffix -> our alias."""
    folded: set[int] = field(default_factory=set)
    """Pass-through moderator bees removed: their producers publish straight to the queue their consumers read."""
    merged: dict[str, str] = field(default_factory=dict)
    """A folded moderator's out suffix -> its in suffix."""

    @classmethod
    def of(cls, bundle: Bundle, bees: list[Any], collect: Collector) -> Wiring:
        wiring = cls(bundle, bees)
        used: set[str] = set()
        for index, entry in enumerate(bees):
            bee = mapping(entry)
            wiring.kinds.append(bee_kind(bee))
            # newer bundles give each bee an id (unique) next to its role (the kind)
            key = "id" if bee.get("id") else "role"
            given = str(bee.get(key) or f"bee-{index}")
            name = base = dns_name(given, f"bee-{index}")
            n = 2
            while name in used:
                name = f"{base[: MAX_NAME - 1 - len(str(n))]}-{n}"
                n += 1
            used.add(name)
            wiring.names.append(name)
            if name != given:
                reasons = [] if base == given else ["is not a valid stage name ([a-z0-9-], at most 63 characters)"]
                taken = "is taken by an earlier bee" if base == given else f"becomes {base!r}, taken by an earlier bee"
                reasons += [taken] if name != base else []
                reason = " and ".join(reasons)
                collect.warning(
                    "role-renamed",
                    bundle.scenario,
                    ("template", "bees", index, key),
                    f"bee {key} {given!r} {reason}; its stage is named {name!r}",
                    "nothing to do; use this name with kubectl and hivekeeper tap",
                )
            work = mapping(bee.get("work"))
            wiring.ins.append(_ports(work.get("in")))
            wiring.outs.append(_ports(work.get("out")))
        merged = wiring.merged
        for index, kind in enumerate(wiring.kinds):
            one_to_one = len(wiring.ins[index]) == 1 and len(wiring.outs[index]) == 1
            if kind == "moderator" and one_to_one and moderator_mode(_config(mapping(bees[index]))) == "pass-through":
                merged[wiring.outs[index][0][1]] = wiring.ins[index][0][1]
                wiring.folded.add(index)
        for suffix in sorted({s for ports in wiring.ins + wiring.outs for _, s in ports} - set(merged)):
            alias = base = dns_name(suffix, "work")
            if alias in RESERVED_ALIASES:
                alias = base = f"{alias}-work"
            n = 2
            while alias in wiring.aliases.values():
                alias = f"{base}-{n}"
                n += 1
            wiring.aliases[suffix] = alias
        for out, first in merged.items():
            source, seen = first, {out}
            while source in merged and source not in seen:  # moderators in a row
                seen.add(source)
                source = merged[source]
            wiring.aliases[out] = wiring.aliases.get(source, dns_name(source, "work"))
        return wiring

    def default_service(self, collect: Collector) -> str:
        """The serviceId of calls that name none: that of the (first) bee loading templates."""
        services = [
            str(_config(bee).get("serviceId") or "default")
            for bee, kind in zip(self.bees, self.kinds, strict=True)
            if kind in _TEMPLATE_ROLES and isinstance(bee, dict)
        ]
        if len(set(services)) > 1:
            collect.warning(
                "template-service-ambiguous",
                None,
                (),
                f"bees load templates with different serviceIds ({', '.join(sorted(set(services)))}); calls that "
                f"name no serviceId were filed under {services[0]!r}",
                "set serviceId in every call template",
            )
        return services[0] if services else "default"

    def journey_keys(self) -> frozenset[str]:
        """``serviceId::callId`` of the calls http-sequence steps make."""
        keys = set()
        for bee, kind in zip(self.bees, self.kinds, strict=True):
            if kind != "http-sequence" or not isinstance(bee, dict):
                continue
            config = _config(bee)
            service = str(config.get("serviceId") or "default")
            for step in config.get("steps") or []:
                if isinstance(step, dict) and step.get("callId"):
                    keys.add(f"{step.get('serviceId') or service}::{step['callId']}")
        return frozenset(keys)

    def work(self, index: int, config: dict[str, Any], ctx: BeeContext) -> dict[str, str]:
        """``work`` of bee ``index``; extra ports and outputs nobody reads are findings."""
        work: dict[str, str] = {}
        for side, ports in (("in", self.ins[index]), ("out", self.outs[index])):
            if not ports:
                continue
            if len(ports) > 1:
                ctx.warning(
                    "work-multiple-ports",
                    ("template", "bees", index, "work", side),
                    f"work.{side} has {len(ports)} ports ({', '.join(f'{p}: {s}' for p, s in ports)}); a stage "
                    f"has one {side} queue, {ports[0][1]!r} was kept (a stage that then gets nothing is an error "
                    "where it consumes)",
                    "split the bee into one stage per queue",
                )
            work[side] = self.aliases[ports[0][1]]
            if work[side] != ports[0][1] and ports[0][1] not in self.merged:
                ctx.warning(
                    "alias-renamed",
                    ("template", "bees", index, "work", side, ports[0][0]),
                    f"queue suffix {ports[0][1]!r} is work alias {work[side]!r} (aliases are [a-z0-9-], not "
                    f"{', '.join(RESERVED_ALIASES)})",
                    "nothing to do",
                )
        outputs = mapping(config.get("outputs"))
        output = str(outputs.get("type") or "").upper()
        if "out" in work and output in ("REDIS", "NONE"):
            suffix = self.outs[index][0][1]
            if not any(suffix == s for ports in self.ins for _, s in ports):
                ctx.warning(
                    "work-out-unused",
                    ("template", "bees", index, "work", "out"),
                    f"outputs.type is {output}, so nothing is published to {suffix!r} and no bee reads it; "
                    "work.out was dropped",
                    "nothing to do",
                )
                del work["out"]
        return work

    def fold_journey_sinks(self, roles: dict[int, dict[str, Any]], collect: Collector) -> None:
        """A postprocessor after an http-sequence: ours reads processor results (``http.result``) and would drop
        every journey. PocketHive uses one there to push journeys to Redis lists; with ``outputs.type: REDIS``
        it becomes the http-sequence's ``interceptors.redisUploader`` (phase AFTER: the same lists, the same
        routes) and the stage goes away. Any other is an error."""
        for index, (kind, ports) in enumerate(zip(self.kinds, self.ins, strict=True)):
            reads = {suffix for _, suffix in ports}
            feeders = [
                j
                for j, (feeder, outs) in enumerate(zip(self.kinds, self.outs, strict=True))
                if feeder == "http-sequence" and j in roles and reads & {suffix for _, suffix in outs}
            ]
            if kind != "postprocessor" or index not in roles or not feeders:
                continue
            where = ("template", "bees", index, "work", "in")
            outputs = mapping(mapping(roles[index].get("config")).get("outputs"))
            journeys = [roles[j] for j in feeders]
            taken = any(mapping(mapping(r.get("config")).get("interceptors")).get("redisUploader") for r in journeys)
            if str(outputs.get("type", "")).upper() != "REDIS" or not outputs.get("redis") or taken:
                collect.error(
                    "postprocessor-after-journey",
                    self.bundle.scenario,
                    where,
                    f"postprocessor {self.names[index]!r} reads the journeys of http-sequence "
                    f"{self.names[feeders[0]]!r}: ours aggregates processor results and would drop every journey",
                    "drop this stage (http-sequence reports its own latency and errors); to file journeys in Redis "
                    "lists, give the http-sequence interceptors.redisUploader (phase AFTER)",
                )
                continue
            sink = roles.pop(index)
            for journey in journeys:
                config = journey.setdefault("config", {})
                config.setdefault("interceptors", {})["redisUploader"] = {**outputs["redis"], "phase": "AFTER"}
                work = journey.get("work", {})
                if not any(r.get("work", {}).get("in") == work.get("out") for r in roles.values()):
                    work.pop("out", None)
            collect.warning(
                "journey-sink-folded",
                self.bundle.scenario,
                where,
                f"postprocessor {sink['name']!r} (outputs.type REDIS) after http-sequence "
                f"{', '.join(repr(r['name']) for r in journeys)} became its interceptors.redisUploader (phase "
                "AFTER, the same lists and routes); the stage was removed",
                "nothing to do",
            )

    def check_topology(self, topology: Any, collect: Collector) -> None:
        """``topology.edges`` must agree with the ``work`` ports (they are the same graph in PocketHive)."""
        edges = mapping(topology).get("edges")
        for index, edge in enumerate(edges if isinstance(edges, list) else []):
            ends = [mapping(mapping(edge).get(side)) for side in ("from", "to")]
            if not all(ends):
                continue
            found = [self._suffix(end, side) for end, side in zip(ends, (self.outs, self.ins), strict=True)]
            if None in found or found[0] != found[1]:
                shown = " -> ".join(f"{e.get('role') or e.get('beeId')}.{e.get('port')}" for e in ends)
                collect.warning(
                    "topology-mismatch",
                    self.bundle.scenario,
                    ("topology", "edges", index),
                    f"edge {mapping(edge).get('id', index)!r} ({shown}) does not match the bees' work ports "
                    f"(queues {found[0]!r} -> {found[1]!r}); the work ports were used",
                    "make topology.edges and work agree in the bundle",
                )

    def _suffix(self, end: dict[str, Any], ports: list[list[tuple[str, str]]]) -> str | None:
        for index, bee in enumerate(self.bees):
            if isinstance(bee, dict) and end.get("role", end.get("beeId")) in (bee.get("role"), bee.get("id")):
                return next((s for p, s in ports[index] if p == str(end.get("port")) or p == ""), None)
        return None
