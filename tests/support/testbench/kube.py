"""A real one-node Kubernetes for the bench: control plane, kubelet, containerd, runc, CNI, kube-proxy, DNS.

Every piece is built from its Go module (see ``gobuild``) or comes from Debian packages, and the whole
node lives in a network namespace of its own (``netns``): the API server, the kubelet, the pods and the
Service addresses exist only there, so the host keeps nothing but loopback listeners and its interfaces,
routes, firewall rules and sysctls are never changed. The host reaches the API server through a loopback
relay (``relay``); pods reach services of the host (the bench's RabbitMQ and Redis, a demo SUT) through
``Cluster.expose``, which relays a port of the node's address to a loopback port.

Inside the namespace the ports are fixed (nothing else listens there), so no port is ever picked and
then lost to another process; on the host every listener binds port 0 itself and reports what it got.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import secrets
import ssl
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from testbench import ledger, netns, node
from testbench.errors import BenchError
from testbench.gobuild import COREDNS, ETCD, KUBERNETES
from testbench.pki import Pki, make_pki
from testbench.procs import ManagedProcess, run_checked, tail

NODE_NAME = "hivekeeper-node"
NODE_IP = "10.244.0.1"
POD_CIDR = "10.244.0.0/24"
SERVICE_CIDR = "10.96.0.0/16"
API_SERVICE_IP = "10.96.0.1"
DNS_SERVICE_IP = "10.96.0.10"
API_PORT = 6443
BRIDGE = "hkbr0"

CONTROLLERS = (
    "deployment-controller",
    "replicaset-controller",
    "statefulset-controller",
    "job-controller",
    "garbage-collector-controller",
    "serviceaccount-controller",
    "serviceaccount-token-controller",
    "namespace-controller",
    "root-ca-certificate-publisher-controller",
    "node-lifecycle-controller",
    "taint-eviction-controller",
    "pod-garbage-collector-controller",
    "endpoints-controller",
    "endpointslice-controller",
    "endpointslice-mirroring-controller",
    "clusterrole-aggregation-controller",
    "resourcequota-controller",
)
"""What real pods need (root CA for kube-root-ca.crt, node lifecycle so the not-ready taint lifts, Service
endpoints) plus what the operator's tests use (Deployments, garbage collection, namespace deletion)."""


@dataclass
class Exposure:
    """A loopback port of the host, reachable from pods at ``address`` while the relay runs."""

    address: str
    relay: ManagedProcess

    def stop(self) -> None:
        self.relay.stop()


@dataclass
class Cluster:
    """A running one-node cluster. ``stop`` removes every trace of a cluster this process started; a cluster
    attached from ``make cluster``'s state is left running (only this process's exposures end)."""

    workdir: Path
    namespace: str
    kubeconfig: Path
    server: str
    processes: list[ManagedProcess]
    startup_seconds: dict[str, float]
    versions: dict[str, str]
    relays: list[ManagedProcess] = field(default_factory=list)
    owned: bool = True

    @property
    def node_ip(self) -> str:
        return NODE_IP

    @property
    def containerd_socket(self) -> Path:
        return node.NodeLayout.under(self.workdir, self.namespace).containerd_socket

    @classmethod
    def attach(cls, entry: dict[str, Any]) -> Cluster:
        """The cluster ``make cluster`` recorded in the bench state (see ``python -m testbench up``)."""
        return cls(
            workdir=Path(entry["workdir"]),
            namespace=entry["namespace"],
            kubeconfig=Path(entry["kubeconfig"]),
            server=entry["server"],
            processes=[],
            startup_seconds={},
            versions=entry.get("versions", {}),
            owned=False,
        )

    def expose(self, host_port: int, node_port: int | None = None) -> Exposure:
        """Relay ``NODE_IP:node_port`` (default: the same port) to ``127.0.0.1:host_port`` for pods."""
        port = node_port or host_port
        relay = start_relay(
            self.workdir,
            f"expose-{port}-{secrets.token_hex(2)}",
            [f"{self.namespace}/{NODE_IP}:{port}=-/127.0.0.1:{host_port}"],
        )
        self.relays.append(relay.process)
        return Exposure(f"{NODE_IP}:{port}", relay.process)

    def expose_url(self, url: str, node_port: int | None = None) -> tuple[str, Exposure]:
        """``url`` (a service on the host's loopback) as pods reach it: its host and port replaced by the node's
        address and a relayed port, credentials and path kept."""
        parts = urlsplit(url)
        exposure = self.expose(parts.port or 0, node_port)
        netloc = f"{parts.username}:{parts.password}@{exposure.address}" if parts.username else exposure.address
        return urlunsplit(parts._replace(netloc=netloc)), exposure

    def load_images(self, archives: list[Path]) -> None:
        node.import_images(self.containerd_socket, archives)

    def stop(self) -> None:
        for proc in self.relays:
            proc.stop()
        if not self.owned:
            return
        ledger.sweep(self.namespace)  # signals every process of the node at once, then mounts, cgroups, netns
        for proc in self.processes:
            proc.stop(grace=1.0)  # reaps what the sweep ended
        ledger.restore_host_dirs()


