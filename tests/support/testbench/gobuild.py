"""Build the control-plane binaries from their Go modules into a cache outside the repository.

The cache key is the module version plus a digest of the wrapper's go.mod and go.sum, so a warm run
finds the binaries and never rebuilds, and a change of pin builds a fresh set beside the old one.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from testbench.errors import BenchError
from testbench.procs import run_checked

SUPPORT = Path(__file__).resolve().parent.parent


def _command_name(package: str) -> str:
    """What ``go build`` names a command: the last path element, skipping a ``/vN`` major version."""
    parts = package.split("/")
    return parts[-2] if re.fullmatch(r"v\d+", parts[-1]) and len(parts) > 1 else parts[-1]


def cache_root() -> Path:
    base = os.environ.get("HIVEKEEPER_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "hivekeeper"
    )
    return Path(base)


@dataclass(frozen=True)
class GoBuild:
    """One wrapper module (``tests/support/<name>``) and the commands it builds."""

    name: str
    module: str  # the upstream module whose version keys the cache
    packages: tuple[str, ...]
    ldflags_template: str = "-s -w"
    directory: Path | None = None
    """Where the wrapper module lives (default: tests/support/<name>)."""

    @property
    def source(self) -> Path:
        return self.directory or SUPPORT / self.name

    def version(self) -> str:
        gomod = (self.source / "go.mod").read_text()
        found = re.search(rf"^\s*(?:require\s+)?{re.escape(self.module)}\s+(v\S+)", gomod, re.MULTILINE)
        if not found:
            raise BenchError(self.name, f"read {self.source / 'go.mod'}", f"no requirement on {self.module}")
        return found.group(1)

    def bin_dir(self) -> Path:
        digest = hashlib.sha256()
        for file in ("go.mod", "go.sum", *sorted(p.name for p in self.source.glob("*.go"))):
            digest.update((self.source / file).read_bytes())
        return cache_root() / f"{self.name}-{self.version()}-{digest.hexdigest()[:10]}" / "bin"

    def binaries(self) -> list[Path]:
        return [self.bin_dir() / _command_name(pkg) for pkg in self.packages]

    def binary(self, command: str) -> Path:
        """The built binary of one of ``packages``, by its command name (``kubelet``)."""
        for path in self.binaries():
            if path.name == command:
                return path
        raise KeyError(f"{self.name} builds no command {command!r}")

    def is_built(self) -> bool:
        return all(path.is_file() and os.access(path, os.X_OK) for path in self.binaries())

    def ensure_built(self) -> bool:
        """Build the binaries unless cached; return True when a build ran."""
        if self.is_built():
            return False
        if shutil.which("go") is None:
            raise BenchError(self.name, "go build", "the Go toolchain is not on PATH; install Go 1.26+")
        out = self.bin_dir()
        staging = out.with_name("bin.partial")
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        version = self.version()
        ldflags = self.ldflags_template.format(
            version=version, major=version.lstrip("v").split(".")[0], minor=version.split(".")[1]
        )
        env = {"GOTOOLCHAIN": "local", "GOFLAGS": "-trimpath -mod=readonly"}
        run_checked(
            self.name,
            ["go", "build", "-ldflags", ldflags, "-o", str(staging) + "/", *self.packages],
            env=env,
            cwd=self.source,
            timeout=3600,
        )
        shutil.rmtree(out, ignore_errors=True)
        staging.rename(out)  # atomic publish: a half-built cache is never mistaken for a warm one
        return True


KUBERNETES = GoBuild(
    name="k8s",
    module="k8s.io/kubernetes",
    packages=(
        "k8s.io/kubernetes/cmd/kube-apiserver",
        "k8s.io/kubernetes/cmd/kube-controller-manager",
        "k8s.io/kubernetes/cmd/kube-scheduler",
        "k8s.io/kubernetes/cmd/kubelet",
        "k8s.io/kubernetes/cmd/kube-proxy",
        "k8s.io/kubernetes/cmd/kubectl",
    ),
    ldflags_template=(
        "-s -w -X k8s.io/component-base/version.gitVersion={version}"
        " -X k8s.io/component-base/version.gitMajor={major}"
        " -X k8s.io/component-base/version.gitMinor={minor}"
        " -X k8s.io/component-base/version.gitTreeState=clean"
    ),
)

ETCD = GoBuild(
    name="etcd",
    module="go.etcd.io/etcd/server/v3",
    packages=("hivekeeper.test/etcd",),
)

VEGETA = GoBuild(
    name="vegeta",
    module="github.com/tsenart/vegeta/v12",
    packages=("github.com/tsenart/vegeta/v12",),
    directory=SUPPORT.parent.parent / "bench" / "vegeta",
)

HELM = GoBuild(
    name="helm",
    module="helm.sh/helm/v3",
    packages=("helm.sh/helm/v3/cmd/helm",),
    # As helm's own Makefile: the default Kubernetes version of `helm template`/`helm lint` is client-go's + 1.0
    # (client-go v0.37 -> 1.37); without it helm assumes v1.20. Change tools.go when changing this (cache key).
    ldflags_template="-s -w -X helm.sh/helm/v3/internal/version.version={version}"
    " -X helm.sh/helm/v3/internal/version.gitTreeState=clean"
    " -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=37"
    " -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=37",
)

COREDNS = GoBuild(
    name="coredns",
    module="github.com/coredns/coredns",
    packages=("hivekeeper.test/coredns",),
)
"""CoreDNS with only the plugins the node's cluster DNS needs (tests/support/coredns/main.go)."""

KSTATUS = GoBuild(
    name="kstatus",
    module="sigs.k8s.io/cli-utils",
    packages=("hivekeeper.test/kstatus",),
)
"""A tiny command printing kstatus' ``status.Compute`` of an object on stdin (Flux's and kpt's health rules)."""

KUBE_SCORE = GoBuild(
    name="kubescore",
    module="github.com/zegl/kube-score",
    packages=("github.com/zegl/kube-score/cmd/kube-score",),
)
"""kube-score, an outside linter of Kubernetes objects: the worker Deployments must pass its probe, resource and
security checks (tests/integration/test_outside_linter.py)."""
