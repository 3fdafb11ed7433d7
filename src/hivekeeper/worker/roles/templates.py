"""HTTP request templates from a ``templateRoot`` directory, shared by the roles that render them
(request-builder, http-sequence): one loader, one meaning of the files."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import yaml
from pydantic import ValidationError

from hivekeeper.api.roles import ConfigError
from hivekeeper.api.roles.common import CommonConfig
from hivekeeper.api.swarm import HttpTemplate
from hivekeeper.worker.auth_port import EndpointAuth


def load_template_dir(root: Path, role: str) -> list[HttpTemplate]:
    """Every template under ``root`` (``*.yaml``/``*.yml``/``*.json``, one template per file or a list);
    any unreadable or invalid file is a :class:`ConfigError` of ``role`` naming the file and the entry."""
    if not root.is_dir():
        raise ConfigError(role, [("templateRoot", f"{str(root)!r} is not a directory")])
    found: list[HttpTemplate] = []
    for path in sorted(p for p in root.rglob("*") if p.suffix in (".yaml", ".yml", ".json") and p.is_file()):
        try:
            document = yaml.safe_load(path.read_text())
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigError(role, [("templateRoot", f"{path}: cannot read: {exc}")]) from exc
        for index, entry in enumerate(document if isinstance(document, list) else [document]):
            try:
                found.append(HttpTemplate.model_validate(entry))
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


def endpoint_auth(config: CommonConfig, role: str) -> EndpointAuth:
    """The auth profiles of ``config``'s SUT endpoints; a profile the swarm does not declare is a
    :class:`ConfigError` naming the endpoint."""
    endpoints = config.sut.model_dump(mode="json")["endpoints"]
    for key, endpoint in endpoints.items():
        name = endpoint.get("auth")
        if name is not None and name not in config.auth:
            problem = unknown_profile(name, f" (of sut.endpoints.{key})", config.auth)
            raise ConfigError(role, [(f"sut.endpoints.{key}.auth", problem)])
    return EndpointAuth.of(endpoints)
