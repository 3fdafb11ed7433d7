"""Where ``hivekeeper run`` aims a manifest's SUT endpoints: ``--sut URL`` (the ``default`` endpoint), ``--sut
NAME=URL`` (any endpoint, repeatable) and ``--demo-sut`` (the built-in demo services, for every endpoint no
``--sut`` names: the HTTP demo, and the TCP demo for ``tcp://`` and ``tcps://`` endpoints).

A manifest's templates call ``sut.endpoints.<name>.baseUrl``; an imported PocketHive bundle often has several
names (``default``, ``auth``, ``payments``). Aiming only ``default`` left the others at their in-cluster hosts,
and every request to them failed. Flags that contradict each other (one endpoint given twice, a name no
manifest has, ``--demo-sut`` left with no endpoint to serve) are refused before anything starts, naming the
flag and the fix.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from hivekeeper.api.swarm import Swarm
from hivekeeper.errors import InvalidInput
from hivekeeper.worker.tcp_port import is_tcp_url

DEFAULT = "default"
"""The endpoint ``--sut URL`` aims (and ``--demo-sut`` serves even when a manifest declares none)."""
_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")


class SutFlagError(InvalidInput, ValueError):
    """``--sut`` / ``--demo-sut`` flags that cannot be followed; the message names the flag and the fix."""


@dataclass(frozen=True)
class SutFlags:
    """What the flags ask: endpoint name -> base URL (``--sut``), and whether the demo serves the rest."""

    urls: dict[str, str] = field(default_factory=dict)
    demo: bool = False


def parse(values: Sequence[str], *, demo: bool) -> SutFlags:
    """The ``--sut`` values (``URL`` or ``NAME=URL``) read; raises :class:`SutFlagError` for one endpoint given
    twice or a value that is not an http(s) URL."""
    urls: dict[str, str] = {}
    for value in values:
        name, url = _split(value)
        if not url.startswith(("http://", "https://", "tcp://", "tcps://")):
            raise SutFlagError(
                f"--sut {value}: {url!r} is not an http(s) or tcp(s) URL; write --sut http://host:port for the "
                "default endpoint or --sut NAME=http://host:port (NAME=tcp://host:port) for the endpoint NAME"
            )
        if name in urls:
            shown = "--sut URL" if name == DEFAULT else f"--sut {name}=URL"
            raise SutFlagError(
                f"{shown} is given twice for the endpoint {name!r} ({urls[name]} and {url}); keep one "
                "(other endpoints are aimed with --sut NAME=URL)"
            )
        urls[name] = url
    return SutFlags(urls, demo)


def _split(value: str) -> tuple[str, str]:
    """(endpoint name, URL): ``NAME=URL`` when what precedes the first ``=`` is a name (not part of a URL)."""
    name, sep, rest = value.partition("=")
    if sep and _NAME.fullmatch(name):
        return name, rest
    return DEFAULT, value


def names(swarm: Swarm) -> set[str]:
    """The endpoint names a manifest declares (``spec.sut.endpoints``)."""
    return set(swarm.spec.sut.endpoints)


def check(flags: SutFlags, swarms: Iterable[Swarm]) -> None:
    """Refuse a ``--sut NAME=URL`` no manifest has an endpoint for, and a ``--demo-sut`` left with nothing to
    serve because ``--sut`` aims every endpoint."""
    swarms = list(swarms)
    declared = set().union(*(names(s) for s in swarms)) if swarms else set()
    for name, url in flags.urls.items():
        if name != DEFAULT and name not in declared:
            known = ", ".join(sorted(declared | {DEFAULT}))
            raise SutFlagError(
                f"--sut {name}={url}: no manifest has an endpoint {name!r} (endpoints: {known}); use one of those "
                f"names, or add spec.sut.endpoints.{name} to the manifest"
            )
    if flags.demo and not any(demo_names(s, flags) for s in swarms):
        given = ", ".join(sorted(flags.urls))
        raise SutFlagError(
            f"--demo-sut has no endpoint to serve: --sut aims every one ({given}); drop --demo-sut, or drop the "
            "--sut of an endpoint the demo service should serve"
        )


def demo_names(swarm: Swarm, flags: SutFlags) -> set[str]:
    """The endpoints of ``swarm`` the demo service serves: every one (``default`` included) no ``--sut`` aims."""
    return (names(swarm) | {DEFAULT}) - set(flags.urls)


def aimed(swarm: Swarm, urls: dict[str, str]) -> Swarm:
    """``swarm`` with the endpoints of ``urls`` (those it declares, and ``default``) set to those base URLs."""
    wanted = {name: url for name, url in urls.items() if name == DEFAULT or name in names(swarm)}
    if not wanted:
        return swarm
    data = swarm.model_dump(mode="json", by_alias=True, exclude_none=True)
    endpoints = data["spec"].setdefault("sut", {}).setdefault("endpoints", {})
    for name, url in wanted.items():
        endpoints[name] = {**endpoints.get(name, {}), "baseUrl": url}  # an endpoint's auth profile stays
    return Swarm.model_validate(data)


def tcp_demo_names(swarm: Swarm, flags: SutFlags) -> set[str]:
    """The endpoints of ``swarm`` the demo serves that are TCP (``tcp://`` or ``tcps://``): the TCP demo's."""
    served = demo_names(swarm, flags) if flags.demo else set()
    return {n for n, e in swarm.spec.sut.endpoints.items() if n in served and is_tcp_url(e.baseUrl)}


_MODES = {"LENGTH_PREFIX_2B": "length-prefix", "REQUEST_RESPONSE": "end-tag", "FIRE_FORGET": "sink"}
"""The TCP demo's mode for a behaviour (ECHO and STREAMING: echo)."""


def tcp_mode(swarms: Iterable[Swarm]) -> tuple[str, str]:
    """The TCP demo's mode and end tag for the swarms' TCP templates (those of ``spec.templates`` and of the roles'
    configs); echo when there are none. Templates needing different modes are refused: one demo serves one."""
    wanted: dict[tuple[str, str], str] = {}
    for swarm in swarms:
        raw = [t.model_dump() for t in swarm.spec.templates]
        raw += [t for r in swarm.spec.roles for t in (r.config.get("templates") or []) if isinstance(t, dict)]
        for template in raw:
            if template.get("protocol") != "TCP":
                continue
            behavior = str(template.get("behavior") or "REQUEST_RESPONSE")
            mode = (
                _MODES.get(behavior, "echo"),
                str(template.get("endTag") or "") if behavior == "REQUEST_RESPONSE" else "",
            )
            wanted.setdefault(mode, f"{template.get('serviceId', 'default')}::{template.get('callId')}")
    if len(wanted) > 1:
        shown = "; ".join(
            f"{key} needs {mode}{f' (end tag {tag!r})' if tag else ''}" for (mode, tag), key in wanted.items()
        )
        raise SutFlagError(
            f"--demo-sut serves one TCP mode, and the TCP templates need several ({shown}); aim the TCP endpoints at "
            "your own servers with --sut NAME=tcp://host:port, or run `hivekeeper demo-sut --tcp --mode ...` once "
            "per mode and aim each endpoint at one"
        )
    return next(iter(wanted), ("echo", ""))


def aim(
    swarms: Swarm | list[Swarm], flags: SutFlags, demo_url: str | None, tcp_demo_url: str | None = None
) -> Swarm | list[Swarm]:
    """Every swarm aimed as the flags say: ``--sut``'s endpoints at their URLs and, with ``demo_url``, every
    other endpoint at the demo service (its TCP endpoints at ``tcp_demo_url``, the TCP demo, plain TCP even for a
    ``tcps://`` one)."""

    def one(swarm: Swarm) -> Swarm:
        urls = dict(flags.urls)
        if demo_url is not None:
            urls.update(dict.fromkeys(demo_names(swarm, flags), demo_url))
        if tcp_demo_url is not None:
            urls.update(dict.fromkeys(tcp_demo_names(swarm, flags), tcp_demo_url))
        return aimed(swarm, urls)

    return [one(s) for s in swarms] if isinstance(swarms, list) else one(swarms)
