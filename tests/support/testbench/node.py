"""The node half of the bench cluster: containerd, the kubelet, kube-proxy and CoreDNS, and their files.

Settings that this machine needs, and why (measured; see docs/testing.md):
- kubelet ``failCgroupV1: false`` and ``cgroupDriver: cgroupfs``: the kernel runs cgroup v1 (hybrid) and
  containerd 1.6 does not report a driver; ``cgroupRoot`` is one per node so nodes never share cgroups.
- containerd ``restrict_oom_score_adj``: root here lacks CAP_SYS_RESOURCE, and without it every sandbox
  fails (``runc create failed: ... can't get final child's PID from pipe: EOF``).
- kubelet ``protectKernelDefaults``, kube-proxy ``conntrack`` zeros: neither writes a host-wide sysctl. Without
  ``protectKernelDefaults`` the kubelet would set vm.overcommit_memory, kernel.panic and kernel.panic_on_oops
  on the host; with it, it refuses to start unless they already hold its values. So the kubelet runs in a
  mount namespace of its own where those three files show the values it expects (``kubelet_argv``); its
  root directory is an rshared mount, so the volumes it mounts there still reach containerd and runc.
- kube-proxy ``masqueradeAll``: pod → Service → pod on the same bridge works without br_netfilter (which
  would be a host-wide kernel change); replies come back through the node's address.
- Image GC off: images come from ``ctr import``, not from a registry, so a collected image cannot come back.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import shutil
import subprocess
import tarfile
import time
from dataclasses import dataclass
from pathlib import Path

from testbench import api, ledger
from testbench.errors import BenchError
from testbench.gobuild import KUBERNETES, cache_root
from testbench.pki import Pki
from testbench.procs import run_checked

PAUSE_IMAGE = "docker.io/hivekeeper/pause:bench"
CNI_BIN = Path("/usr/lib/cni")


@dataclass(frozen=True)
class NodeLayout:
    """Where the node keeps its configuration and state.

    Unix sockets (containerd's, the kubelet's pod-resources and plugin sockets) must have paths shorter than
    108 bytes, and a checkout's directory can be long: so sockets, configs and the kubelet's root live under a
    short per-node directory (``ledger.run_dir``); only containerd's content store and snapshots, the bulk,
    live under the cluster's own directory.
    """

    root: Path
    store: Path
    namespace: str

    @classmethod
    def under(cls, workdir: Path, namespace: str) -> NodeLayout:
        return cls(ledger.run_dir(namespace), workdir / "node", namespace)

    @property
    def containerd_config(self) -> Path:
        return self.root / "containerd.toml"

    @property
    def containerd_socket(self) -> Path:
        return self.root / "containerd.sock"

    @property
    def kubelet_config(self) -> Path:
        return self.root / "kubelet.yaml"

    @property
    def kubelet_root(self) -> Path:
        return self.root / "kubelet"

    @property
    def proxy_config(self) -> Path:
        return self.root / "kube-proxy.yaml"

    @property
    def corefile(self) -> Path:
        return self.root / "Corefile"

    @property
    def cgroup_root(self) -> str:
        return ledger.cgroup_root(self.namespace)

    def write_configs(
        self,
        *,
        pki: Pki,
        node_name: str,
        node_ip: str,
        pod_cidr: str,
        bridge: str,
        dns_ip: str,
        kubeconfig: Path,
    ) -> None:
        for sub in ("cni", "containerd", "kubelet", "pod-logs", "cni-ipam"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        self.store.mkdir(parents=True, exist_ok=True)
        gateway = node_ip
        first = pod_cidr.rsplit(".", 1)[0] + ".10"
        (self.root / "cni" / "10-hivekeeper.conflist").write_text(
            json.dumps(
                {
                    "cniVersion": "1.0.0",
                    "name": "hivekeeper",
                    "plugins": [
                        {
                            "type": "bridge",
                            "bridge": bridge,
                            "isGateway": True,
                            "ipMasq": False,
                            "hairpinMode": True,
                            "ipam": {
                                "type": "host-local",
                                "ranges": [[{"subnet": pod_cidr, "rangeStart": first, "gateway": gateway}]],
                                "routes": [{"dst": "0.0.0.0/0"}],
                                "dataDir": str(self.root / "cni-ipam"),
                            },
                        },
                    ],
                },
                indent=2,
            )
        )
        self.containerd_config.write_text(
            f"""version = 2
