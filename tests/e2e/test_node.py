"""The bench's one-node Kubernetes is real and leaves nothing behind.

Pods run under kubelet, containerd and runc with a CNI network, reach the API server through the
``kubernetes`` Service and resolve Service names through cluster DNS; ``kubectl logs`` and ``exec``
work. A full start/stop cycle, a killed owner and a twice-run ``make cluster-down`` all leave the host's
interfaces, routes, firewall rules, network sysctls, namespaces, mounts and cgroups exactly as they were.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from testbench import ledger
from testbench.diagnose import pods_report
from testbench.kube import Cluster, run_kubectl, start_cluster
from testbench.node import PAUSE_IMAGE

pytestmark = pytest.mark.e2e
SUPPORT = Path(__file__).resolve().parents[1] / "support"


def _run(*argv: str) -> str:
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False).stdout


NODE_NAME = re.compile(rf"{ledger.netns.PREFIX}[0-9a-f]{{6}}")


def _other_node(text: str, mine: str | None) -> bool:
    """Whether a namespace, mount point or cgroup path belongs to a bench node other than ``mine`` (the test
    session's own cluster, or another session's, may start and stop nodes while a test compares snapshots)."""
    return any(found != mine for found in NODE_NAME.findall(text))


def host_network(mine: str | None = None) -> dict[str, object]:
    """The host's network as a person would check it, without live counters and without what other bench nodes
    own; what belongs to the node ``mine`` is kept, so a leftover of it shows as a difference."""
    workdirs = [str(e["workdir"]) for n, e in ledger.entries().items() if n != mine and e.get("workdir")]
    sysctls = [
        line
        for line in _run("sysctl", "-a").splitlines()
        if line.startswith("net.") and not re.search(r"(_count|stable_secret|\.random|hash_secret)\b", line)
    ]
    counters = re.compile(r"\[\d+:\d+\]")
    mounts = [line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()]
    return {
        "links": _run("ip", "-d", "link", "show"),
        "addresses": _run("ip", "addr", "show"),
        "routes": _run("ip", "route", "show", "table", "all"),
        "iptables": counters.sub("[-]", _run("iptables-save")),
        "ip6tables": counters.sub("[-]", _run("ip6tables-save")),
        "nft": _run("nft", "list", "ruleset"),
        "sysctl": sysctls,
        "ip_forward": Path("/proc/sys/net/ipv4/ip_forward").read_text(),
        "kernel": {key: Path("/proc/sys", key).read_text() for key in ("vm/overcommit_memory", "kernel/panic")},
        "netns": sorted(n for n in _run("ip", "netns", "list").split() if not _other_node(n, mine)),
        "mounts": sorted(
            m for m in mounts if not _other_node(m, mine) and not any(m.startswith(w + "/") for w in workdirs)
        ),
        "cgroups": sorted(
            str(p)
            for p in Path("/sys/fs/cgroup").glob(f"*/{ledger.netns.PREFIX}*")
            if NODE_NAME.fullmatch(p.name) and not _other_node(p.name, mine)
        ),
    }


def _wait_running(kubeconfig: Path, namespace: str, name: str, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        phase = run_kubectl(kubeconfig, "get", "pod", "-n", namespace, name, "-o", "jsonpath={.status.phase}")
        if phase.stdout == "Running":
            return
        time.sleep(0.25)
    raise AssertionError(f"pod {namespace}/{name} not Running after {timeout}s\n{pods_report(kubeconfig, namespace)}")


@pytest.fixture
def namespace(kubeconfig: Path) -> Iterator[str]:
    name = f"node-{uuid.uuid4().hex[:8]}"
    assert run_kubectl(kubeconfig, "create", "namespace", name).returncode == 0
    yield name
    run_kubectl(kubeconfig, "delete", "namespace", name, "--wait=false")


def test_a_pod_runs_on_the_node_under_kubelet_containerd_and_runc(kubeconfig: Path, namespace: str) -> None:
    created = run_kubectl(kubeconfig, "run", "idle", "-n", namespace, f"--image={PAUSE_IMAGE}", "--restart=Never")
    assert created.returncode == 0, created.stderr
    _wait_running(kubeconfig, namespace, "idle")
    pod = json.loads(run_kubectl(kubeconfig, "get", "pod", "-n", namespace, "idle", "-o", "json").stdout)
    assert pod["spec"]["nodeName"] == "hivekeeper-node", "the scheduler bound it to the node"
    assert pod["status"]["containerStatuses"][0]["containerID"].startswith("containerd://")
    assert pod["status"]["podIP"].startswith("10.244.0."), "the CNI bridge gave it an address from the pod range"


def test_pods_reach_the_api_server_by_its_service_and_resolve_service_names(
    kubeconfig: Path, namespace: str, hivekeeper_images: dict[str, str]
) -> None:
    """From inside a pod (our worker image, with its Python): DNS gives the ``kubernetes`` Service's address,
    TLS to it verifies against the mounted CA, and the mounted ServiceAccount token is accepted."""
    probe = textwrap.dedent(
        """
        import json, socket, ssl, urllib.request
        sa = "/var/run/secrets/kubernetes.io/serviceaccount"
        host = "kubernetes.default.svc.cluster.local"
        address = socket.gethostbyname(host)
        context = ssl.create_default_context(cafile=sa + "/ca.crt")
        token = open(sa + "/token").read()
        request = urllib.request.Request(f"https://{host}/version", headers={"Authorization": "Bearer " + token})
        version = json.load(urllib.request.urlopen(request, context=context, timeout=10))["gitVersion"]
        print(json.dumps({"address": address, "version": version}))
        """
    )
    overrides = {
        "spec": {
            "containers": [{"name": "probe", "image": hivekeeper_images["worker"], "command": ["python", "-c", probe]}],
            "restartPolicy": "Never",
        }
    }
    created = run_kubectl(
        kubeconfig,
        "run",
        "probe",
        "-n",
        namespace,
        f"--image={hivekeeper_images['worker']}",
        "--restart=Never",
        f"--overrides={json.dumps(overrides)}",
    )
    assert created.returncode == 0, created.stderr
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        phase = run_kubectl(kubeconfig, "get", "pod", "-n", namespace, "probe", "-o", "jsonpath={.status.phase}")
        if phase.stdout in ("Succeeded", "Failed"):
            break
        time.sleep(0.25)
    assert phase.stdout == "Succeeded", pods_report(kubeconfig, namespace)
    answer = json.loads(run_kubectl(kubeconfig, "logs", "-n", namespace, "probe").stdout)
    assert answer["address"] == "10.96.0.1", "cluster DNS answers with the kubernetes Service's ClusterIP"
    assert answer["version"].startswith("v1.36")


def test_kubectl_logs_and_exec_reach_the_kubelet(
    kubeconfig: Path, namespace: str, hivekeeper_images: dict[str, str]
) -> None:
    overrides = {
        "spec": {
            "containers": [
                {
                    "name": "talker",
                    "image": hivekeeper_images["worker"],
                    "command": [
                        "python",
                        "-c",
                        "import signal; print('hello from the pod', flush=True); signal.pause()",
                    ],
                }
            ]
        }
    }
    created = run_kubectl(
        kubeconfig,
        "run",
        "talker",
        "-n",
        namespace,
        f"--image={hivekeeper_images['worker']}",
        f"--overrides={json.dumps(overrides)}",
    )
    assert created.returncode == 0, created.stderr
    _wait_running(kubeconfig, namespace, "talker")
    deadline = time.monotonic() + 30
    while "hello from the pod" not in run_kubectl(kubeconfig, "logs", "-n", namespace, "talker").stdout:
        assert time.monotonic() < deadline, pods_report(kubeconfig, namespace)
        time.sleep(0.25)
    executed = run_kubectl(kubeconfig, "exec", "-n", namespace, "talker", "--", "python", "-c", "print(6 * 7)")
    assert executed.returncode == 0, executed.stderr
    assert executed.stdout.strip() == "42"


def test_a_full_cluster_cycle_leaves_the_host_as_it_was(tmp_path: Path) -> None:
    before = host_network()
    started = start_cluster(tmp_path / "kube", owner_pid=os.getpid())
    try:
        assert started.namespace in _run("ip", "netns", "list")
        assert run_kubectl(started.kubeconfig, "run", "idle", f"--image={PAUSE_IMAGE}").returncode == 0
        _wait_running(started.kubeconfig, "default", "idle")
        during = host_network(mine=started.namespace)
        assert during["links"] == before["links"], "the node's links live in its own namespace"
        assert during["iptables"] == before["iptables"], "kube-proxy's rules live in the node's namespace"
    finally:
        started.stop()
    after = host_network(mine=started.namespace)
    for key, value in before.items():
        assert after[key] == value, f"{key} differs after a full cycle"
    assert not (tmp_path / "kube").exists(), "the node's state directory is removed"


def test_a_node_whose_owner_was_killed_is_swept_and_sweeping_twice_is_safe(tmp_path: Path) -> None:
    before = host_network()
    script = textwrap.dedent(
        f"""
        import signal
        from pathlib import Path
        from testbench.kube import start_cluster
        import os
        cluster = start_cluster(Path({str(tmp_path / "kube")!r}), owner_pid=os.getpid())
        print(cluster.namespace, flush=True)
        signal.pause()  # until the test kills this owner
        """
    )
    owner = subprocess.Popen(
        [sys.executable, "-c", script],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(SUPPORT)},
    )
    try:
        assert owner.stdout is not None
        namespace = owner.stdout.readline().strip()
        assert namespace.startswith(ledger.netns.PREFIX), f"the owner did not start a node (exit {owner.poll()})"
        owner.send_signal(signal.SIGKILL)  # no teardown runs: the node's processes live on
        owner.wait(timeout=30)
        assert ledger.node_pids(namespace, str(tmp_path / "kube")), "the node outlives its killed owner"
        assert namespace in ledger.sweep_orphans()
        assert namespace not in ledger.sweep_orphans(), "a second sweep finds nothing to do"
        ledger.sweep(namespace)  # and sweeping a node that is gone is harmless
        assert not ledger.node_pids(namespace, str(tmp_path / "kube"))
    finally:
        if owner.poll() is None:
            owner.kill()
            owner.wait(timeout=30)
        if owner.stdout is not None:
            owner.stdout.close()
    after = host_network(mine=namespace)
    for key, value in before.items():
        assert after[key] == value, f"{key} differs after the orphan sweep"


def test_make_cluster_and_cluster_down_twice(tmp_path: Path) -> None:
    """``make cluster`` (``python -m testbench up kube``) and ``make cluster-down`` run twice."""
    env = {**os.environ, "PYTHONPATH": str(SUPPORT), "HIVEKEEPER_BENCH_DIR": str(tmp_path / "bench")}

    def bench(command: str, timeout: float) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "testbench", *command.split()],
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    before = host_network()
    up = bench("up kube", 300)
    assert up.returncode == 0, up.stderr
    assert "KUBECONFIG=" in up.stdout
    entry = json.loads((tmp_path / "bench" / "state.json").read_text())["kube"]
    nodes = run_kubectl(Path(entry["kubeconfig"]), "get", "nodes", "-o", "name")
    assert nodes.stdout.strip() == "node/hivekeeper-node", nodes.stderr
    for _ in range(2):
        down = bench("down", 120)
        assert down.returncode == 0, down.stderr
    assert entry["namespace"] not in _run("ip", "netns", "list")
    after = host_network(mine=entry["namespace"])
    for key, value in before.items():
        assert after[key] == value, f"{key} differs after make cluster / cluster-down"


def test_the_node_binaries_report_the_pinned_versions(cluster: Cluster) -> None:
    from testbench.gobuild import KUBERNETES

    for name in ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet", "kube-proxy"):
        assert cluster.versions[name] == f"Kubernetes {KUBERNETES.version()}", name
    assert cluster.versions["containerd"].startswith("containerd ")
    assert cluster.versions["coredns"].startswith("CoreDNS-")
