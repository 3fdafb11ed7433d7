"""The worker's health contract with its pod: probe paths and the termination message.

Part of the pod contract between the operator and the workers, like ``grace``: the operator points the
liveness and readiness probes of every worker pod at these paths on the metrics port, and reads back, from
the container's ``lastState.terminated.message``, why a worker ended. A worker writes that message itself
(to ``TERMINATION_LOG``) when it knows why: a fatal start error, or the health check that is about to get
it restarted. Otherwise the kubelet falls back to the tail of its log (``terminationMessagePolicy:
FallbackToLogsOnError``), whose last line is then the reason shown.
"""

from __future__ import annotations

LIVENESS_PATH = "/livez"
"""200 while the event loop turns and the control connection is up (or lost for less than its bound); 503
with the reason otherwise."""
READINESS_PATH = "/readyz"
"""200 once the worker runs (config applied, control connection up); 503 with the reason otherwise."""

TERMINATION_LOG = "/dev/termination-log"
"""Where Kubernetes reads a container's termination message (the pod's ``terminationMessagePath``)."""
TERMINATION_LOG_VARIABLE = "HIVEKEEPER_TERMINATION_LOG"
"""Overrides ``TERMINATION_LOG`` (tests and local runs; '' disables writing one)."""
MAX_TERMINATION_MESSAGE = 4096
"""The kubelet keeps at most 4096 bytes of a termination message; a worker never writes more."""

UNHEALTHY_PREFIX = "unhealthy: "
"""A termination message starting with this was written by the worker's health check just before its
liveness probe failed (``unhealthy: event loop has not turned for 31.2 s``): the kubelet restarted it."""
FATAL_PREFIX = "fatal: "
"""A termination message starting with this was written by a worker that stopped on an error it named
(``fatal: bootstrap config rejected: ...``)."""
