"""Fill hack/wheelhouse on the host with every wheel the image builds install, for the base's exact Python.

The build containers have no network, and their pip would not trust the proxy that the host's pip is set up
for; the host downloads instead. It downloads for the base's interpreter (``--python-version``, CPython 3.11
tags, manylinux up to the base's glibc), but pip still evaluates environment markers with the host's Python:
redis, for one, needs async-timeout only where ``python_full_version < "3.11.3"``, which holds for Debian's
3.11.2 and not for a newer host. So after each download the wheels' own requirements are checked against
the base's versions, and whatever applies there but is missing is downloaded too, until nothing is.
"""

from __future__ import annotations

import platform
import shutil
import sys
import tomllib
import zipfile
from email.parser import HeaderParser
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from testbench.errors import BenchError
from testbench.procs import run_checked

GLIBC_MINOR = 36  # bookworm's glibc 2.36: the newest manylinux wheels the base can load


def project_requirements(pyproject: Path) -> list[str]:
    """What pip resolves inside the build: the project's dependencies and its build backend."""
    data = tomllib.loads(pyproject.read_text())
    return [*data["project"]["dependencies"], *data["build-system"]["requires"]]


def wheel_requirements(wheel: Path) -> list[Requirement]:
    with zipfile.ZipFile(wheel) as archive:
        name = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA") and n.count("/") == 1)
        metadata = HeaderParser().parsestr(archive.read(name).decode())
    return [Requirement(line) for line in metadata.get_all("Requires-Dist") or []]


def wheel_name(wheel: Path) -> str:
    return canonicalize_name(wheel.name.split("-")[0])


def missing_for(wheels: list[Path], wanted: list[str], python_version: str) -> list[str]:
    """Requirements that hold on ``python_version`` (and the extras asked for) but have no wheel yet."""
    target = {"python_full_version": python_version, "python_version": ".".join(python_version.split(".")[:2])}
    target["implementation_version"] = python_version
    by_name = {wheel_name(w): w for w in wheels}
    pending = [Requirement(text) for text in wanted]
    seen: set[tuple[str, frozenset[str]]] = set()
    missing: list[str] = []
    while pending:
        req = pending.pop()
        if req.marker is not None and not req.marker.evaluate(target):  # the project's own (uvloop: not on Windows)
            continue
        key = (canonicalize_name(req.name), frozenset(req.extras))
        if key in seen:
            continue
        seen.add(key)
        wheel = by_name.get(key[0])
        if wheel is None:
            missing.append(str(req).split(";")[0].strip())
            continue
        for dep in wheel_requirements(wheel):
            extras = [{"extra": extra} for extra in req.extras] or [{"extra": ""}]
            if dep.marker is None or any(dep.marker.evaluate({**target, **extra}) for extra in extras):
                dep.marker = None
                pending.append(dep)
    return missing


def download(requirements: list[str], dest: Path, python_version: str) -> None:
    machine = platform.machine()
    platforms = [f"manylinux_2_{minor}_{machine}" for minor in range(GLIBC_MINOR, 4, -1)]
    platforms += [f"manylinux{legacy}_{machine}" for legacy in ("2014", "2010", "1")]
    run_checked(
        "wheelhouse",
        [
            sys.executable,
            *("-m", "pip", "download", "--quiet", "--disable-pip-version-check", "--only-binary=:all:"),
            *("--python-version", python_version, "--implementation", "cp"),
            *("--abi", "cp" + "".join(python_version.split(".")[:2])),
            *(arg for name in platforms for arg in ("--platform", name)),
            *("--dest", str(dest)),
            *requirements,
        ],
        timeout=900,
    )


def fill(wheelhouse: Path, pyproject: Path, python_version: str, staging: Path) -> int:
    """Replace the wheels in ``wheelhouse`` with a fresh set for ``python_version``; return how many."""
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    wanted = project_requirements(pyproject)
    todo = wanted
    for _ in range(10):  # each round only adds what the previous one's markers left out; a few suffice
        download(todo, staging, python_version)
        todo = missing_for(sorted(staging.glob("*.whl")), wanted, python_version)
        if not todo:
            break
    else:
        raise BenchError("wheelhouse", "pip download", f"still missing after 10 rounds: {' '.join(todo)}")
    for old in wheelhouse.glob("*.whl"):
        old.unlink()
    wheels = sorted(staging.glob("*.whl"))
    for wheel in wheels:
        shutil.copy2(wheel, wheelhouse / wheel.name)
    shutil.rmtree(staging, ignore_errors=True)
    return len(wheels)