def binary_versions() -> dict[str, str]:
    """What each built binary says of itself with ``--version``."""
    found = {"etcd": run_checked("etcd", [str(ETCD.binaries()[0]), "--version"]).splitlines()[0].strip()}
    for name in ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet", "kube-proxy"):
        found[name] = run_checked(name, [str(KUBERNETES.binary(name)), "--version"]).strip()
    found["coredns"] = run_checked("coredns", [str(COREDNS.binaries()[0]), "-version"]).strip().splitlines()[0]
    for name, argv in (("containerd", ["containerd", "--version"]), ("runc", ["runc", "--version"])):
        found[name] = run_checked(name, argv).strip().splitlines()[0]
    return found


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


def _ok_inside(namespace: str, url: str, pki: Pki | None = None) -> bool:
    """GET ``url`` from inside the node's namespace, where the component listens: 200 (and for etcd's
    /health, ``"health":"true"``) counts as ready."""
    with netns.entered(namespace):
        if url.startswith("https:"):
            return _https_ok(url, pki)
        with contextlib.suppress(OSError, ValueError), urllib.request.urlopen(url, timeout=2) as response:
            body = response.read()
            return bool(response.status == 200 and (not url.endswith("/health") or b'"health":"true"' in body))
        return False


def write_kubeconfig(path: Path, server: str, pki: Pki, *, cert: Path | None = None, key: Path | None = None) -> None:
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
                    "client-certificate-data": b64(cert or pki.admin_cert),
                    "client-key-data": b64(key or pki.admin_key),
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


@dataclass
class Relay:
    process: ManagedProcess
    ports: list[int]


def start_relay(workdir: Path, name: str, forwards: list[str], timeout: float = 15.0) -> Relay:
    """A relay process (``testbench.relay``) that has bound every listener and reported its ports."""
    ports_file = workdir / f"relay-{name}.ports"
    ports_file.unlink(missing_ok=True)
    argv = [sys.executable, "-m", "testbench.relay", "--ports-file", str(ports_file)]
    for forward in forwards:
        argv.append(f"--forward={forward}")  # '=' form: a forward may start with '-' (this namespace)
    support = str(Path(__file__).resolve().parent.parent)
    env = {"PYTHONPATH": os.pathsep.join(filter(None, [support, os.environ.get("PYTHONPATH")]))}
    process = ManagedProcess(f"relay {name}", argv, workdir / f"relay-{name}.log", env=env).start()
    process.wait_ready(ports_file.exists, timeout, "listening")
    return Relay(process, json.loads(ports_file.read_text()))


def _inside(namespace: str, argv: list[str]) -> list[str]:
    # nsenter switches only the network namespace: the process keeps the host's mounts and cgroup view (kubelet
    # and runc must share them; `ip netns exec` would remount /sys without the cgroup hierarchies).
    return ["nsenter", f"--net={netns.path(namespace)}", "--", *argv]


