"""What the two Dockerfiles promise, read from the Dockerfiles themselves (no Docker engine needed).

A small parser (line continuations, comments, ARG defaults, stages) gives each stage's instructions; the tests
then check the facts the chart and the cluster rely on: a pinned base, a run stage that only copies the venv,
user 65532, the exec-form entry point on PATH, OCI labels, the exposed ports, and a build context that leaves
the venv, the bench state, the tests and .git out (.dockerignore, evaluated with Docker's matching rules). Offline
builds (`make images` without a registry) only add the hack/wheelhouse directory and two pip build arguments.
"""

from __future__ import annotations

import json
import re
import subprocess
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DOCKERFILES = {"operator": REPO / "operator" / "Dockerfile", "worker": REPO / "worker_image" / "Dockerfile"}
ENTRYPOINTS = {"operator": ["hivekeeper", "operator"], "worker": ["hivekeeper", "worker"]}
PORTS = {"operator": {"8080", "9090", "9443"}, "worker": {"9464"}}
VERSION = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
OCI_LABELS = {"title", "description", "source", "licenses", "version"}


@dataclass
class Stage:
    base: str
    name: str = ""
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [args for kw, args in self.instructions if kw == keyword]


def instructions(text: str) -> list[tuple[str, str]]:
    """(KEYWORD, arguments) per instruction: comments dropped, backslash continuations joined."""
    out: list[tuple[str, str]] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if pending and line.startswith("#"):
            continue  # a comment inside a continued instruction
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        whole = pending + line
        pending = ""
        keyword, _, args = whole.partition(" ")
        out.append((keyword.upper(), " ".join(args.split())))
    assert not pending, "the Dockerfile ends inside a continued instruction"
    return out


def parse(path: Path) -> tuple[dict[str, str], list[Stage]]:
    """Global ARG defaults (before the first FROM) and the stages, with ${ARG} resolved in FROM lines."""
    global_args: dict[str, str] = {}
    stages: list[Stage] = []
    for keyword, args in instructions(path.read_text()):
        if keyword == "FROM":
            image, _, alias = args.partition(" AS ")
            for name, value in global_args.items():
                image = image.replace(f"${{{name}}}", value)
            stages.append(Stage(base=image, name=alias.strip()))
        elif not stages:
            assert keyword == "ARG", f"{path}: only ARG may come before FROM, found {keyword}"
            name, _, default = args.partition("=")
            global_args[name] = default
        else:
            stages[-1].instructions.append((keyword, args))
    return global_args, stages


@pytest.mark.parametrize("image", sorted(DOCKERFILES))
def test_the_base_is_a_pinned_python_3_11_slim_bookworm_tag_in_every_stage(image: str) -> None:
    _, stages = parse(DOCKERFILES[image])
    assert len(stages) == 2, "multi-stage: a builder and the run stage"
    for stage in stages:
        assert re.fullmatch(r"python:3\.11\.\d+-slim-bookworm(@sha256:[0-9a-f]{64})?", stage.base), stage.base
    assert stages[0].base == stages[1].base, "the venv's interpreter links must find the same Python"
    assert ":latest" not in DOCKERFILES[image].read_text()


@pytest.mark.parametrize("image", sorted(DOCKERFILES))
def test_the_builder_builds_the_wheel_and_installs_binary_wheels_into_a_venv_without_pip(image: str) -> None:
    builder = parse(DOCKERFILES[image])[1][0]
    assert builder.name == "builder"
    run = " && ".join(builder.all("RUN"))
    assert "pip wheel --no-cache-dir --no-deps" in run
    assert "python -m venv --without-pip /opt/hivekeeper" in run
    assert "--python /opt/hivekeeper/bin/python install --no-cache-dir --only-binary=:all:" in run
    assert not re.search(r"\bapt(-get)?\b|\bgcc\b|build-essential", run), "no compiler is installed anywhere"
    assert builder.all("COPY") == ["hack/wheelhouse /wheelhouse", "pyproject.toml README.md ./", "src ./src"], (
        "only what builds the wheel (and the wheels of an offline build)"
    )


@pytest.mark.parametrize("image", sorted(DOCKERFILES))
def test_pip_uses_its_index_unless_the_build_asks_for_the_wheelhouse(image: str) -> None:
    """PIP_NO_INDEX and PIP_FIND_LINKS are build arguments without defaults: unset, pip reads its index."""
    builder = parse(DOCKERFILES[image])[1][0]
    assert builder.all("ARG") == ["PIP_NO_INDEX", "PIP_FIND_LINKS"]
    assert "/wheelhouse" not in " ".join(builder.all("ENV") + builder.all("RUN"))


@pytest.mark.parametrize("image", sorted(DOCKERFILES))
def test_the_classic_builder_builds_it_without_a_syntax_directive(image: str) -> None:
    """`# syntax=` makes BuildKit fetch a frontend image from a registry; nothing here needs one."""
    first = DOCKERFILES[image].read_text().splitlines()[0]
    assert not re.match(r"#\s*syntax\s*=", first), first


