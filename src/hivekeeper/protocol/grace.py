"""The worker's stop grace: how long a stopping worker lets items in flight finish.

Part of the pod contract between the operator and the workers: the worker reads
``HIVEKEEPER_STOP_GRACE_SECONDS`` to bound its shutdown, and the operator sizes the pod's
``terminationGracePeriodSeconds`` from the same variable, so Kubernetes never kills a worker that is
still finishing items. One parser for both, so they never disagree on what a value means.
"""

from __future__ import annotations

STOP_GRACE_VARIABLE = "HIVEKEEPER_STOP_GRACE_SECONDS"
DEFAULT_STOP_GRACE = 20.0
"""On SIGTERM, how long items in flight may finish: inside Kubernetes' default 30 s grace period, with
room for closing the connections."""
MAX_STOP_GRACE = 3600.0


def stop_grace(text: str) -> float | None:
    """``HIVEKEEPER_STOP_GRACE_SECONDS`` as seconds, or ``None`` when it is not 0..3600."""
    try:
        seconds = float(text)
    except ValueError:
        return None
    return seconds if 0 <= seconds <= MAX_STOP_GRACE else None
