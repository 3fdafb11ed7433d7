"""What a failing e2e test shows about its pods: the same things a person would look at, through kubectl.

``kubectl get pods -o wide``, the pods' container states (waiting/terminated reasons, restarts), the last
log lines of every container (and of the previous run of a restarted one), and the namespace's events,
oldest first. Used in assertion messages, so a red test says why a pod did not do its job.
"""

from __future__ import annotations

import json
from pathlib import Path

from testbench.kube import run_kubectl

LOG_LINES = 15


def pods_report(kubeconfig: Path, namespace: str, *, selector: str | None = None) -> str:
    selection = ["-l", selector] if selector else []
    parts = [f"--- pods in {namespace}"]
    listed = run_kubectl(kubeconfig, "get", "pods", "-n", namespace, "-o", "wide", *selection)
    parts.append(listed.stdout.strip() or listed.stderr.strip())
    as_json = run_kubectl(kubeconfig, "get", "pods", "-n", namespace, "-o", "json", *selection)
    try:
        pods = json.loads(as_json.stdout).get("items", [])
    except ValueError:
        pods = []
    for pod in pods:
        name = pod["metadata"]["name"]
        status = pod.get("status", {})
        conditions = [
            {k: c[k] for k in ("type", "status", "reason", "message") if c.get(k)} for c in status.get("conditions", [])
        ]
        parts.append(
            f"{name}: phase={status.get('phase')} reason={status.get('reason', '')!r} "
            f"message={status.get('message', '')!r} conditions={json.dumps(conditions)}"
        )
        for status in pod.get("status", {}).get("containerStatuses", []) or []:
            state = status.get("state", {})
            last = status.get("lastState", {})
            parts.append(
                f"{name}/{status['name']}: restarts={status.get('restartCount')} state={json.dumps(state)}"
                + (f" last={json.dumps(last)}" if last else "")
            )
            logs = run_kubectl(kubeconfig, "logs", "-n", namespace, name, "-c", status["name"], f"--tail={LOG_LINES}")
            parts.append(f"  log: {(logs.stdout or logs.stderr).strip()}")
            if status.get("restartCount"):
                previous = run_kubectl(
                    kubeconfig, "logs", "-n", namespace, name, "-c", status["name"], "--previous", f"--tail={LOG_LINES}"
                )
                parts.append(f"  previous log: {(previous.stdout or previous.stderr).strip()}")
    events = run_kubectl(kubeconfig, "get", "events", "-n", namespace, "--sort-by=.lastTimestamp")
    parts.append(f"--- events in {namespace}\n{(events.stdout or events.stderr).strip()}")
    return "\n".join(parts)
