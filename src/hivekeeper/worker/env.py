"""The environment contract of a worker container (set by the operator on every pod).

Reading it fails fast and names *every* missing or malformed variable at once, so a broken pod
spec is fixed in one round trip instead of one variable per crash loop.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hivekeeper.errors import InvalidInput
from hivekeeper.protocol import naming
from hivekeeper.protocol.datasets import DATASET_DIR, DATASET_DIR_VARIABLE
from hivekeeper.protocol.grace import DEFAULT_STOP_GRACE, stop_grace
from hivekeeper.protocol.health import TERMINATION_LOG, TERMINATION_LOG_VARIABLE
from hivekeeper.worker import health
from hivekeeper.worker.termination import TerminationLog
from hivekeeper.worker.transports.rabbit.amqp.url import BrokerUrlError
from hivekeeper.worker.transports.rabbit.amqp.url import parse as parse_broker_url

PREFIX = "HIVEKEEPER_"

VARIABLES: dict[str, str] = {
    "HIVEKEEPER_SWARM_ID": "swarm id (`<namespace>_<name>`)",
    "HIVEKEEPER_ROLE": "stage name in the Swarm (e.g. caller)",
    "HIVEKEEPER_ROLE_KIND": "built-in role (generator, request-builder, processor, postprocessor)",
    "HIVEKEEPER_AMQP_URL": "RabbitMQ URL, from a Secret via secretKeyRef (query options: docs/operations.md)",
}
OPTIONAL: dict[str, str] = {
    "HIVEKEEPER_INSTANCE": "instance name (default: HOSTNAME, the pod name)",
    "HIVEKEEPER_WORK_IN": "queue alias this worker consumes",
    "HIVEKEEPER_WORK_OUT": "queue alias this worker publishes to",
    "HIVEKEEPER_CONFIG": "bootstrap config as JSON (or HIVEKEEPER_CONFIG_FILE)",
    "HIVEKEEPER_CONFIG_FILE": "path of a JSON/YAML bootstrap config",
    "HIVEKEEPER_REDIS_URL": "Redis URL, when the config needs Redis",
    "HIVEKEEPER_RUN_ID": "run id reported in status",
    "HIVEKEEPER_METRICS_PORT": "port of /metrics, /livez and /readyz (default 9464; 0 disables)",
    health.LOOP_STALL_VARIABLE: "seconds the event loop may not turn before /livez fails "
    f"(default {health.DEFAULT_LOOP_STALL:g}; {health.LOOP_STALL_RANGE[0]:g} to {health.LOOP_STALL_RANGE[1]:g})",
    health.CONTROL_LOSS_VARIABLE: "seconds the control connection may stay lost before /livez fails "
    f"(default {health.DEFAULT_CONTROL_LOSS:g}; {health.CONTROL_LOSS_RANGE[0]:g} to {health.CONTROL_LOSS_RANGE[1]:g})",
    TERMINATION_LOG_VARIABLE: f"where the termination message is written (default {TERMINATION_LOG} when it exists; "
    "'' writes none)",
    "HIVEKEEPER_STATUS_INTERVAL": "seconds between status-delta reports (default 5)",
    "HIVEKEEPER_STOP_GRACE_SECONDS": "on SIGTERM, seconds items in flight may finish (default 20; 0 stops at once)",
    "HIVEKEEPER_SIGNAL_KEY": "the operator's public key (base64): only its signed signals are obeyed (set by it)",
    "HIVEKEEPER_DATASET_DIR": "where a relative inputs.csv.filePath is read (default /etc/hivekeeper/datasets)",
    "HIVEKEEPER_REDACT": "more header/field names to redact in logs, captures and messages (comma-separated)",
    "HIVEKEEPER_CONTROL_EXCHANGE": f"control exchange (default {naming.CONTROL_EXCHANGE}; PocketHive's: "
    f"{naming.POCKETHIVE_CONTROL_EXCHANGE})",
    "HIVEKEEPER_WORK_EXCHANGE": f"work exchange, {{swarm}} standing for the swarm id (default {naming.WORK_EXCHANGE}; "
    f"PocketHive's: {naming.POCKETHIVE_WORK_EXCHANGE})",
}


NO_TERMINATION_LOG = TerminationLog(None)


class EnvError(InvalidInput, ValueError):
    """The container environment is incomplete; the message lists every problem."""


@dataclass(frozen=True)
class WorkerEnv:
    swarm: str
    role: str
    kind: str
    instance: str
    amqp_url: str
    work_in: str | None
    work_out: str | None
    config: dict[str, Any]
    redis_url: str | None
    run_id: str
    metrics_port: int
    status_interval: float
    stop_grace: float = DEFAULT_STOP_GRACE
    exchanges: naming.Exchanges = naming.DEFAULT_EXCHANGES
    dataset_dir: Path = Path(DATASET_DIR)
    """Where a relative ``inputs.csv.filePath`` is read (the mounted ConfigMap in a pod)."""
    health_bounds: health.Bounds = health.DEFAULT_BOUNDS
    """When ``/livez`` fails: the event loop's stall and the control connection's loss it tolerates."""
    termination_log: TerminationLog = NO_TERMINATION_LOG
    """Where the worker writes why it ends (``worker.termination``)."""

    def __repr__(self) -> str:  # never show the URLs: they carry credentials
        return f"WorkerEnv(swarm={self.swarm!r}, role={self.role!r}, kind={self.kind!r}, instance={self.instance!r})"

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> WorkerEnv:
        problems = [f"{name} is not set: {meaning}" for name, meaning in VARIABLES.items() if not environ.get(name)]
        instance = environ.get("HIVEKEEPER_INSTANCE") or environ.get("HOSTNAME") or ""
        if not instance:
            problems.append("HIVEKEEPER_INSTANCE is not set and neither is HOSTNAME: set one to the pod name")
        for name, value, what in (
            ("HIVEKEEPER_SWARM_ID", environ.get("HIVEKEEPER_SWARM_ID"), "swarmId"),
            ("HIVEKEEPER_ROLE", environ.get("HIVEKEEPER_ROLE"), "role"),
            ("HIVEKEEPER_WORK_IN", environ.get("HIVEKEEPER_WORK_IN"), "queue alias"),
            ("HIVEKEEPER_WORK_OUT", environ.get("HIVEKEEPER_WORK_OUT"), "queue alias"),
        ):
            if value:
                try:
                    naming.segment(value, what)
                except naming.InvalidName as exc:
                    problems.append(f"{name}: {exc}")
        if url := environ.get("HIVEKEEPER_AMQP_URL"):
            try:
                parse_broker_url(url).ssl_context()  # amqps: the CA and client certificate files load
            except BrokerUrlError as exc:  # the message never holds the password
                problems.append(f"HIVEKEEPER_AMQP_URL: {exc}")
        config, config_problem = _config(environ)
        if config_problem:
            problems.append(config_problem)
        port, interval = environ.get("HIVEKEEPER_METRICS_PORT", "9464"), environ.get("HIVEKEEPER_STATUS_INTERVAL", "5")
        if not port.isdigit() or int(port) > 65535:
            problems.append(f"HIVEKEEPER_METRICS_PORT={port!r} is not a port number (0 disables metrics)")
        try:
            seconds = float(interval)
            if seconds <= 0:
                raise ValueError
        except ValueError:
            problems.append(f"HIVEKEEPER_STATUS_INTERVAL={interval!r} must be a positive number of seconds")
            seconds = 5.0
        grace_text = environ.get("HIVEKEEPER_STOP_GRACE_SECONDS", str(DEFAULT_STOP_GRACE))
        grace = stop_grace(grace_text)
        if grace is None:
            problems.append(
                f"HIVEKEEPER_STOP_GRACE_SECONDS={grace_text!r} must be a number of seconds from 0 to 3600 "
                f"(default {DEFAULT_STOP_GRACE:g})"
            )
            grace = DEFAULT_STOP_GRACE
        exchanges = _exchanges(environ, problems)
        bounds = _health_bounds(environ, problems)
        if problems:
            raise EnvError("the worker cannot start; fix its environment:\n  " + "\n  ".join(problems))
        swarm = environ["HIVEKEEPER_SWARM_ID"]
        work_in, work_out = environ.get("HIVEKEEPER_WORK_IN"), environ.get("HIVEKEEPER_WORK_OUT")
        return cls(
            swarm=swarm,
            role=environ["HIVEKEEPER_ROLE"],
            kind=environ["HIVEKEEPER_ROLE_KIND"],
            instance=instance,
            amqp_url=environ["HIVEKEEPER_AMQP_URL"],
            work_in=naming.work_queue(swarm, work_in) if work_in else None,
            work_out=naming.work_routing_key(swarm, work_out) if work_out else None,
            config=config,
            redis_url=environ.get("HIVEKEEPER_REDIS_URL") or None,
            run_id=environ.get("HIVEKEEPER_RUN_ID", ""),
            metrics_port=int(port),
            status_interval=seconds,
            stop_grace=grace,
            exchanges=exchanges,
            dataset_dir=Path(environ.get(DATASET_DIR_VARIABLE) or DATASET_DIR),
            health_bounds=bounds,
            termination_log=TerminationLog.from_environ(environ),
        )


def _health_bounds(environ: Mapping[str, str], problems: list[str]) -> health.Bounds:
    """The liveness bounds the environment sets (the defaults when unset); a bad one is added to ``problems``."""
    chosen: list[float] = []
    for name, default, (low, high) in (
        (health.LOOP_STALL_VARIABLE, health.DEFAULT_LOOP_STALL, health.LOOP_STALL_RANGE),
        (health.CONTROL_LOSS_VARIABLE, health.DEFAULT_CONTROL_LOSS, health.CONTROL_LOSS_RANGE),
    ):
        text = environ.get(name) or f"{default:g}"
        seconds = health.seconds_in(text, (low, high))
        if seconds is None:
            problems.append(
                f"{name}={text!r} must be a number of seconds from {low:g} to {high:g} (default {default:g})"
            )
        chosen.append(default if seconds is None else seconds)
    return health.Bounds(loop_stall=chosen[0], control_loss=chosen[1])


def _exchanges(environ: Mapping[str, str], problems: list[str]) -> naming.Exchanges:
    """The exchange names the environment sets (ours when unset); a bad one is added to ``problems``."""
    try:
        return naming.Exchanges(
            control=environ.get("HIVEKEEPER_CONTROL_EXCHANGE") or naming.CONTROL_EXCHANGE,
            work=environ.get("HIVEKEEPER_WORK_EXCHANGE") or naming.WORK_EXCHANGE,
        )
    except naming.InvalidName as exc:
        problems.append(f"HIVEKEEPER_CONTROL_EXCHANGE / HIVEKEEPER_WORK_EXCHANGE: {exc}")
        return naming.DEFAULT_EXCHANGES


def _config(environ: Mapping[str, str]) -> tuple[dict[str, Any], str | None]:
    text, source = environ.get("HIVEKEEPER_CONFIG"), "HIVEKEEPER_CONFIG"
    path = environ.get("HIVEKEEPER_CONFIG_FILE")
    if path and not text:
        try:
            text, source = Path(path).read_text(), f"HIVEKEEPER_CONFIG_FILE ({path})"
        except OSError as exc:
            return {}, f"HIVEKEEPER_CONFIG_FILE={path!r} cannot be read: {exc.strerror}"
    if not text:
        return {}, None
    try:
        import yaml

        value = yaml.safe_load(text) if source != "HIVEKEEPER_CONFIG" else json.loads(text)
    except (ValueError, Exception) as exc:  # yaml errors are not ValueErrors
        return {}, f"{source} is not valid {'JSON' if source == 'HIVEKEEPER_CONFIG' else 'YAML'}: {exc}"
    if not isinstance(value, dict):
        return {}, f"{source} must be an object of config keys, got {type(value).__name__}"
    return value, None
