"""The Kubernetes pod types in the CRDs (spec.pod) are the ones of the Kubernetes release the bench's node runs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]


def test_the_vendored_pod_types_match_the_release_run_tools_k8s_types_py_to_update() -> None:
    checked = subprocess.run(
        [sys.executable, str(REPO / "tools" / "k8s_types.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert checked.returncode == 0, checked.stderr
