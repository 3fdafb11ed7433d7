"""A real Kubernetes control plane on loopback: etcd, kube-apiserver, kube-controller-manager.

Built from their Go modules (see ``gobuild``), started with generated certificates, and described
by an admin kubeconfig. The controller-manager runs only what our tests need from a cluster without
nodes: Deployments, ReplicaSets, garbage collection (so owner references really cascade), service
accounts and namespace deletion. There is no scheduler and no kubelet: e2e tests bind and run pods
with a test-only node agent.
"""

from __future__ import annotations

import base64
import contextlib
import json
import ssl
import subprocess
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from testbench.errors import BenchError
from testbench.gobuild import ETCD, KUBERNETES
from testbench.pki import Pki, make_pki
from testbench.procs import ManagedProcess, free_port, run_checked

CONTROLLERS = (
    "deployment-controller",
    "replicaset-controller",
    "garbage-collector-controller",
    "serviceaccount-controller",
    "serviceaccount-token-controller",
    "namespace-controller",
)


@dataclass
class ControlPlane:
    kubeconfig: Path
    server: str
    processes: list[ManagedProcess]
    startup_seconds: dict[str, float]
    versions: dict[str, str]

    def stop(self) -> None:
        for proc in reversed(self.processes):
            proc.stop()


def binary_versions() -> dict[str, str]:
    """What each built binary says of itself with ``--version``."""
    etcd = ETCD.binaries()[0]
    apiserver, controller_manager, _ = KUBERNETES.binaries()
    return {
        "etcd": run_checked("etcd", [str(etcd), "--version"]).splitlines()[0].strip(),
        "kube-apiserver": run_checked("kube-apiserver", [str(apiserver), "--version"]).strip(),
        "kube-controller-manager": run_checked(
            "kube-controller-manager", [str(controller_manager), "--version"]
        ).strip(),
    }


def _https_ok(url: str, pki: Pki | None = None, *, client: bool = True) -> bool:
    context = ssl.create_default_context(cafile=str(pki.ca_cert)) if pki else ssl._create_unverified_context()
    if pki and client:
        context.load_cert_chain(str(pki.admin_cert), str(pki.admin_key))
    with (
        contextlib.suppress(OSError, ValueError),
        urllib.request.urlopen(url, context=context, timeout=2) as r,
    ):
        return bool(r.status == 200)
    return False


def _etcd_healthy(port: int) -> bool:
    with (
        contextlib.suppress(OSError, ValueError),
        urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as response,
    ):
        return bool(json.loads(response.read()).get("health") == "true")
    return False


def write_kubeconfig(path: Path, server: str, pki: Pki) -> None:
    def b64(p: Path) -> str:
        return base64.b64encode(p.read_bytes()).decode()

    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "hivekeeper-test",
                "cluster": {"server": server, "certificate-authority-data": b64(pki.ca_cert)},
            }
        ],
        "users": [
            {
                "name": "admin",
                "user": {
                    "client-certificate-data": b64(pki.admin_cert),
                    "client-key-data": b64(pki.admin_key),
                },
            }
        ],
        "contexts": [
            {
                "name": "hivekeeper-test",
                "context": {"cluster": "hivekeeper-test", "user": "admin", "namespace": "default"},
            }
        ],
        "current-context": "hivekeeper-test",
    }
    path.write_text(json.dumps(config, indent=2))  # JSON is YAML; no extra dependency
    path.chmod(0o600)


