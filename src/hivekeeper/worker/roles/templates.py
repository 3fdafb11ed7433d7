"""HTTP request templates from a ``templateRoot`` directory, shared by the roles that render them
(request-builder, http-sequence): one loader, one meaning of the files."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import yaml
from pydantic import ValidationError

from hivekeeper.api.call_template import CallTemplate
from hivekeeper.api.roles import ConfigError
from hivekeeper.api.roles.common import CommonConfig
from hivekeeper.worker.auth_port import EndpointAuth


def load_template_dir(root: Path, role: str) -> list[CallTemplate]:
    """Every template under ``root`` (``*.yaml``/``*.yml``/``*.json``, one template per file or a list);
    any unreadable or invalid file is a :class:`ConfigError` of ``role`` naming the file and the entry."""
    if not root.is_dir():
        raise ConfigError(role, [("templateRoot", f"{str(root)!r} is not a directory")])
    found: list[CallTemplate] = []
    for path in sorted(p for p in root.rglob("*") if p.suffix in (".yaml", ".yml", ".json") and p.is_file()):
        try:
            document = yaml.safe_load(path.read_text())
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigError(role, [("templateRoot", f"{path}: cannot read: {exc}")]) from exc
        for index, entry in enumerate(document if isinstance(document, list) else [document]):
            try:
                found.append(CallTemplate.model_validate(entry))
            except ValidationError as exc:
                first = exc.errors()[0]
                where = ".".join(str(p) for p in first["loc"])
                raise ConfigError(role, [("templateRoot", f"{path} entry {index}: {where}: {first['msg']}")]) from exc
    return found


def unknown_profile(name: str, source: str, declared: Mapping[str, object]) -> str:
    """The message for an auth profile a template, step or endpoint names but the swarm does not declare."""
    known = f"declared: {', '.join(sorted(declared))}" if declared else "spec.auth declares none"
    return (
        f"auth profile {name!r}{source} is not declared ({known}); declare it under the Swarm's "
        f"spec.auth.{name}, or name a declared one"
    )


def auth_problems(config: CommonConfig) -> list[tuple[str, str]]:
    """Every SUT endpoint and every one of ``config.templates`` naming an auth profile the swarm does not
    declare, at its path (``sut.endpoints.<id>.auth``, ``templates[i].auth``: validate places them in the
    manifest)."""
    problems = [
        (f"sut.endpoints.{key}.auth", unknown_profile(e.auth, f" (of sut.endpoints.{key})", config.auth))
        for key, e in config.sut.endpoints.items()
        if e.auth is not None and e.auth not in config.auth
    ]
    problems += [
        (f"templates[{i}].auth", unknown_profile(t.auth, f" (of template {t.key!r})", config.auth))
        for i, t in enumerate(config.templates)
        if t.auth is not None and t.auth not in config.auth
    ]
    return problems


def endpoint_auth(config: CommonConfig, role: str, problems: list[tuple[str, str]] | None = None) -> EndpointAuth:
    """The auth profiles of ``config``'s SUT endpoints; raises :class:`ConfigError` with :func:`auth_problems`
    (and ``problems`` the role found itself), all at once."""
    found = [*auth_problems(config), *(problems or [])]
    if found:
        raise ConfigError(role, found)
    return EndpointAuth.of(config.sut.model_dump(mode="json")["endpoints"])
