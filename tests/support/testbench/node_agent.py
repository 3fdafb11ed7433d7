"""A test-only node agent: runs hivekeeper pods of the local control plane as local processes.

The bench has no kubelet, so pods would stay Pending forever. This agent plays the kubelet for
hivekeeper worker pods (label ``app.kubernetes.io/name=hivekeeper-worker``) and operator pods
(``app.kubernetes.io/name=hivekeeper-operator``, e.g. from the Helm chart): for each new pod it starts
``python -m hivekeeper.cli <command[1:]> <args>`` (the container's ``hivekeeper`` command) with exactly
the pod's env (values, ``secretKeyRef`` and ``fieldRef`` resolved the way a kubelet would), reports the
pod Running and Ready, and stops the process (and finishes the deletion) when the pod is deleted. The
container image is ignored: every image runs this checkout's code.

An operator pod talks to the API server as its ServiceAccount, as in a cluster: the agent requests a
token for it (TokenRequest) and hands the process a kubeconfig with that token, so the RBAC the chart
grants is exactly what the operator gets. Ports in ``--health-port``/``--metrics-port`` are moved to
free ones (pods here share the host's network).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime as dt
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lightkube import ApiError, AsyncClient, KubeConfig
from lightkube.resources.core_v1 import Pod, Secret

from testbench.procs import free_port

NAME_LABEL = "app.kubernetes.io/name"
RUNS = ("hivekeeper-worker", "hivekeeper-operator")
"""Values of ``app.kubernetes.io/name`` whose pods this agent runs."""
PORT_FLAGS = ("--health-port", "--metrics-port")
POLL_SECONDS = 0.25


class EnvResolutionError(RuntimeError):
    """The pod references a Secret key or field the agent cannot resolve (a kubelet would not start it)."""


@dataclass
class RunningPod:
    namespace: str
    name: str
    uid: str
    process: subprocess.Popen[bytes]
    log_path: Path


@dataclass
class NodeAgent:
    kubeconfig: Path
    workdir: Path
    extra_env: dict[str, str] = field(default_factory=dict)
    pods: dict[str, RunningPod] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)
    _task: asyncio.Task[None] | None = None
    _client: AsyncClient | None = None

    async def start(self) -> None:
        self._client = AsyncClient(config=KubeConfig.from_file(str(self.kubeconfig)))
        self._task = asyncio.create_task(self._run(), name="node-agent")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for pod in list(self.pods.values()):
            await self._terminate(pod)
        self.pods.clear()
        if self._client is not None:
            await self._client.close()

    def diagnostics(self) -> str:
        """What went wrong so far, and the last lines each worker printed (for failure messages)."""
        lines = [f"agent failures: {self.failures or 'none'}"]
        for log in sorted(self.workdir.glob("*.log")):
            lines.append(f"{log.name}: {log.read_text(errors='replace')[-600:]}")
        return "\n".join(lines)

    async def _run(self) -> None:
        while True:
            try:
                await self._sync()
            except ApiError as exc:  # the API server is busy or restarting: try again next round
                self.failures["<agent>"] = str(exc)
            await asyncio.sleep(POLL_SECONDS)

    async def _sync(self) -> None:
        assert self._client is not None
        from lightkube.operators import in_

        seen: set[str] = set()
        async for pod in self._client.list(Pod, namespace="*", labels={NAME_LABEL: in_(list(RUNS))}):
            meta = pod.metadata
            assert meta is not None
            assert meta.name
            assert meta.namespace
            assert meta.uid
            key = meta.uid
            seen.add(key)
            if meta.deletionTimestamp is not None:
                await self._finish_deletion(pod)
                continue
            running = self.pods.get(key)
            if running is None and key not in self.failures:
                await self._launch(pod)
            elif running is not None and running.process.poll() is not None:
                await self._report_exit(pod, running)
        for key in [k for k in self.pods if k not in seen]:
            await self._terminate(self.pods[key])
            self.pods.pop(key, None)

    async def _launch(self, pod: Pod) -> None:
        assert self._client is not None
        assert pod.metadata is not None
        assert pod.spec is not None
        meta = pod.metadata
        assert meta.name
        assert meta.namespace
        assert meta.uid
        try:
            env = await self._resolve_env(pod)
        except EnvResolutionError as exc:
            self.failures[meta.uid] = str(exc)
            await self._patch_status(pod, ready=False, reason="CreateContainerConfigError", message=str(exc))
            return
        # Every pod has its own network namespace in a cluster; here they share the host's, so each
        # pod's metrics port is moved to a free one (as a kubelet with host ports would refuse to).
        env["HIVEKEEPER_METRICS_PORT"] = str(free_port()) if env.get("HIVEKEEPER_METRICS_PORT", "0") != "0" else "0"
        container = pod.spec.containers[0]
        command = list(container.command or [])
        if command and command[0] != "hivekeeper":
            self.failures[meta.uid] = f"command {command!r}: the node agent runs only the hivekeeper entry point"
            await self._patch_status(pod, ready=False, reason="RunContainerError", message=self.failures[meta.uid])
            return
        args = _free_ports([*command[1:], *(container.args or [])])
        if (meta.labels or {}).get(NAME_LABEL) == "hivekeeper-operator":
            try:
                env["KUBECONFIG"] = str(await self._service_account_kubeconfig(pod))
            except ApiError as exc:
                self.failures[meta.uid] = f"no token for the pod's service account: {exc}"
                await self._patch_status(pod, ready=False, reason="CreateContainerConfigError", message=str(exc))
                return
        argv = [sys.executable, "-m", "hivekeeper.cli", *args]
        log_path = self.workdir / f"{meta.namespace}_{meta.name}.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with log_path.open("ab") as log:
            # Popen, not create_subprocess_exec: spawning returns at once, and with no await between
            # spawning and recording the process, a cancelled agent can never leave an untracked worker.
            process = subprocess.Popen(  # noqa: ASYNC220
                argv, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
            )
        self.pods[meta.uid] = RunningPod(meta.namespace, meta.name, meta.uid, process, log_path)
        await self._patch_status(pod, ready=True)

    async def _service_account_kubeconfig(self, pod: Pod) -> Path:
        """A kubeconfig that authenticates as the pod's ServiceAccount (a bound token, as kubelets mount)."""
        import yaml
        from lightkube.models.authentication_v1 import TokenRequestSpec
        from lightkube.models.meta_v1 import ObjectMeta
        from lightkube.resources.core_v1 import ServiceAccountToken

        assert self._client is not None
        assert pod.metadata is not None
        assert pod.spec is not None
        account = pod.spec.serviceAccountName or "default"
        namespace = pod.metadata.namespace or "default"
        request = ServiceAccountToken(
            metadata=ObjectMeta(namespace=namespace), spec=TokenRequestSpec(audiences=[], expirationSeconds=3600)
        )
        issued = await self._client.create(request, account, namespace=namespace)
        assert issued.status is not None
        admin = yaml.safe_load(self.kubeconfig.read_text())
        cluster = admin["clusters"][0]
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [cluster],
            "users": [{"name": account, "user": {"token": issued.status.token}}],
            "contexts": [
                {"name": account, "context": {"cluster": cluster["name"], "user": account, "namespace": namespace}}
            ],
            "current-context": account,
        }
        path = self.workdir / f"{namespace}_{pod.metadata.name}.kubeconfig"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(config))
        path.chmod(0o600)
        return path

    async def _resolve_env(self, pod: Pod) -> dict[str, str]:
        assert self._client is not None
        assert pod.metadata is not None
        assert pod.spec is not None
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("HIVEKEEPER_", "KUBERNETES_SERVICE_")) and k != "KUBECONFIG"
        }
        env.update(self.extra_env)
        env["HOSTNAME"] = pod.metadata.name or ""
        for var in pod.spec.containers[0].env or []:
            if var.value is not None:
                env[var.name] = var.value
            elif var.valueFrom is not None and var.valueFrom.secretKeyRef is not None:
                ref = var.valueFrom.secretKeyRef
                try:
                    secret = await self._client.get(Secret, ref.name, namespace=pod.metadata.namespace)
                except ApiError as exc:
                    if ref.optional:
                        continue
                    raise EnvResolutionError(f"secret {ref.name!r} not found for {var.name}") from exc
                data = secret.data or {}
                if ref.key not in data:
                    if ref.optional:
                        continue
                    raise EnvResolutionError(f"secret {ref.name!r} has no key {ref.key!r} for {var.name}")
                env[var.name] = base64.b64decode(data[ref.key]).decode()
            elif var.valueFrom is not None and var.valueFrom.fieldRef is not None:
                path = var.valueFrom.fieldRef.fieldPath
                values = {"metadata.name": pod.metadata.name, "metadata.namespace": pod.metadata.namespace}
                if path not in values:
                    raise EnvResolutionError(f"fieldRef {path!r} is not supported by the test node agent")
                env[var.name] = str(values[path])
        return env

    async def _patch_status(self, pod: Pod, *, ready: bool, reason: str = "", message: str = "") -> None:
        assert self._client is not None
        assert pod.metadata is not None
        assert pod.spec is not None
        now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        name = pod.spec.containers[0].name
        state: dict[str, Any] = (
            {"running": {"startedAt": now}} if ready else {"waiting": {"reason": reason, "message": message}}
        )
        status = {
            "phase": "Running" if ready else "Pending",
            "podIP": "127.0.0.1",
            "hostIP": "127.0.0.1",
            "startTime": now,
            "conditions": [
                {"type": "PodScheduled", "status": "True", "lastTransitionTime": now},
                {"type": "Initialized", "status": "True", "lastTransitionTime": now},
                {"type": "ContainersReady", "status": "True" if ready else "False", "lastTransitionTime": now},
                {"type": "Ready", "status": "True" if ready else "False", "lastTransitionTime": now},
            ],
            "containerStatuses": [
                {
                    "name": name,
                    "ready": ready,
                    "restartCount": 0,
                    "image": "local",
                    "imageID": "local",
                    "started": ready,
                    "state": state,
                }
            ],
        }
        with contextlib.suppress(ApiError):
            await self._client.patch(
                Pod.Status,
                pod.metadata.name,
                {"status": status},  # type: ignore[arg-type]
                namespace=pod.metadata.namespace,
            )

    async def _report_exit(self, pod: Pod, running: RunningPod) -> None:
        code = running.process.returncode
        tail = running.log_path.read_text(errors="replace")[-300:]
        self.failures[running.uid] = f"exited with {code}: {tail}"
        del self.pods[running.uid]
        await self._patch_status(pod, ready=False, reason="CrashLoopBackOff", message=f"exit code {code}")

    async def _finish_deletion(self, pod: Pod) -> None:
        assert self._client is not None
        assert pod.metadata is not None
        running = self.pods.get(pod.metadata.uid or "")
        if running is not None:
            await self._terminate(running)  # still listed until reaped: a stop meanwhile reaps it too
            self.pods.pop(pod.metadata.uid or "", None)
        with contextlib.suppress(ApiError):
            await self._client.delete(Pod, pod.metadata.name or "", namespace=pod.metadata.namespace, grace_period=0)

    @staticmethod
    async def _terminate(running: RunningPod) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(running.process.pid, 15)
        try:
            await asyncio.to_thread(running.process.wait, 10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(running.process.pid, 9)
            await asyncio.to_thread(running.process.wait, 5)


def _free_ports(args: list[str]) -> list[str]:
    """``args`` with every non-zero ``--health-port``/``--metrics-port`` value replaced by a free port."""
    out = list(args)
    for index, arg in enumerate(out):
        flag, _, value = arg.partition("=")
        if flag in PORT_FLAGS and value and value != "0":
            out[index] = f"{flag}={free_port()}"
        elif arg in PORT_FLAGS and index + 1 < len(out) and out[index + 1] != "0":
            out[index + 1] = str(free_port())
    return out