@pytest.mark.parametrize("image", sorted(DOCKERFILES))
def test_the_run_stage_only_copies_the_venv_and_runs_no_package_manager_or_build_tool(image: str) -> None:
    final = parse(DOCKERFILES[image])[1][-1]
    assert final.all("RUN") == []
    assert final.all("COPY") == ["--from=builder /opt/hivekeeper /opt/hivekeeper"]
    assert final.all("ADD") == []
    text = " ".join(args for _, args in final.instructions)
    assert not re.search(r"\bapt(-get)?\b|\bpip\b|\bgcc\b", text)


@pytest.mark.parametrize("image", sorted(DOCKERFILES))
def test_the_run_stage_is_user_65532_with_the_exec_form_entry_point_on_path(image: str) -> None:
    final = parse(DOCKERFILES[image])[1][-1]
    keywords = [kw for kw, _ in final.instructions]
    assert final.all("USER") == ["65532:65532"]
    assert keywords.index("USER") > keywords.index("COPY"), "the user is set after the files are in place"
    (entrypoint,) = final.all("ENTRYPOINT")
    assert json.loads(entrypoint) == ENTRYPOINTS[image]
    assert final.all("CMD") == []
    env = " ".join(final.all("ENV"))
    assert "PATH=/opt/hivekeeper/bin:$PATH" in env
    for setting in ("PYTHONDONTWRITEBYTECODE=1", "HOME=/tmp", "TMPDIR=/tmp"):
        assert setting in env, f"read-only root filesystem: {setting}"


@pytest.mark.parametrize("image", sorted(DOCKERFILES))
def test_the_run_stage_has_the_oci_labels_with_the_package_version_and_exposes_its_ports(image: str) -> None:
    final = parse(DOCKERFILES[image])[1][-1]
    labels = dict(re.findall(r'org\.opencontainers\.image\.(\w+)="([^"]*)"', " ".join(final.all("LABEL"))))
    assert set(labels) == OCI_LABELS
    assert labels["version"] == "${VERSION}"
    assert labels["title"] == f"hivekeeper-{image}"
    assert labels["licenses"] == tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["license"]
    assert f"VERSION={VERSION}" in final.all("ARG")
    assert set(" ".join(final.all("EXPOSE")).split()) == PORTS[image]


def test_the_two_images_share_one_builder_stage() -> None:
    operator, worker = (parse(DOCKERFILES[name])[1][0].instructions for name in ("operator", "worker"))
    assert operator == worker


def _pattern(pattern: str) -> re.Pattern[str]:
    """Docker's path patterns: ``**`` spans directories, ``*`` and ``?`` stay inside one."""
    regex = ""
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            regex, i = regex + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            regex, i = regex + ".*", i + 2
        else:
            regex += {"*": "[^/]*", "?": "[^/]"}.get(pattern[i], re.escape(pattern[i]))
            i += 1
    return re.compile(regex)


def dockerignore_excludes(rules: list[str], path: str) -> bool:
    """The last rule matching the path, or one of its parent directories, decides (``!`` re-includes)."""
    parts = path.split("/")
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    excluded = False
    for rule in rules:
        negated = rule.startswith("!")
        pattern = _pattern(rule.removeprefix("!"))
        if any(pattern.fullmatch(candidate) for candidate in candidates):
            excluded = not negated
    return excluded


def test_the_build_context_leaves_out_the_venv_bench_state_tests_and_git() -> None:
    rules = [
        line.strip()
        for line in (REPO / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    sent = {path for path in listed if not dockerignore_excludes(rules, path)}
    assert {
        "pyproject.toml",
        "README.md",
        "src/hivekeeper/cli/__init__.py",
        "src/hivekeeper/local/data/quickstart.yaml",
    } <= sent
    assert "hack/wheelhouse/README.md" in sent
    assert all(
        path.startswith(("src/", "hack/wheelhouse/")) or path in {"pyproject.toml", "README.md"} for path in sent
    )
    assert not dockerignore_excludes(rules, "hack/wheelhouse/pyyaml-6.0-cp311-cp311-manylinux2014_x86_64.whl")
    for ignored in (".venv/bin/python", ".bench/state.json", ".git/HEAD", "tests/conftest.py", "bench/run.py"):
        assert dockerignore_excludes(rules, ignored), ignored
    assert dockerignore_excludes(rules, "src/hivekeeper/__pycache__/cli.cpython-311.pyc")


def test_the_wheels_of_an_offline_build_stay_out_of_git() -> None:
    ignored = subprocess.run(
        ["git", "check-ignore", "--no-index", "hack/wheelhouse/pyyaml-6.0-cp311-cp311-manylinux2014_x86_64.whl"],
        cwd=REPO,
        capture_output=True,
        check=False,
    )
    assert ignored.returncode == 0, "git ignores the wheels"
    kept = subprocess.run(
        ["git", "check-ignore", "--no-index", "hack/wheelhouse/README.md"], cwd=REPO, capture_output=True, check=False
    )
    assert kept.returncode == 1, "the README is tracked"
