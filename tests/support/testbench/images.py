"""Build the operator and worker images where no registry answers, and save them as image archives.

The shipped Dockerfiles are built unchanged, by a throwaway engine (dockerd.py) with ``--network none``, on a
base made from Debian packages (baseimage.py), with every wheel taken from ``hack/wheelhouse`` (filled here on
the host, whose pip trusts the proxy that a build container's pip does not). Each image is saved with
``docker save`` under cache_root()/images/, an archive that ``ctr -n k8s.io images import`` accepts. A stamp
records a digest of everything that goes into the images, so an unchanged tree builds nothing.

    PYTHONPATH=tests/support .venv/bin/python -m testbench.images [--repo R] [--tag T] [--version V] [--rebuild]
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import hashlib
import json
import sys
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path

from testbench import baseimage, wheelhouse
from testbench.dockerd import ThrowawayDockerd
from testbench.errors import BenchError
from testbench.gobuild import SUPPORT, cache_root
from testbench.packages import ensure_debian_packages

REPO = SUPPORT.parent.parent
WHEELHOUSE = REPO / "hack" / "wheelhouse"
DOCKERFILES = {"operator": "operator/Dockerfile", "worker": "worker_image/Dockerfile"}
INPUTS = ("pyproject.toml", "README.md", ".dockerignore", "hack/wheelhouse/README.md", *DOCKERFILES.values())
SKIPPED = {"__pycache__", ".mypy_cache", ".ruff_cache"}  # what .dockerignore keeps out of src/
LOCAL_BASE = "hivekeeper-local/python"


def images_dir() -> Path:
    return cache_root() / "images"


def stamp_path() -> Path:
    return images_dir() / "images.json"


@contextlib.contextmanager
def step(label: str) -> Iterator[None]:
    started = time.monotonic()
    yield
    print(f"images: {label} in {time.monotonic() - started:.1f}s", flush=True)


def project_version() -> str:
    return str(tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"])


def in_context(path: Path) -> bool:
    """Whether a file under src/ reaches the build (what .dockerignore leaves out does not count)."""
    if path.suffix in {".pyc", ".pyo"} or SKIPPED & set(path.parts):
        return False
    return not any(part.endswith(".egg-info") for part in path.parts)


def inputs_digest(tags: dict[str, str], version: str) -> str:
    """A digest of what the images are made of: the base recipe, the build context, the names and version."""
    digest = hashlib.sha256(json.dumps([baseimage.recipe_digest(), tags, version], sort_keys=True).encode())
    files = [REPO / name for name in INPUTS]
    files += sorted(path for path in (REPO / "src").rglob("*") if path.is_file() and in_context(path))
    for path in files:
        digest.update(str(path.relative_to(REPO)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def local_base(engine: ThrowawayDockerd, tar: Path) -> str:
    """Import the base root into the engine once per recipe (its tag carries the recipe digest)."""
    tag = f"{LOCAL_BASE}:3.11-{baseimage.SUITE}-{baseimage.recipe_digest()}"
    if engine.docker("images", "--quiet", tag, what="base image").strip():
        return tag
    with step(f"import {tag}"):
        engine.docker(
            "import",
            *("--change", "ENV PATH=/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin"),
            *("--change", "ENV LANG=C.UTF-8"),
            *("--change", 'CMD ["python3"]'),
            *(str(tar), tag),
            what="base image",
        )
    for old in engine.docker("images", "--format", "{{.Repository}}:{{.Tag}}", LOCAL_BASE).split():
        if old != tag:
            engine.docker("rmi", old, what="base image")
    return tag


def build(engine: ThrowawayDockerd, name: str, tag: str, base: str, version: str) -> None:
    with step(f"build {tag}"):
        engine.docker(
            "build",
            *("--network", "none", "--force-rm", "--file", DOCKERFILES[name], "--tag", tag),
            *("--build-arg", f"PYTHON_IMAGE={base}", "--build-arg", f"VERSION={version}"),
            *("--build-arg", "PIP_NO_INDEX=1", "--build-arg", "PIP_FIND_LINKS=/wheelhouse"),
            str(REPO),
            timeout=1800,
            what=f"image {tag}",
            log=images_dir() / f"build-{name}.log",
        )
    # Run as the cluster runs it (no network, read-only root, the non-root user): the entry point, then a command.
    run = ["run", "--rm", "--network", "none", "--read-only", "--user", "65532:65532"]
    engine.docker(*run, tag, "--help", what=f"image {tag}")
    said = engine.docker(*run, "--entrypoint", "hivekeeper", tag, "version", what=f"image {tag}").strip()
    print(f"images: {tag} runs read-only as 65532; `hivekeeper version` says {said}", flush=True)


def build_all(tags: dict[str, str], version: str) -> dict[str, Path]:
    with step("debootstrap and docker.io present"):
        installed = ensure_debian_packages(["debootstrap", "dockerd"], start_services=False)
    if installed:
        print(f"images: installed {' '.join(installed)} (daemons not started)", flush=True)
    started = time.monotonic()
    base = baseimage.ensure_base()
    how = "bootstrapped" if base.built else "cached"
    print(f"images: base root {base.tar.name} {how} in {time.monotonic() - started:.1f}s", flush=True)
    with step(f"wheelhouse for Python {base.python_version}"):
        staging = images_dir() / "wheelhouse.partial"
        count = wheelhouse.fill(WHEELHOUSE, REPO / "pyproject.toml", base.python_version, staging)
    print(f"images: {count} wheels in {WHEELHOUSE.relative_to(REPO)}", flush=True)
    archives: dict[str, Path] = {}
    with ThrowawayDockerd() as engine:
        print(f"images: throwaway dockerd answered in {engine.startup_seconds:.1f}s", flush=True)
        base_tag = local_base(engine, base.tar)
        for name, tag in tags.items():
            build(engine, name, tag, base_tag, version)
        for name, tag in tags.items():
            archive = images_dir() / f"{name}.tar"
            partial = archive.with_suffix(".tar.partial")
            with step(f"save {tag} to {archive}"):
                engine.docker("save", "--output", str(partial), tag, what=f"image {tag}")
                partial.chmod(0o644)  # docker save writes 0600; the archive holds nothing secret
                partial.rename(archive)
            archives[tag] = archive
        engine.docker("image", "prune", "--force", what="dockerd")  # earlier builds' layers
    return archives


def ensure_images(
    repo: str = "hivekeeper", tag: str = "dev", version: str | None = None, *, rebuild: bool = False
) -> dict[str, Path]:
    """``{"hivekeeper/operator:dev": .../operator.tar, "hivekeeper/worker:dev": .../worker.tar}``, built if stale."""
    tags = {name: f"{repo}/{name}:{tag}" for name in DOCKERFILES}
    version = version or project_version()
    digest = inputs_digest(tags, version)
    images_dir().mkdir(parents=True, exist_ok=True)
    # One build at a time: two engines on one data root would corrupt it. A second caller waits, then
    # finds the stamp the first one wrote.
    with (images_dir() / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        stamp = stamp_path()
        with contextlib.suppress(OSError, ValueError, KeyError):
            recorded = json.loads(stamp.read_text())
            archives = {name: Path(path) for name, path in recorded["images"].items()}
            if not rebuild and recorded["digest"] == digest and all(p.is_file() for p in archives.values()):
                print(f"images: up to date (inputs digest {digest}); nothing built", flush=True)
                return archives
        stamp.unlink(missing_ok=True)
        archives = build_all(tags, version)
        recorded = {"digest": digest, "images": {tag: str(path) for tag, path in archives.items()}}
        stamp.write_text(json.dumps(recorded, indent=2) + "\n")
        return archives


def ensure_image_from(context: Path, tag: str) -> Path:
    """An image built from ``context`` (its Dockerfile may start ``FROM hivekeeper/worker:dev``, as a user's own
    worker image would), saved as an archive; rebuilt only when the context or our images changed."""
    ours = ensure_images()
    digest = hashlib.sha256(json.dumps(sorted((k, str(v.stat().st_mtime_ns)) for k, v in ours.items())).encode())
    for path in sorted(p for p in context.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(context)).encode() + path.read_bytes())
    archive = images_dir() / f"{tag.replace('/', '_').replace(':', '_')}-{digest.hexdigest()[:12]}.tar"
    if archive.is_file():
        return archive
    with (images_dir() / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        with ThrowawayDockerd() as engine:
            with step(f"build {tag} from {context}"):
                engine.docker("build", "--network", "none", "--force-rm", "--tag", tag, str(context), timeout=600)
            partial = archive.with_suffix(".tar.partial")
            engine.docker("save", "--output", str(partial), tag, what=f"image {tag}")
            partial.chmod(0o644)
            partial.rename(archive)
    return archive


def built_archives() -> dict[str, Path]:
    """The archives the last build recorded (whether or not the tree changed since); {} when none."""
    with contextlib.suppress(OSError, ValueError, KeyError):
        recorded = json.loads(stamp_path().read_text())
        archives = {name: Path(path) for name, path in recorded["images"].items()}
        if all(path.is_file() for path in archives.values()):
            return archives
    return {}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m testbench.images", description=__doc__.splitlines()[0])
    parser.add_argument("--repo", default="hivekeeper", help="images are REPO/operator:TAG and REPO/worker:TAG")
    parser.add_argument("--tag", default="dev")
    parser.add_argument("--version", default=None, help="the OCI version label (default: pyproject's)")
    parser.add_argument("--rebuild", action="store_true", help="build even when the stamp says up to date")
    args = parser.parse_args(argv)
    started = time.monotonic()
    try:
        archives = ensure_images(args.repo, args.tag, args.version, rebuild=args.rebuild)
    except BenchError as exc:
        print(exc, file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # Ctrl-C, or SIGTERM/SIGHUP through testbench.registry; the engine is stopped
        print("images: interrupted; no stamp written, so the next run builds again", file=sys.stderr)
        return 130
    for tag, archive in archives.items():
        print(f"{tag}: {archive} ({archive.stat().st_size / 1e6:.0f} MB)")
    print(f"images: ready in {time.monotonic() - started:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
