"""request-builder: turns a payload plus ``x-ph-call-id`` into an ``http.request`` step (a ``tcp.request`` for a
``protocol: TCP`` template).

Templates are keyed ``serviceId::callId``; ``x-ph-service-id`` on the item overrides the configured
``serviceId``. They come inline (the Swarm's ``templates`` and the role's own) or from
``templateRoot`` (every ``*.yaml``/``*.yml``/``*.json`` below it, one template per file or a list).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from hivekeeper.api.call_template import CallTemplate
from hivekeeper.api.result_rules import envelope_rules, rule_problems
from hivekeeper.api.roles import ConfigError
from hivekeeper.api.roles.common import CommonConfig
from hivekeeper.api.roles.request_builder.config import RequestBuilderConfig
from hivekeeper.protocol.workitem import CALL_ID_HEADER, SERVICE_ID_HEADER, WorkItem
from hivekeeper.templating.context import template_context
from hivekeeper.templating.helpers import uses_sequence
from hivekeeper.worker.roles.base import DropItem, Role, RoleDeps, RoleKind, Wiring
from hivekeeper.worker.roles.templates import endpoint_auth, load_template_dir, unknown_profile


class RequestBuilder:
    def __init__(self, config: RequestBuilderConfig, deps: RoleDeps) -> None:
        self.config = config
        self.deps = deps
        self._sut = config.sut.model_dump()
        templates = list(config.templates)
        if config.templateRoot:
            templates.extend(load_template_dir(Path(config.templateRoot), "request-builder"))
        self.templates: dict[str, CallTemplate] = {}
        self.rules: dict[str, dict[str, Any]] = {}
        """Each template's result rules as its requests carry them (the processor applies them)."""
        endpoint_auth(config, "request-builder")  # every template's (and endpoint's) profile is declared
        for index, template in enumerate(templates):
            where = f"templates[{index}]" if index < len(config.templates) else "templateRoot"
            if template.auth is not None and template.auth not in config.auth:  # one of templateRoot's
                problem = unknown_profile(template.auth, f" (of template {template.key!r})", config.auth)
                raise ConfigError("request-builder", [("templateRoot", problem)])
            if template.resultRules is not None:
                problems = rule_problems(template.resultRules)
                if problems:
                    raise ConfigError(
                        "request-builder",
                        [(f"{where}.resultRules.{p.path}", f"{p.message}; {p.fix}") for p in problems],
                    )
                self.rules[template.key] = envelope_rules(template.resultRules)
            self.templates[template.key] = template
            for name, source in self._sources(template).items():
                deps.engine.validate(name, source)
        self.missing = 0
        self.io_per_item = any(
            uses_sequence(source) for template in self.templates.values() for source in self._sources(template).values()
        )
        """True when a template calls ``sequence()`` (Redis in a cluster): then items wait on I/O, and the runtime runs
        them side by side; without, a work loop builds its requests without waiting for their confirms
        (``runtime.work``)."""

    @staticmethod
    def _sources(t: CallTemplate) -> dict[str, str]:
        found = {f"{t.key} method": t.method, f"{t.key} pathTemplate": t.pathTemplate}
        found.update({f"{t.key} headersTemplate.{k}": v for k, v in t.headersTemplate.items()})
        if t.bodyTemplate is not None:
            found[f"{t.key} bodyTemplate"] = t.bodyTemplate
        return found

    async def handle(self, item: WorkItem | None, seq: int) -> WorkItem | None:
        if item is None:
            raise DropItem("request-builder.no-item", "request-builder needs items from work.in, not a SCHEDULER")
        call_id = item.headers.get(CALL_ID_HEADER)
        if not call_id:
            raise DropItem(
                "request-builder.missing-call-id",
                f"item {item.messageId} has no {CALL_ID_HEADER} header; set it in the generator's message.headers",
            )
        service_id = item.headers.get(SERVICE_ID_HEADER) or self.config.serviceId
        key = f"{service_id}::{call_id}"
        template = self.templates.get(key)
        if template is None:
            self.missing += 1
            if self.config.passThroughOnMissingTemplate:
                return item
            known = ", ".join(sorted(self.templates)) or "none"
            raise DropItem(
                "request-builder.missing-template",
                f"no template {key!r} for item {item.messageId}; known templates: {known}",
            )
        context = template_context(item, self.config.vars, self._sut)
        if template.protocol == "TCP":
            envelope = await self._tcp_request(key, template, context)
        else:
            envelope = await self._http_request(key, template, context)
        rules = self.rules.get(key)
        if rules is not None:
            envelope["resultRules"] = rules
        return item.with_step(
            orjson.dumps(envelope).decode(),
            service=self.deps.role,
            instance=self.deps.instance,
            headers={"x-ph-template": key},
        )

    async def _http_request(self, key: str, template: CallTemplate, context: dict[str, Any]) -> dict[str, Any]:
        """An ``http.request`` step: method, path, headers, body and the auth profile's name."""
        engine = self.deps.engine
        request: dict[str, Any] = {
            "method": (await engine.render_async(f"{key} method", template.method, context)).upper(),
            "path": await engine.render_async(f"{key} pathTemplate", template.pathTemplate, context),
            "headers": {
                name: await engine.render_async(f"{key} headersTemplate.{name}", source, context)
                for name, source in template.headersTemplate.items()
            },
        }
        if template.bodyTemplate is not None:
            request["body"] = await engine.render_async(f"{key} bodyTemplate", template.bodyTemplate, context)
        if template.auth is not None:  # the profile's name only: the processor adds the credentials
            request["auth"] = template.auth
        return {"kind": "http.request", "request": request}

    async def _tcp_request(self, key: str, template: CallTemplate, context: dict[str, Any]) -> dict[str, Any]:
        """A ``tcp.request`` step: the rendered body and headers, the behaviour and its framing (docs/tcp.md)."""
        engine = self.deps.engine
        request: dict[str, Any] = {
            "behavior": template.tcp_behavior,
            "body": await engine.render_async(f"{key} bodyTemplate", template.bodyTemplate or "", context),
            "headers": {
                name: await engine.render_async(f"{key} headersTemplate.{name}", source, context)
                for name, source in template.headersTemplate.items()
            },
        }
        if template.endTag:
            request["endTag"] = template.endTag
        if template.maxBytes is not None:
            request["maxBytes"] = template.maxBytes
        return {"kind": "tcp.request", "request": request}

    def context(self) -> dict[str, Any]:
        return {
            "serviceId": self.config.serviceId,
            "templates": len(self.templates),
            "templateRoot": self.config.templateRoot,
            "missingTemplates": self.missing,
            "passThroughOnMissingTemplate": self.config.passThroughOnMissingTemplate,
        }


def build(config: CommonConfig, wiring: Wiring) -> Role:
    assert isinstance(config, RequestBuilderConfig)  # the registry pairs this factory with its config model
    return RequestBuilder(config, wiring.deps)


KIND = RoleKind(build)
