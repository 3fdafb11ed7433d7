"""The operator's settings: read once from the environment into one typed object.

This is the only module of the operator that reads ``os.environ``. Everything else gets a
:class:`Settings` (or the parts of it it needs): the handlers build the runtime from it at startup and
the unit tests build one by hand. The waits and bounds of the reconcile loops live here too
(:class:`Timing`), as code defaults: they are not environment variables, but the tests shrink them.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pydantic

from hivekeeper.operator import policy
from hivekeeper.operator.errors import SettingsError
from hivekeeper.operator.manifests import DEFAULT_RESOURCES, WorkerDefaults
from hivekeeper.protocol import naming


@dataclass(frozen=True)
class Timing:
    """How long the operator waits for things, and how often it tries."""

    startup_grace: float = 6.0
    """Seconds after start during which a role nobody has reported on yet keeps its previous status."""
    ordering_timeout: float = 15.0
    """How long a pause or resume waits for the first group of roles before moving on to the second."""
    ordering_poll: float = 0.2
    ack_wait: float = 3.0
    """How long a reconcile waits for every known instance to acknowledge a push before leaving it to the timer."""
    ack_poll: float = 0.02
    disable_timeout: float = 10.0
    """How long a Swarm's deletion waits for its workers to report themselves disabled before deleting queues."""
    disable_poll: float = 0.1
    cleanup_attempts: int = 6
    """Attempts at deleting a Swarm's queues before its deletion finishes without them."""
    cleanup_retry_delay: float = 5.0


@dataclass(frozen=True)
class Settings:
    """Everything the operator reads from its environment (the Helm chart sets these)."""

    amqp_url: str
    """``HIVEKEEPER_AMQP_URL``: the broker the operator declares queues on and signals workers through."""
    in_cluster: bool = False
    """``KUBERNETES_SERVICE_HOST`` is set: use the pod's service account, not a kubeconfig."""
    kubeconfig: Path = field(default_factory=lambda: Path.home() / ".kube" / "config")
    """``KUBECONFIG`` (default ``~/.kube/config``), outside a cluster."""
    signing_seed: str = ""
    """``HIVEKEEPER_SIGNING_KEY``: the seed of the key signals are signed with; '' sends them unsigned."""
    worker_image: str = WorkerDefaults.image
    """``HIVEKEEPER_WORKER_IMAGE``: the image of built-in roles."""
    broker_secret: str = WorkerDefaults.secret_name
    """``HIVEKEEPER_BROKER_SECRET``: the Secret workers read broker and Redis URLs from by default."""
    worker_resources: Mapping[str, Any] = field(default_factory=lambda: dict(DEFAULT_RESOURCES))
    """``HIVEKEEPER_WORKER_RESOURCES`` (JSON): requests and limits of a role without ``resources``."""
    exchanges: naming.Exchanges = naming.DEFAULT_EXCHANGES
    """``HIVEKEEPER_CONTROL_EXCHANGE`` and ``HIVEKEEPER_WORK_EXCHANGE`` (Helm ``exchanges``): the exchange names,
    told to every worker pod too."""
    policy: policy.Policy = field(default_factory=policy.Policy)
    """``HIVEKEEPER_POLICY`` (JSON): what Swarm authors may ask for (see :mod:`hivekeeper.operator.policy`)."""
    timing: Timing = field(default_factory=Timing)

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> Settings:
        """Read and check every variable; one :class:`SettingsError` names each that is wrong, and the fix."""
        problems: list[str] = []
        url = environ.get("HIVEKEEPER_AMQP_URL", "").strip()
        if not url:
            problems.append("HIVEKEEPER_AMQP_URL is not set: give the operator the broker URL (amqp://user:pass@host)")
        resources: Mapping[str, Any] = dict(DEFAULT_RESOURCES)
        resources_text = environ.get("HIVEKEEPER_WORKER_RESOURCES", "").strip()
        if resources_text:
            try:
                resources = orjson.loads(resources_text)
            except orjson.JSONDecodeError as exc:
                problems.append(f"HIVEKEEPER_WORKER_RESOURCES is not JSON ({exc}); set it to requests/limits as JSON")
        rules = policy.Policy()
        try:
            rules = policy.parse(environ.get("HIVEKEEPER_POLICY"))
        except pydantic.ValidationError as exc:
            problems.append(f"HIVEKEEPER_POLICY is not a valid operator policy: {exc}")
        exchanges = naming.DEFAULT_EXCHANGES
        try:
            exchanges = naming.Exchanges(
                control=environ.get("HIVEKEEPER_CONTROL_EXCHANGE", "").strip() or naming.CONTROL_EXCHANGE,
                work=environ.get("HIVEKEEPER_WORK_EXCHANGE", "").strip() or naming.WORK_EXCHANGE,
            )
        except naming.InvalidName as exc:
            problems.append(f"HIVEKEEPER_CONTROL_EXCHANGE / HIVEKEEPER_WORK_EXCHANGE: {exc} (Helm values `exchanges`)")
        if problems:
            raise SettingsError("the operator cannot start; fix its environment:\n  " + "\n  ".join(problems))
        kubeconfig = environ.get("KUBECONFIG") or str(Path.home() / ".kube" / "config")
        return cls(
            amqp_url=url,
            in_cluster=bool(environ.get("KUBERNETES_SERVICE_HOST")),
            kubeconfig=Path(kubeconfig),
            signing_seed=environ.get("HIVEKEEPER_SIGNING_KEY", "").strip(),
            worker_image=environ.get("HIVEKEEPER_WORKER_IMAGE", WorkerDefaults.image),
            broker_secret=environ.get("HIVEKEEPER_BROKER_SECRET", WorkerDefaults.secret_name),
            worker_resources=resources,
            exchanges=exchanges,
            policy=rules,
        )

    def worker_defaults(self, signal_key: str) -> WorkerDefaults:
        """What the operator adds to every worker pod; ``signal_key`` is the public half of the signing key."""
        return WorkerDefaults(
            image=self.worker_image,
            secret_name=self.broker_secret,
            resources=self.worker_resources,
            signal_key=signal_key,
            exchanges=self.exchanges,
        )


@functools.cache
def from_environment() -> Settings:
    """The process's settings, read from ``os.environ`` on first use and kept (kopf's startup and login
    handlers both need them)."""
    return Settings.from_environ(os.environ)
