"""A role's real worker, built offline (no broker, no Redis, nothing moves) so that every check its
constructors make runs: templates compile, baseUrl renders, steps have templates, Redis routes compile.

Building a worker compiles all its templates, the slowest part of a check; the problems it finds depend only
on the stage and its config, so they are kept (LRU) for the next check of the same config: an admission
review of an edited Swarm rebuilds only the roles whose config changed.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from hivekeeper.api.roles import ConfigError
from hivekeeper.templating.engine import TemplateError

CACHE_SIZE = 256
"""Build outcomes kept: enough for every role of the Swarms an operator admits."""


@dataclass(frozen=True)
class Stage:
    """Who the worker would be: the identity its constructors see."""

    swarm: str
    role: str
    kind: str
    work_in: str | None
    work_out: str | None


@dataclass(frozen=True)
class BuildProblem:
    """One problem of building the worker: at a config key, or in a template the worker names."""

    key: str
    """The config key as the worker names it (``request.path``); empty for a template problem."""
    message: str
    template: str | None = None
    """The template as the worker names it (``cards::topup bodyTemplate``) when a template failed."""


_outcomes: OrderedDict[str, tuple[BuildProblem, ...]] = OrderedDict()
_lock = threading.Lock()


def build_problems(stage: Stage, config: dict[str, Any]) -> tuple[BuildProblem, ...]:
    """What building ``stage``'s worker with ``config`` refuses (nothing when it builds)."""
    key = json.dumps(
        [stage.swarm, stage.role, stage.kind, stage.work_in, stage.work_out, config], sort_keys=True, default=repr
    )
    with _lock:
        known = _outcomes.get(key)
        if known is not None:
            _outcomes.move_to_end(key)
            return known
    outcome = _build(stage, config)
    with _lock:
        _outcomes[key] = outcome
        if len(_outcomes) > CACHE_SIZE:
            _outcomes.popitem(last=False)
    return outcome


def _build(stage: Stage, config: dict[str, Any]) -> tuple[BuildProblem, ...]:
    from hivekeeper.worker.auth.secrets import SecretReader
    from hivekeeper.worker.identity import Identity
    from hivekeeper.worker.runtime.worker import Worker
    from hivekeeper.worker.transports.memory import MemoryStore

    identity = Identity(
        swarm=stage.swarm,
        role=stage.role,
        kind=stage.kind,
        instance=f"{stage.role}-validate",
        work_in=stage.work_in,
        work_out=stage.work_out,
    )
    try:
        worker = Worker(
            identity, config, _OfflineTransports(), store=MemoryStore(), secrets=SecretReader.for_validation()
        )
    except ConfigError as exc:
        return tuple(BuildProblem(relative, message) for relative, message in exc.problems)
    except TemplateError as exc:
        return (BuildProblem("", str(exc), template=exc.template),)
    if worker.http is not None:
        worker.http.close()
    worker.auth.close()
    return ()


class _OfflineTransports:
    """Transports that never move anything: a Worker is built only so that its constructors check its config."""

    def __init__(self) -> None:
        from hivekeeper.worker.transports.memory import MemoryBroker, MemoryControlBus

        self._broker = MemoryBroker()
        self.control = MemoryControlBus(self._broker, "validate")

    def source(self, identity: Any, prefetch: int) -> Any:
        from hivekeeper.worker.inputs.memory import MemorySource

        return MemorySource(self._broker.declare_queue(identity.work_in or "validate"))

    def sink(self, identity: Any) -> Any:
        from hivekeeper.worker.outputs.memory import MemorySink

        return MemorySink(self._broker, "validate", identity.work_out or "validate")

    def dead_letters(self, identity: Any) -> Any:
        from hivekeeper.worker.outputs.memory import MemoryDeadLetters

        return MemoryDeadLetters()

    async def queue_depth(self, queue: str) -> int:
        return 0
