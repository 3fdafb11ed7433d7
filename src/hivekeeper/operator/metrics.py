"""The operator's Prometheus metrics: what it reconciled, what it pushed, how fast workers acknowledged.

One private registry (no process or platform collectors from other libraries sneak in), served by
``prometheus_client``'s own HTTP server on ``--metrics-port``. Counters are bumped at the edges
(handlers and the event consumer), never per work item: the operator is not on the hot path.
"""

from __future__ import annotations

import logging

from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server

REGISTRY = CollectorRegistry(auto_describe=True)

RECONCILES = Counter(
    "hivekeeper_operator_reconciles",
    "Reconciles run, by resource kind and result (ok, retry, error).",
    ["kind", "result"],
    registry=REGISTRY,
)
CONFIG_PUSHES = Counter(
    "hivekeeper_operator_config_pushes",
    "signal.config-update messages published: 'change' for a new generation to every instance, "
    "'resend' for one instance that reports an older generation.",
    ["reason"],
    registry=REGISTRY,
)
CONFIG_ACK_SECONDS = Histogram(
    "hivekeeper_operator_config_ack_seconds",
    "Seconds from publishing a config generation to an instance's Applied outcome for it.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
    registry=REGISTRY,
)
CONFIG_REFUSALS = Counter(
    "hivekeeper_operator_config_refusals",
    "Failed config-update outcomes: an instance refused a generation and kept its old config.",
    registry=REGISTRY,
)
EVENTS = Counter(
    "hivekeeper_operator_events",
    "Worker events consumed from the control exchange, by kind (metric, outcome, alert, malformed).",
    ["kind"],
    registry=REGISTRY,
)
KUBE_EVENTS = Counter(
    "hivekeeper_operator_kube_events",
    "Kubernetes Events about Swarms and WorkerRoles, by result: created, patched (a repeat: count bumped), "
    "dropped (the object's spam filter) or failed (the API server refused; logged).",
    ["result"],
    registry=REGISTRY,
)
ROLL_UPS = Counter(
    "hivekeeper_operator_roll_ups",
    "Status roll-ups run by the timers, by resource kind; stops growing for a kind once its objects are deleted.",
    ["kind"],
    registry=REGISTRY,
)
STATUS_PATCHES = Counter(
    "hivekeeper_operator_status_patches",
    "Status patches sent to the API server, by resource kind; unchanged statuses are not patched.",
    ["kind"],
    registry=REGISTRY,
)


_SERVING: dict[int, int] = {}
"""Requested port -> bound port, for each server started in this process."""
AUTO = -1
"""``--metrics-port auto``: the kernel picks a free port when the server binds, and the operator logs it."""


def serve(port: int, address: str = "0.0.0.0") -> int | None:
    """Serve ``/metrics`` on ``port`` in a background thread (0 disables; ``AUTO`` binds a port the kernel
    picks) and return the bound port. Safe to call again (kopf retries a failed startup handler): the server is
    started once per requested port."""
    if not port:
        return None
    if port not in _SERVING:
        server, _ = start_http_server(0 if port == AUTO else port, addr=address, registry=REGISTRY)
        _SERVING[port] = int(server.server_port)
        logging.getLogger(__name__).info("serving /metrics on port %d", _SERVING[port])
    return _SERVING[port]