root = "{self.store / "containerd"}"
state = "{self.root / "containerd" / "state"}"
disabled_plugins = [
  "io.containerd.snapshotter.v1.aufs",
  "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.zfs",
  "io.containerd.snapshotter.v1.devmapper",
]

[grpc]
  address = "{self.containerd_socket}"

[plugins."io.containerd.internal.v1.opt"]
  path = "{self.root / "containerd" / "opt"}"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{PAUSE_IMAGE}"
  restrict_oom_score_adj = true
  disable_apparmor = true
  netns_mounts_under_state_dir = true  # pod network namespaces under state/, swept with the node
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = "{self.root / "containerd" / "runc"}"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "{CNI_BIN}"
    conf_dir = "{self.root / "cni"}"
"""
        )
        resolv = self.root / "resolv.conf"
        resolv.write_text(f"nameserver {dns_ip}\n")  # pods with dnsPolicy Default; there is no upstream DNS here
        self.kubelet_config.write_text(
            json.dumps(
                {
                    "apiVersion": "kubelet.config.k8s.io/v1beta1",
                    "kind": "KubeletConfiguration",
                    "address": node_ip,
                    "port": 10250,
                    "readOnlyPort": 0,
                    "healthzBindAddress": "127.0.0.1",
                    "healthzPort": 10248,
                    "tlsCertFile": str(pki.kubelet_cert),
                    "tlsPrivateKeyFile": str(pki.kubelet_key),
                    "authentication": {
                        "anonymous": {"enabled": False},
                        "webhook": {"enabled": True},
                        "x509": {"clientCAFile": str(pki.ca_cert)},
                    },
                    "authorization": {"mode": "Webhook"},
                    "cgroupDriver": "cgroupfs",
                    "cgroupRoot": self.cgroup_root,
                    "failCgroupV1": False,
                    "failSwapOn": False,
                    "containerRuntimeEndpoint": f"unix://{self.containerd_socket}",
                    "clusterDNS": [dns_ip],
                    "clusterDomain": "cluster.local",
                    "resolvConf": str(resolv),
                    "protectKernelDefaults": True,  # never write host-wide sysctls (see kubelet_argv)
                    "podLogsDir": str(self.root / "pod-logs"),
                    "evictionHard": {
                        "memory.available": "100Mi",
                        "nodefs.available": "1%",
                        "imagefs.available": "1%",
                        "nodefs.inodesFree": "1%",
                    },
                    "imageGCHighThresholdPercent": 100,
                    "imageGCLowThresholdPercent": 99,
                    "serializeImagePulls": False,
                    "shutdownGracePeriod": "0s",
                    "nodeStatusUpdateFrequency": "5s",
                    "syncFrequency": "10s",
                },
                indent=2,
            )
        )
        self.proxy_config.write_text(
            json.dumps(
                {
                    "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
                    "kind": "KubeProxyConfiguration",
                    "clientConnection": {"kubeconfig": str(kubeconfig)},
                    "hostnameOverride": node_name,
                    "mode": "iptables",
                    "clusterCIDR": pod_cidr,
                    "healthzBindAddress": "127.0.0.1:10256",
                    "metricsBindAddress": "127.0.0.1:10249",
                    "nodePortAddresses": [f"{node_ip}/32"],
                    "conntrack": {
                        "maxPerCore": 0,
                        "min": 0,
                        "tcpEstablishedTimeout": "0s",
                        "tcpCloseWaitTimeout": "0s",
                    },
                    "iptables": {"masqueradeAll": True},
                    "oomScoreAdj": 0,
                },
                indent=2,
            )
        )
        self.corefile.write_text(
            f""".:53 {{
    bind {node_ip}
    errors
    health 127.0.0.1:8180
    ready 127.0.0.1:8181
    kubernetes cluster.local in-addr.arpa ip6.arpa {{
        kubeconfig {kubeconfig}
        pods insecure
        ttl 5
    }}
    cache 5
}}
"""
        )


KERNEL_DEFAULTS = {"vm/overcommit_memory": "1", "kernel/panic": "10", "kernel/panic_on_oops": "1"}
"""What the kubelet checks under /proc/sys with protectKernelDefaults (pkg/kubelet/cm: setupKernelTunables)."""

_KUBELET_LAUNCHER = """set -eu
shown=$1; shift
for key in {keys}; do mount --bind "$shown/$(echo "$key" | tr / _)" "/proc/sys/$key"; done
exec "$@"
"""


def kubelet_argv(layout: NodeLayout, kubelet: list[str]) -> list[str]:
    """Wrap the kubelet command: share its root directory's mounts with the host, and show it the kernel
    defaults it checks in a private mount namespace (see the module docstring)."""
    shown = layout.root / "kernel-defaults"
    shown.mkdir(parents=True, exist_ok=True)
    for key, value in KERNEL_DEFAULTS.items():
        (shown / key.replace("/", "_")).write_text(value + "\n")
    root = layout.kubelet_root
    root.mkdir(parents=True, exist_ok=True)
    run_checked("kubelet", ["mount", "--bind", str(root), str(root)], timeout=30)
    run_checked("kubelet", ["mount", "--make-rshared", str(root)], timeout=30)
    script = _KUBELET_LAUNCHER.format(keys=" ".join(KERNEL_DEFAULTS))
    return [
        "unshare",
        "--mount",
        "--propagation",
        "unchanged",
        "--",
        "sh",
        "-c",
        script,
        "kubelet",
        str(shown),
        *kubelet,
    ]


def containerd_answers(socket: Path) -> bool:
    if not socket.exists():
        return False
    done = subprocess.run(["ctr", "--address", str(socket), "version"], capture_output=True, timeout=10, check=False)
    return done.returncode == 0


def import_images(socket: Path, archives: list[Path]) -> None:
    """Load image archives (``docker save`` or OCI) into the node's containerd, where the kubelet finds them."""
    for archive in archives:
        run_checked(
            "containerd",
            ["ctr", "--address", str(socket), "--namespace", "k8s.io", "images", "import", str(archive)],
            timeout=300,
        )


