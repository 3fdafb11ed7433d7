"""Python Kubernetes clients side by side: what importing each costs the operator, and decoding a list of Pods
into its typed models (decision 0010).

    python bench/kube_clients.py [--python PATH] [--repeat 5] [--pods 100]

The candidates are not project dependencies: install them into a throwaway virtualenv and pass its
interpreter, for example

    python3.11 -m venv /tmp/kube-clients && /tmp/kube-clients/bin/pip install kubernetes kubernetes_asyncio \\
        lightkube kopf
    .venv/bin/python bench/kube_clients.py --python /tmp/kube-clients/bin/python

Each measurement runs in a fresh interpreter that imports kopf and then what the operator needs from the
client (an asyncio client, kubeconfig loading, API errors, Pod, Deployment, our custom resources), with the
other candidates hidden: ``import kopf`` itself imports ``kubernetes`` and ``kubernetes_asyncio`` when they
are installed, so each row is what the operator would pay with only that client installed. "RSS" is the
interpreter's resident memory after the imports minus before (``/proc/self/status``), "decode" the CPU time to
turn one PodList JSON body of ``--pods`` Pods into the client's typed objects. Candidates not installed in that
interpreter are reported as such. Medians of ``--repeat`` runs; no network, no cluster.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from typing import Any

# What each client needs imported to do the operator's work (operator/effects.py does it with lightkube).
CANDIDATES: dict[str, tuple[str, str]] = {
    "kopf alone": ("", "decode = None\n"),
    "lightkube": (
        "from lightkube import ApiError, AsyncClient, KubeConfig\n"
        "from lightkube.codecs import from_dict\n"
        "from lightkube.generic_resource import create_namespaced_resource\n"
        "from lightkube.resources.core_v1 import Pod\n"
        "from lightkube.resources.apps_v1 import Deployment\n",
        "from lightkube.models.core_v1 import PodList\ndecode = lambda body: PodList.from_dict(json.loads(body))\n",
    ),
    "kubernetes (sync)": (
        "from kubernetes import client, config\n"
        "from kubernetes.client import ApiException, AppsV1Api, CoreV1Api, CustomObjectsApi, V1Deployment, V1Pod\n",
        "decode = lambda body: client.V1PodList.from_dict(json.loads(body))\n",
    ),
    "kubernetes.aio": (
        "from kubernetes.aio import client, config\n"
        "from kubernetes.aio.client import ApiException, AppsV1Api, CoreV1Api, CustomObjectsApi, V1Deployment, V1Pod\n",
        "decode = lambda body: client.V1PodList.from_dict(json.loads(body))\n",
    ),
    "kubernetes_asyncio": (
        "from kubernetes_asyncio import client, config\n"
        "from kubernetes_asyncio.client import ApiException, AppsV1Api, CoreV1Api, CustomObjectsApi\n"
        "from kubernetes_asyncio.client import V1Deployment, V1Pod\n",
        # What a list call does with the body (ApiClient.deserialize without the response object).
        "api = client.ApiClient()\ndecode = lambda body: api._ApiClient__deserialize(json.loads(body), 'V1PodList')\n",
    ),
}

CLIENT_MODULES = ("kubernetes", "kubernetes_asyncio", "pykube")
"""Top-level modules kopf looks for: ``import kopf`` imports any of these that is installed
(kopf._cogs.helpers.thirdparty), and logs in through it (kopf._core.intents.piggybacking)."""

PROBE = """
import asyncio, gc, importlib.abc, json, sys, time
class Absent(importlib.abc.MetaPathFinder):  # as if only the candidate were installed
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in {absent!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
sys.meta_path.insert(0, Absent())
def rss():
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS:")) / 1024
gc.collect()
modules, before = len(sys.modules), rss()
wall, cpu = time.perf_counter(), time.process_time()
import kopf
{imports}
wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
gc.collect()
grown, added = rss() - before, len(sys.modules) - modules
body = sys.stdin.read()
async def main():
    {decoder}
    if decode is None:
        return 0.0
    decode(body)
    samples = []
    for _ in range(5):
        started = time.process_time()
        decode(body)
        samples.append(time.process_time() - started)
    return min(samples)
decoded = asyncio.run(main())
print(json.dumps({{"import_ms": wall * 1e3, "import_cpu_ms": cpu * 1e3, "rss_mib": grown, "modules": added,
                  "decode_ms": decoded * 1e3}}))
"""


def pod(index: int) -> dict[str, Any]:
    """A worker Pod as the API server returns it (labels, owner, env, probes, status)."""
    name = f"hive-demo-processor-7d9f8b6c5-{index:05d}"
    return {
        "metadata": {
            "name": name,
            "namespace": "load",
            "uid": f"3f0c2a1e-0000-4000-8000-{index:012d}",
            "resourceVersion": str(100000 + index),
            "creationTimestamp": "2026-12-06T08:00:00Z",
            "labels": {"hivekeeper.io/swarm": "demo", "hivekeeper.io/role": "processor", "pod-template-hash": "x"},
            "annotations": {"hivekeeper.io/config-digest": "sha256:" + "0" * 64},
            "ownerReferences": [
                {
                    "apiVersion": "apps/v1",
                    "kind": "ReplicaSet",
                    "name": "hive-demo-processor-7d9f8b6c5",
                    "uid": "9a8b7c6d-0000-4000-8000-000000000001",
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "spec": {
            "containers": [
                {
                    "name": "worker",
                    "image": "hivekeeper/worker:dev",
                    "args": ["worker"],
                    "env": [{"name": f"HIVEKEEPER_VAR_{n}", "value": str(n)} for n in range(8)],
                    "ports": [{"name": "metrics", "containerPort": 9100, "protocol": "TCP"}],
                    "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}, "limits": {"memory": "256Mi"}},
                    "readinessProbe": {"httpGet": {"path": "/ready", "port": 9100}, "periodSeconds": 2},
                    "volumeMounts": [{"name": "broker", "mountPath": "/etc/hivekeeper/broker", "readOnly": True}],
                }
            ],
            "volumes": [{"name": "broker", "secret": {"secretName": "hivekeeper-broker"}}],
            "restartPolicy": "Always",
            "nodeName": "node-1",
        },
        "status": {
            "phase": "Running",
            "podIP": f"10.244.0.{index % 250 + 2}",
            "hostIP": "10.244.0.1",
            "startTime": "2026-12-06T08:00:01Z",
            "conditions": [
                {"type": kind, "status": "True", "lastTransitionTime": "2026-12-06T08:00:03Z"}
                for kind in ("Initialized", "Ready", "ContainersReady", "PodScheduled")
            ],
            "containerStatuses": [
                {
                    "name": "worker",
                    "ready": True,
                    "restartCount": 0,
                    "image": "hivekeeper/worker:dev",
                    "imageID": "sha256:" + "1" * 64,
                    "containerID": "containerd://" + "2" * 64,
                    "started": True,
                    "state": {"running": {"startedAt": "2026-12-06T08:00:02Z"}},
                }
            ],
        },
    }


def distribution(candidate: str) -> str:
    """``kubernetes.aio`` -> ``kubernetes``, ``kopf alone`` -> ``kopf``."""
    return candidate.partition(" ")[0].partition(".")[0]


def measure(python: str, name: str, body: str) -> dict[str, float] | str:
    imports, decoder = CANDIDATES[name]
    present = distribution(name)
    absent = sorted(module for module in CLIENT_MODULES if module != present)
    code = PROBE.format(absent=absent, imports=imports, decoder=decoder.replace("\n", "\n    "))
    done = subprocess.run([python, "-c", code], input=body, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["failed"])[-1]
        return "not installed" if "ModuleNotFoundError" in last else last
    result: dict[str, float] = json.loads(done.stdout)
    return result


def version(python: str, distribution: str) -> str:
    code = f"import importlib.metadata as m; print(m.version({distribution!r}))"
    done = subprocess.run([python, "-c", code], capture_output=True, text=True, check=False)
    return done.stdout.strip() or "-"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--python", default=sys.executable, help="the interpreter that has the candidates")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--pods", type=int, default=100)
    args = parser.parse_args()
    body = json.dumps(
        {
            "apiVersion": "v1",
            "kind": "PodList",
            "metadata": {"resourceVersion": "200000"},
            "items": [pod(n) for n in range(args.pods)],
        }
    )
    print(
        f"medians of {args.repeat} fresh interpreters: import kopf {version(args.python, 'kopf')} + the client; "
        f"decode: one PodList of {args.pods} Pods ({len(body) // 1024} KiB)\n"
    )
    print("| client | version | import (wall) | import (CPU) | RSS | modules | decode |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for name in CANDIDATES:
        outcomes = [measure(args.python, name, body) for _ in range(args.repeat)]
        failed = next((outcome for outcome in outcomes if isinstance(outcome, str)), None)
        if failed is not None:
            print(f"| {name} | - | {failed} | | | | |")
            continue
        runs = [outcome for outcome in outcomes if not isinstance(outcome, str)]

        def median(key: str, runs: list[dict[str, float]] = runs) -> float:
            return statistics.median(run[key] for run in runs)

        decode = f"{median('decode_ms'):.1f} ms" if CANDIDATES[name][0] else "-"  # kopf alone decodes nothing
        print(
            f"| {name} | {version(args.python, distribution(name))} | {median('import_ms'):.0f} ms "
            f"| {median('import_cpu_ms'):.0f} ms | {median('rss_mib'):.1f} MiB | {median('modules'):.0f} "
            f"| {decode} |"
        )


if __name__ == "__main__":
    main()