def start_control_plane(workdir: Path, timeout: float = 120.0) -> ControlPlane:
    workdir.mkdir(parents=True, exist_ok=True)
    etcd_bin = ETCD.binaries()[0]
    apiserver_bin, kcm_bin, _ = KUBERNETES.binaries()
    pki = make_pki(workdir / "pki")
    started: list[ManagedProcess] = []
    seconds: dict[str, float] = {}
    try:
        client_port, peer_port = free_port(), free_port()
        etcd = ManagedProcess(
            "etcd",
            [
                str(etcd_bin),
                "--name",
                "hivekeeper-test",
                "--data-dir",
                str(workdir / "etcd"),
                "--listen-client-urls",
                f"http://127.0.0.1:{client_port}",
                "--advertise-client-urls",
                f"http://127.0.0.1:{client_port}",
                "--listen-peer-urls",
                f"http://127.0.0.1:{peer_port}",
                "--initial-advertise-peer-urls",
                f"http://127.0.0.1:{peer_port}",
                "--initial-cluster",
                f"hivekeeper-test=http://127.0.0.1:{peer_port}",
                "--unsafe-no-fsync",
                "--log-level",
                "warn",
            ],
            workdir / "etcd.log",
        ).start()
        started.append(etcd)
        seconds["etcd"] = etcd.wait_ready(lambda: _etcd_healthy(client_port), timeout, "healthy")

        api_port = free_port()
        server = f"https://127.0.0.1:{api_port}"
        apiserver = ManagedProcess(
            "kube-apiserver",
            [
                str(apiserver_bin),
                "--etcd-servers",
                f"http://127.0.0.1:{client_port}",
                "--bind-address",
                "127.0.0.1",
                "--advertise-address",
                "127.0.0.1",
                "--secure-port",
                str(api_port),
                "--cert-dir",
                str(workdir / "apiserver-certs"),
                "--tls-cert-file",
                str(pki.serving_cert),
                "--tls-private-key-file",
                str(pki.serving_key),
                "--client-ca-file",
                str(pki.ca_cert),
                "--service-account-issuer",
                "https://kubernetes.default.svc.cluster.local",
                "--service-account-key-file",
                str(pki.sa_pub),
                "--service-account-signing-key-file",
                str(pki.sa_key),
                "--service-cluster-ip-range",
                "10.0.0.0/24",
                "--authorization-mode",
                "RBAC",
                "--allow-privileged=true",
                "--profiling=false",
                "--endpoint-reconciler-type",
                "none",
                "--v",
                "1",
            ],
            workdir / "kube-apiserver.log",
        ).start()
        started.append(apiserver)
        seconds["kube-apiserver"] = apiserver.wait_ready(
            lambda: _https_ok(f"{server}/readyz", pki), timeout, "ready (/readyz)"
        )

        kubeconfig = workdir / "kubeconfig"
        write_kubeconfig(kubeconfig, server, pki)

        kcm_port = free_port()
        kcm = ManagedProcess(
            "kube-controller-manager",
            [
                str(kcm_bin),
                "--kubeconfig",
                str(kubeconfig),
                "--authentication-kubeconfig",
                str(kubeconfig),
                "--authorization-kubeconfig",
                str(kubeconfig),
                "--bind-address",
                "127.0.0.1",
                "--secure-port",
                str(kcm_port),
                "--cert-dir",
                str(workdir / "kcm-certs"),
                "--controllers",
                ",".join(CONTROLLERS),
                "--service-account-private-key-file",
                str(pki.sa_key),
                "--root-ca-file",
                str(pki.ca_cert),
                "--leader-elect=false",
                "--concurrent-gc-syncs",
                "5",
                "--v",
                "1",
            ],
            workdir / "kube-controller-manager.log",
        ).start()
        started.append(kcm)
        seconds["kube-controller-manager"] = kcm.wait_ready(
            lambda: _https_ok(f"https://127.0.0.1:{kcm_port}/healthz"), timeout, "healthy (/healthz)"
        )
    except BaseException:
        for proc in reversed(started):
            proc.stop()
        raise
    return ControlPlane(
        kubeconfig=kubeconfig,
        server=server,
        processes=started,
        startup_seconds=seconds,
        versions=binary_versions(),
    )


def kubectl() -> Path:
    """The kubectl built from the same pinned Kubernetes release as the control plane."""
    return KUBERNETES.binaries()[2]


def run_kubectl(kubeconfig: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run the bench's kubectl against ``kubeconfig``; the result is returned, never raised."""
    return subprocess.run(
        [str(kubectl()), f"--kubeconfig={kubeconfig}", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def install_crds(kubeconfig: Path, directory: Path) -> None:
    """Server-side apply every CRD in ``directory`` and wait until they are Established."""
    applied = run_kubectl(kubeconfig, "apply", "--server-side", "-f", str(directory))
    if applied.returncode != 0:
        raise BenchError("crds", f"kubectl apply --server-side -f {directory}", applied.stderr.strip())
    names = [f"crd/{path.stem}" for path in sorted(directory.glob("*.yaml"))]
    waited = run_kubectl(kubeconfig, "wait", "--for=condition=Established", "--timeout=60s", *names)
    if waited.returncode != 0:
        raise BenchError("crds", "kubectl wait --for=condition=Established", waited.stderr.strip())
