"""The helm command of the bench: built from its Go module (tests/support/helm) like the control plane."""

from __future__ import annotations

import subprocess
from pathlib import Path

from testbench.gobuild import HELM


def helm() -> Path:
    """The helm binary built from the pinned helm.sh/helm/v3 module (``make bench-install`` builds it)."""
    return HELM.binaries()[0]


def run_helm(*args: str, kubeconfig: Path | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run the bench's helm (against ``kubeconfig`` when given); the result is returned, never raised.

    helm keeps no state outside the cluster here: its cache, config and data directories are left to
    its defaults, which only hold repositories and plugins (neither is used).
    """
    command = [str(helm()), *args]
    if kubeconfig is not None:
        command.append(f"--kubeconfig={kubeconfig}")
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
