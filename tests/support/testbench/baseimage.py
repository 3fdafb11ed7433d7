"""A Python 3.11 base image made from Debian packages, for building the images where no registry answers.

The shipped Dockerfiles start from the official ``python:3.11-slim-bookworm`` image, which only a registry
has. This root is the same Debian release with Debian's Python 3.11, shaped like that image where the
Dockerfiles look: ``python`` on PATH in /usr/local/bin, pip runnable as ``python -m pip`` (no
EXTERNALLY-MANAGED marker), no apt lists, docs or man pages. It is bootstrapped from the apt mirror this
machine already uses (read from its apt sources, so no host name is written down here) and cached as a tar
keyed by a digest of this file: editing the recipe below makes a fresh one, a warm run reuses it.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from testbench.errors import BenchError
from testbench.gobuild import cache_root
from testbench.procs import run_checked

SUITE = "bookworm"
PACKAGES = ("python3.11", "python3.11-venv", "python3-pip", "ca-certificates", "netbase", "tzdata")
"""Beyond minbase: what python:3.11-slim-bookworm has (Python, pip, CA certificates, netbase, tzdata)."""

PYTHON = "/usr/bin/python3.11"
# As Debian's slim images: later `apt-get install`s in derived images stay small too.
DPKG_EXCLUDES = """\
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-exclude /usr/share/lintian/*
"""
SLIMMED = ("usr/share/man", "usr/share/info", "usr/share/lintian", "usr/share/locale", "var/lib/apt/lists")
SOURCES = (Path("/etc/apt/sources.list.d/debian.sources"), Path("/etc/apt/sources.list"))


@dataclass(frozen=True)
class Base:
    tar: Path
    python_version: str  # the full version: pip must evaluate markers such as python_full_version < "3.11.3"
    built: bool  # bootstrapped just now (not found in the cache)


def recipe_digest() -> str:
    return hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:12]


def base_tar() -> Path:
    return cache_root() / "images" / f"python-{SUITE}-{recipe_digest()}.tar"


def apt_mirror(sources: tuple[Path, ...] = SOURCES) -> str:
    """The Debian archive this machine installs from: the first deb822 ``URIs:`` or one-line ``deb`` entry.

    Security and other suites live elsewhere on some mirrors, so the entry must serve ``SUITE`` itself.
    """
    for path in sources:
        if not path.is_file():
            continue
        text = path.read_text()
        for stanza in re.split(r"\n\s*\n", text):  # deb822: one source per paragraph
            fields: dict[str, str] = dict(re.findall(r"^([A-Za-z-]+):\s*(.*)$", stanza, re.MULTILINE))
            uris = fields.get("URIs", "").split()  # several mirrors: the first, as apt tries them in order
            serves = "deb" in fields.get("Types", "").split() and SUITE in fields.get("Suites", "").split()
            if uris and serves and fields.get("Enabled", "yes").lower() != "no":
                return uris[0]
        for line in text.splitlines():  # one-line format: deb [options] URI SUITE COMPONENT...
            words = re.sub(r"\[[^]]*\]", "", line).split()
            if len(words) >= 3 and words[0] == "deb" and words[2] == SUITE:
                return words[1]
    raise BenchError("base image", "read apt sources", f"no `deb` source for {SUITE} in {', '.join(map(str, sources))}")


def slim_down(root: Path) -> None:
    """Give the bootstrapped root the shape the Dockerfiles expect, and drop what an image does not need."""
    local_bin = root / "usr/local/bin"
    local_bin.mkdir(parents=True, exist_ok=True)
    for name in ("python", "python3", "python3.11"):
        (local_bin / name).symlink_to(PYTHON)
    (local_bin / "pip").symlink_to("/usr/bin/pip3")
    # pip refuses `pip install` into the system Python while this marker exists (PEP 668); the official
    # image has none, and the Dockerfiles install into a venv anyway.
    (root / "usr/lib/python3.11/EXTERNALLY-MANAGED").unlink(missing_ok=True)
    (root / "etc/dpkg/dpkg.cfg.d/slim-image").write_text(DPKG_EXCLUDES)
    for relative in SLIMMED:
        shutil.rmtree(root / relative, ignore_errors=True)
    (root / "var/lib/apt/lists/partial").mkdir(parents=True)  # apt-get update expects it
    docs = root / "usr/share/doc"
    for path in sorted(docs.rglob("*"), reverse=True):
        if path.is_symlink() or path.is_file():
            if path.name != "copyright":
                path.unlink()
        elif path.is_dir() and not any(path.iterdir()):
            path.rmdir()
    for pattern in ("var/cache/apt/*.bin", "var/cache/apt/archives/*.deb", "var/cache/debconf/*-old", "var/log/*"):
        for path in root.glob(pattern):
            if path.is_file():
                path.unlink()


def ensure_base() -> Base:
    """The base root as a tar (``docker import`` input) and its Python version, bootstrapped unless cached."""
    target = base_tar()
    facts = target.with_suffix(".json")
    if target.is_file() and facts.is_file():
        return Base(target, json.loads(facts.read_text())["python_version"], built=False)
    if os.geteuid() != 0:
        raise BenchError("base image", "debootstrap", "bootstrapping a Debian root needs root (chroot, mknod)")
    work = target.with_suffix(".partial")
    shutil.rmtree(work, ignore_errors=True)
    root = work / "root"
    debs = cache_root() / "images" / "debs"  # so a changed recipe does not download every package again
    debs.mkdir(parents=True, exist_ok=True)
    root.mkdir(parents=True)
    started = time.monotonic()
    # In a private mount namespace, so the /proc and /sys debootstrap mounts in the root go away with it,
    # also when it fails half-way.
    run_checked(
        "base image",
        [
            *("unshare", "--mount", "debootstrap", "--variant=minbase", f"--include={','.join(PACKAGES)}"),
            *(f"--cache-dir={debs}", SUITE, str(root), apt_mirror()),
        ],
        timeout=1800,
    )
    print(f"base image: debootstrap {SUITE} with {' '.join(PACKAGES)} in {time.monotonic() - started:.0f}s")
    slim_down(root)
    asked = "import platform; print(platform.python_version())"
    version = run_checked("base image", ["chroot", str(root), PYTHON, "-c", asked]).strip()
    partial_tar = work / "root.tar"
    # /dev, /proc and /sys are the engine's to fill; their debootstrap leftovers stay out.
    excluded = ("--exclude=./dev/*", "--exclude=./proc/*", "--exclude=./sys/*")
    tar = ["tar", "-C", str(root), "--numeric-owner", *excluded, "-cf", str(partial_tar), "."]
    run_checked("base image", tar, timeout=600)
    facts.write_text(json.dumps({"python_version": version, "suite": SUITE, "packages": PACKAGES}) + "\n")
    partial_tar.rename(target)  # atomic publish: a half-written tar is never mistaken for a warm one
    shutil.rmtree(work, ignore_errors=True)
    for stale in target.parent.glob(f"python-{SUITE}-*"):  # earlier recipes' roots: ~150 MB each
        if stale not in (target, facts) and stale.is_file():
            stale.unlink()
    return Base(target, version, built=True)