def make_cgroup_root(root: str) -> None:
    """The kubelet requires its cgroupRoot to exist in every hierarchy (the named ``systemd`` one too)."""
    for hierarchy in ledger.CGROUP_FS.iterdir():
        if not hierarchy.is_dir():
            continue
        with contextlib.suppress(FileExistsError):
            (hierarchy / root.lstrip("/")).mkdir()


# --- the pause image ----------------------------------------------------------------------------------------


def _pause_source() -> Path:
    """Kubernetes' own pause.c, from the pinned module (``go mod download`` fetches it if the cache lacks it)."""
    module = f"k8s.io/kubernetes@{KUBERNETES.version()}"
    found = run_checked(
        "pause image", ["go", "mod", "download", "-json", module], env={"GOTOOLCHAIN": "local"}, timeout=600
    )
    return Path(json.loads(found)["Dir"]) / "build" / "pause" / "linux" / "pause.c"


def _tar_member(name: str, data: bytes, mode: int = 0o644) -> tuple[tarfile.TarInfo, io.BytesIO]:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = mode
    info.mtime = 0
    return info, io.BytesIO(data)


def pause_image(scratch: Path) -> Path:
    """The pod sandbox image: Kubernetes' own pause.c, compiled static, as an image archive (cached)."""
    out = cache_root() / "images" / f"pause-{KUBERNETES.version()}.tar"
    if out.is_file():
        return out
    if shutil.which("gcc") is None:
        raise BenchError("pause image", "gcc", "gcc is not installed; `apt-get install gcc libc6-dev`")
    binary = scratch / "pause"
    run_checked(
        "pause image",
        ["gcc", "-Os", "-static", "-Wall", "-DVERSION=hivekeeper-bench", "-o", str(binary), str(_pause_source())],
        timeout=120,
    )
    layer_buffer = io.BytesIO()
    with tarfile.open(fileobj=layer_buffer, mode="w") as layer:
        layer.addfile(*_tar_member("pause", binary.read_bytes(), 0o755))
    layer_bytes = layer_buffer.getvalue()
    layer_digest = hashlib.sha256(layer_bytes).hexdigest()
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "config": {"Entrypoint": ["/pause"], "User": "65535:65535"},
            "rootfs": {"type": "layers", "diff_ids": [f"sha256:{layer_digest}"]},
        }
    ).encode()
    config_digest = hashlib.sha256(config).hexdigest()
    manifest = json.dumps(
        [
            {
                "Config": f"{config_digest}.json",
                "RepoTags": [PAUSE_IMAGE.removeprefix("docker.io/")],
                "Layers": [f"{layer_digest}/layer.tar"],
            }
        ]
    ).encode()
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_suffix(".partial")
    with tarfile.open(partial, mode="w") as archive:
        archive.addfile(*_tar_member(f"{config_digest}.json", config))
        archive.addfile(*_tar_member(f"{layer_digest}/layer.tar", layer_bytes))
        archive.addfile(*_tar_member("manifest.json", manifest))
    partial.rename(out)
    return out