def start_cluster(
    workdir: Path, *, owner_pid: int | None = None, images: list[Path] | None = None, timeout: float = 180.0
) -> Cluster:
    """Start the whole node in a new network namespace; wait until it is Ready and DNS answers.

    ``owner_pid``: the process whose death leaves the node orphaned (swept by the next bench start);
    None for a detached node (``make cluster``), which ``make cluster-down`` sweeps.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    namespace = f"{netns.PREFIX}{secrets.token_hex(3)}"
    ledger.sweep_orphans()
    ledger.record(namespace, workdir, owner_pid=owner_pid)
    started: list[ManagedProcess] = []
    relays: list[ManagedProcess] = []
    seconds: dict[str, float] = {}

    def launch(name: str, argv: list[str], ready: Any, what: str, *, wrap: Any = None) -> None:
        command = _inside(namespace, argv)
        proc = ManagedProcess(name, wrap(command) if wrap else command, workdir / f"{name}.log").start()
        started.append(proc)
        seconds[name] = proc.wait_ready(ready, timeout, what)

    try:
        netns.create(namespace, bridge=BRIDGE, address=f"{NODE_IP}/24")
        # The API server calls an admission webhook at its Service's ClusterIP. Pods reach Services through their
        # default route; the namespace itself has no route to the Service range, so the API server's connect()
        # failed with "network is unreachable" before kube-proxy's OUTPUT rules could send it on to the pod. This
        # route (in the bench's own namespace) lets the packet reach those rules, as a node's default route does.
        netns.run_in(namespace, "ip", "route", "add", SERVICE_CIDR, "dev", BRIDGE, "src", NODE_IP)
        pki = make_pki(workdir / "pki", node_name=NODE_NAME, node_ip=NODE_IP, api_service_ip=API_SERVICE_IP)
        launch(
            "etcd",
            [
                str(ETCD.binaries()[0]),
                "--name=hivekeeper-test",
                f"--data-dir={workdir / 'etcd'}",
                "--listen-client-urls=http://127.0.0.1:2379",
                "--advertise-client-urls=http://127.0.0.1:2379",
                "--listen-peer-urls=http://127.0.0.1:2380",
                "--initial-advertise-peer-urls=http://127.0.0.1:2380",
                "--initial-cluster=hivekeeper-test=http://127.0.0.1:2380",
                "--listen-metrics-urls=http://127.0.0.1:2381",
                "--unsafe-no-fsync",
                "--log-level=warn",
            ],
            lambda: _ok_inside(namespace, "http://127.0.0.1:2379/health"),
            "healthy",
        )
        launch(
            "kube-apiserver",
            [
                str(KUBERNETES.binary("kube-apiserver")),
                "--etcd-servers=http://127.0.0.1:2379",
                "--bind-address=0.0.0.0",
                f"--advertise-address={NODE_IP}",
                f"--secure-port={API_PORT}",
                f"--cert-dir={workdir / 'apiserver-certs'}",
                f"--tls-cert-file={pki.serving_cert}",
                f"--tls-private-key-file={pki.serving_key}",
                f"--client-ca-file={pki.ca_cert}",
                f"--kubelet-client-certificate={pki.admin_cert}",
                f"--kubelet-client-key={pki.admin_key}",
                f"--kubelet-certificate-authority={pki.ca_cert}",
                "--kubelet-preferred-address-types=InternalIP",
                "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
                f"--service-account-key-file={pki.sa_pub}",
                f"--service-account-signing-key-file={pki.sa_key}",
                f"--service-cluster-ip-range={SERVICE_CIDR}",
                "--authorization-mode=Node,RBAC",
                "--enable-admission-plugins=NodeRestriction",
                "--allow-privileged=true",
                "--profiling=false",
                "--v=1",
            ],
            lambda: _ok_inside(namespace, f"https://127.0.0.1:{API_PORT}/readyz", pki),
            "ready (/readyz)",
        )
        relay = start_relay(workdir, "api", [f"-/127.0.0.1:0={namespace}/127.0.0.1:{API_PORT}"])
        relays.append(relay.process)
        server = f"https://127.0.0.1:{relay.ports[0]}"
        kubeconfig = workdir / "kubeconfig"
        write_kubeconfig(kubeconfig, server, pki)
        inner = workdir / "node-admin.kubeconfig"  # for components inside the namespace
        write_kubeconfig(inner, f"https://127.0.0.1:{API_PORT}", pki)
        kubelet_kubeconfig = workdir / "kubelet.kubeconfig"
        write_kubeconfig(
            kubelet_kubeconfig,
            f"https://{NODE_IP}:{API_PORT}",
            pki,
            cert=pki.node_client_cert,
            key=pki.node_client_key,
        )
        common = [
            f"--kubeconfig={inner}",
            f"--authentication-kubeconfig={inner}",
            f"--authorization-kubeconfig={inner}",
        ]
        launch(
            "kube-controller-manager",
            [
                str(KUBERNETES.binary("kube-controller-manager")),
                *common,
                "--bind-address=127.0.0.1",
                "--secure-port=10257",
                f"--cert-dir={workdir / 'kcm-certs'}",
                f"--controllers={','.join(CONTROLLERS)}",
                f"--service-account-private-key-file={pki.sa_key}",
                f"--root-ca-file={pki.ca_cert}",
                f"--service-cluster-ip-range={SERVICE_CIDR}",
                "--leader-elect=false",
                "--concurrent-gc-syncs=5",
                "--v=1",
            ],
            lambda: _ok_inside(namespace, "https://127.0.0.1:10257/healthz"),
            "healthy (/healthz)",
        )
        launch(
            "kube-scheduler",
            [
                str(KUBERNETES.binary("kube-scheduler")),
                *common,
                "--bind-address=127.0.0.1",
                "--secure-port=10259",
                "--leader-elect=false",
                "--v=1",
            ],
            lambda: _ok_inside(namespace, "https://127.0.0.1:10259/healthz"),
            "healthy (/healthz)",
        )
        parts = node.NodeLayout.under(workdir, namespace)
        parts.write_configs(
            pki=pki,
            node_name=NODE_NAME,
            node_ip=NODE_IP,
            pod_cidr=POD_CIDR,
            bridge=BRIDGE,
            dns_ip=DNS_SERVICE_IP,
            kubeconfig=inner,
        )
        launch(
            "containerd",
            ["containerd", "--config", str(parts.containerd_config)],
            lambda: node.containerd_answers(parts.containerd_socket),
            "answering (ctr version)",
        )
        began = time.monotonic()
        node.import_images(parts.containerd_socket, [node.pause_image(workdir), *(images or [])])
        seconds["images"] = time.monotonic() - began
        node.make_cgroup_root(parts.cgroup_root)
        launch(
            "kubelet",
            [
                str(KUBERNETES.binary("kubelet")),
                f"--config={parts.kubelet_config}",
                f"--kubeconfig={kubelet_kubeconfig}",
                f"--hostname-override={NODE_NAME}",
                f"--node-ip={NODE_IP}",
                f"--root-dir={parts.kubelet_root}",
                "--v=1",
            ],
            lambda: node.node_ready(kubeconfig, NODE_NAME),
            "Ready (node condition)",
            wrap=lambda command: node.kubelet_argv(parts, command),
        )
        launch(
            "kube-proxy",
            [str(KUBERNETES.binary("kube-proxy")), f"--config={parts.proxy_config}", "--v=1"],
            lambda: _ok_inside(namespace, "http://127.0.0.1:10256/healthz"),
            "healthy (/healthz)",
        )
        node.publish_dns_service(kubeconfig, DNS_SERVICE_IP, NODE_IP)
        launch(
            "coredns",
            [str(COREDNS.binaries()[0]), "-conf", str(parts.corefile)],
            lambda: _ok_inside(namespace, "http://127.0.0.1:8181/ready"),
            "ready (/ready)",
        )
        seconds["default service account"] = node.wait_default_service_account(kubeconfig, timeout)
    except BaseException as exc:
        logs = "; ".join(f"{p.service}: {tail(p.log_path, 2)}" for p in started[-1:])
        for proc in [*relays, *reversed(started)]:
            proc.stop()
        ledger.sweep(namespace)
        ledger.restore_host_dirs()
        if isinstance(exc, BenchError) or not isinstance(exc, Exception):
            raise
        raise BenchError("kube", "start the node", f"{exc!r}; {logs}") from exc
    return Cluster(
        workdir=workdir,
        namespace=namespace,
        kubeconfig=kubeconfig,
        server=server,
        processes=started,
        startup_seconds=seconds,
        versions=binary_versions(),
        relays=relays,
    )


def kubectl() -> Path:
    """The kubectl built from the same pinned Kubernetes release as the cluster."""
    return KUBERNETES.binary("kubectl")


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


def remove_namespaces(kubeconfig: Path, *names: str, timeout: float = 180.0) -> list[str]:
    """Delete ``names`` and wait until they are gone; the names still there after ``timeout`` are returned.

    A Swarm whose operator is no longer running keeps its finalizer for ever and holds its namespace in
    Terminating (with the Deployments already gone, but nothing says so); the finalizers of what is left are
    dropped first, since no operator will act on them any more. Waiting matters on two cores: pods left running
    while the next module starts load the node for the rest of the session.
    """
    for name in names:
        for kind in ("swarms", "workerroles"):
            listed = run_kubectl(kubeconfig, "get", kind, "-n", name, "-o", "name").stdout.split()
            for found in listed:
                run_kubectl(
                    kubeconfig, "patch", "-n", name, found, "--type=merge", "-p", '{"metadata":{"finalizers":null}}'
                )
        run_kubectl(kubeconfig, "delete", "namespace", name, "--wait=false", "--ignore-not-found")
    deadline = time.monotonic() + timeout
    left = list(names)
    while left and time.monotonic() < deadline:
        existing = set(run_kubectl(kubeconfig, "get", "namespaces", "-o", "name").stdout.split())
        left = [name for name in left if f"namespace/{name}" in existing]
        if left:
            time.sleep(1.0)
    return left


def namespaced_pods(kubeconfig: Path) -> dict[str, list[str]]:
    """Every pod of the node by namespace (``namespace/pod`` as kubectl prints it)."""
    listed = run_kubectl(
        kubeconfig,
        "get",
        "pods",
        "-A",
        "-o",
        "jsonpath={range .items[*]}{.metadata.namespace} {.metadata.name}{'\\n'}{end}",
    )
    pods: dict[str, list[str]] = {}
    for line in listed.stdout.splitlines():
        namespace, _, name = line.partition(" ")
        pods.setdefault(namespace, []).append(name)
    return pods
