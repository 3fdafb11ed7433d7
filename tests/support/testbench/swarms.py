"""The small Swarm the e2e tests apply: a generator feeding a processor that calls the SUT."""

from __future__ import annotations

from typing import Any


def two_stage_swarm(
    name: str, sut_url: str, rate: float, *, path: str = "/hello", callers: int = 1, threads: int = 2
) -> dict[str, Any]:
    """``feeder`` (``rate`` GET ``path`` items/s) -> ``callers`` replicas of ``caller`` against ``sut_url``."""
    return {
        "apiVersion": "hivekeeper.io/v1alpha1",
        "kind": "Swarm",
        "metadata": {"name": name},
        "spec": {
            "sut": {"endpoints": {"default": {"baseUrl": sut_url}}},
            "roles": [
                {
                    "name": "feeder",
                    "role": "generator",
                    "work": {"out": "call"},
                    "config": {
                        "inputs": {"scheduler": {"ratePerSec": rate}},
                        "message": {"bodyType": "HTTP", "method": "GET", "path": path},
                    },
                },
                {
                    "name": "caller",
                    "role": "processor",
                    "replicas": callers,
                    "work": {"in": "call"},
                    "config": {"baseUrl": "{{ sut.endpoints.default.baseUrl }}", "threadCount": threads},
                },
            ],
        },
    }