# --- waiting on the API -------------------------------------------------------------------------------------


def node_ready(kubeconfig: Path, name: str) -> bool:
    with contextlib.suppress(api.ApiUnavailable):
        found = api.Admin.from_kubeconfig(kubeconfig).get(f"/api/v1/nodes/{name}")
        conditions = (found or {}).get("status", {}).get("conditions", [])
        return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)
    return False


def publish_dns_service(kubeconfig: Path, dns_ip: str, node_ip: str) -> None:
    """``kube-dns`` in kube-system at ``dns_ip``, served by CoreDNS on the node's address (not a pod: one
    process for a one-node cluster), so pods' resolv.conf (``clusterDNS``) reaches it through kube-proxy."""
    admin = api.Admin.from_kubeconfig(kubeconfig)
    ports = [{"name": "dns", "port": 53, "protocol": "UDP"}, {"name": "dns-tcp", "port": 53, "protocol": "TCP"}]
    admin.create(
        "/api/v1/namespaces/kube-system/services",
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "kube-dns", "labels": {"k8s-app": "kube-dns"}},
            "spec": {"clusterIP": dns_ip, "ports": [{**p, "targetPort": 53} for p in ports]},
        },
    )
    admin.create(
        "/apis/discovery.k8s.io/v1/namespaces/kube-system/endpointslices",
        {
            "apiVersion": "discovery.k8s.io/v1",
            "kind": "EndpointSlice",
            "metadata": {
                "name": "kube-dns-node",
                "labels": {
                    "kubernetes.io/service-name": "kube-dns",
                    "endpointslice.kubernetes.io/managed-by": "hivekeeper-bench",
                },
            },
            "addressType": "IPv4",
            "endpoints": [{"addresses": [node_ip], "conditions": {"ready": True}}],
            "ports": [{"name": p["name"], "port": 53, "protocol": p["protocol"]} for p in ports],
        },
    )


def wait_default_service_account(kubeconfig: Path, timeout: float) -> float:
    """Pods need the ``default`` ServiceAccount and the ``kube-root-ca.crt`` ConfigMap of their namespace."""
    admin = api.Admin.from_kubeconfig(kubeconfig)
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        with contextlib.suppress(api.ApiUnavailable):
            if admin.get("/api/v1/namespaces/default/serviceaccounts/default") and admin.get(
                "/api/v1/namespaces/default/configmaps/kube-root-ca.crt"
            ):
                return time.monotonic() - started
        time.sleep(0.1)
    raise BenchError("kube-controller-manager", "wait for the default ServiceAccount", f"none after {timeout:.0f}s")
