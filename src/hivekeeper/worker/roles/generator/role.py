"""generator: renders one message per tick (SCHEDULER) or per incoming item.

SIMPLE: the rendered body is the payload and the rendered headers merge into the item headers (that
is how a generator picks ``x-ph-call-id``). HTTP: the payload is an ``http.request`` envelope built
from ``message.method/path/headers/body``, ready for a processor.
"""

from __future__ import annotations

from typing import Any

import orjson

from hivekeeper.api.roles.common import CommonConfig
from hivekeeper.api.roles.generator.config import GeneratorConfig
from hivekeeper.protocol.workitem import CORRELATION_HEADER, WorkItem, new_item, new_message_id
from hivekeeper.templating.context import template_context
from hivekeeper.templating.helpers import uses_sequence
from hivekeeper.worker.roles.base import Role, RoleDeps, RoleKind, Wiring


class Generator:
    def __init__(self, config: GeneratorConfig, deps: RoleDeps) -> None:
        self.config = config
        self.deps = deps
        self._sut = config.sut.model_dump()
        self._vars = config.vars
        message = config.message
        # Compile now so that a broken template is rejected at config time, not per item; the probe render
        # uses the context of a scheduler tick, exactly what each tick renders with.
        tick = template_context(None, self._vars, self._sut)
        for key, source in self._templates().items():
            deps.engine.validate(key, source, tick)
        self._literal_headers = all("{" not in v for v in message.headers.values())
        self.io_per_item = any(uses_sequence(source) for source in self._templates().values())
        """True when a template calls ``sequence()`` (Redis in a cluster): then items wait on I/O, and the runtime runs
        them side by side; without, a work loop makes its items without waiting for their confirms
        (``runtime.work``)."""

    def _templates(self) -> dict[str, str]:
        m = self.config.message
        found = {"message.body": m.body, "message.path": m.path, "message.method": m.method}
        found.update({f"message.headers.{k}": v for k, v in m.headers.items()})
        return found

    async def handle(self, item: WorkItem | None, seq: int) -> WorkItem | None:
        engine = self.deps.engine
        message = self.config.message
        # The item made here carries this correlation id, so templates print the id its request will carry.
        message_id = new_message_id()
        correlation_id = item.correlation_id if item is not None else message_id
        context = template_context(item, self._vars, self._sut, correlation_id)
        body = await engine.render_async("message.body", message.body, context)
        headers: dict[str, Any] = dict(item.headers) if item is not None else {}
        headers[CORRELATION_HEADER] = correlation_id
        headers["x-ph-seq"] = seq
        if message.headers:
            if self._literal_headers:
                headers.update(message.headers)
            else:
                for name, source in message.headers.items():
                    headers[name] = await engine.render_async(f"message.headers.{name}", source, context)
        if self._vars:
            headers["vars"] = self._vars
        if message.bodyType == "HTTP":
            envelope = {
                "kind": "http.request",
                "request": {
                    "method": await engine.render_async("message.method", message.method, context),
                    "path": await engine.render_async("message.path", message.path, context),
                    "headers": {k: v for k, v in headers.items() if isinstance(v, str)},
                    "body": body,
                },
            }
            body = orjson.dumps(envelope).decode()
        return new_item(
            body,
            swarm=self.deps.swarm,
            service=self.deps.role,
            instance=self.deps.instance,
            headers=headers,
            message_id=message_id,
        )

    def context(self) -> dict[str, Any]:
        return {"bodyType": self.config.message.bodyType}


def build(config: CommonConfig, wiring: Wiring) -> Role:
    assert isinstance(config, GeneratorConfig)  # the registry pairs this factory with its config model
    return Generator(config, wiring.deps)


KIND = RoleKind(build)
