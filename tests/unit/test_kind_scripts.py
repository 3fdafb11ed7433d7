"""The kind workflow (`make kind-up` / `make kind-down` / `make images`) checked without Docker or kind.

The scripts cannot run to the end here (no Docker engine), so they are parsed by bash, linted by shellcheck
(a Debian package installed by `make bench-install`), run as far as their tool checks, and the manifests and
chart values they use are checked against the files they name.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
KIND = REPO / "hack" / "kind"
SCRIPTS = sorted(KIND.glob("*.sh"))


def test_there_are_the_three_scripts() -> None:
    assert [p.name for p in SCRIPTS] == ["down.sh", "images.sh", "up.sh"]


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_the_script_parses_with_bash_n_and_stops_on_the_first_error(script: Path) -> None:
    parsed = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True, check=False)
    assert parsed.returncode == 0, parsed.stderr
    lines = script.read_text().splitlines()
    assert lines[0] == "#!/usr/bin/env bash"
    assert "set -euo pipefail" in lines[:12]


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_shellcheck_finds_nothing_in_the_script(script: Path) -> None:
    shellcheck = shutil.which("shellcheck") or "/usr/bin/shellcheck"
    if not os.access(shellcheck, os.X_OK):
        pytest.fail("shellcheck is not installed (Debian package shellcheck); run `make bench-install`", pytrace=False)
    checked = subprocess.run(
        [shellcheck, "--external-sources", "--severity=style", str(script)],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert checked.returncode == 0, checked.stdout


def test_make_images_without_a_docker_engine_fails_with_a_message_that_says_so(tmp_path: Path) -> None:
    env = {**os.environ, "DOCKER_HOST": f"unix://{tmp_path}/no-engine.sock"}
    done = subprocess.run(["make", "-s", "images"], cwd=REPO, env=env, capture_output=True, text=True, check=False)
    assert done.returncode != 0
    assert (
        "no Docker engine answers" in done.stderr
        if shutil.which("docker")
        else "docker is not installed" in done.stderr
    )
    assert "docker build" in done.stderr or "docker info" in done.stderr


def test_kind_up_names_the_first_missing_tool_and_how_to_get_it(tmp_path: Path) -> None:
    """With only coreutils on PATH, up.sh stops at its tool check before touching anything."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("dirname",):
        (bin_dir / tool).symlink_to(shutil.which(tool) or f"/usr/bin/{tool}")
    done = subprocess.run(
        ["/bin/bash", str(KIND / "up.sh")],
        env={"PATH": str(bin_dir), "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 1
    assert (
        done.stderr.strip()
        == "kind-up: docker is not installed; install Docker Engine (kind runs its node as a container)"
    )


def test_the_kind_config_names_the_cluster_and_pins_the_node_image_by_digest() -> None:
    config = yaml.safe_load((KIND / "cluster.yaml").read_text())
    assert (config["kind"], config["apiVersion"], config["name"]) == ("Cluster", "kind.x-k8s.io/v1alpha4", "hivekeeper")
    (node,) = config["nodes"]
    assert re.fullmatch(r"kindest/node:v1\.\d+\.\d+@sha256:[0-9a-f]{64}", node["image"])


def test_the_demo_sut_is_the_quickstarts_default_endpoint_and_runs_locked_down() -> None:
    deployment, service = yaml.safe_load_all((KIND / "demo-sut.yaml").read_text())
    quickstart = yaml.safe_load((REPO / "examples" / "quickstart.yaml").read_text())
    base_url = quickstart["spec"]["sut"]["endpoints"]["default"]["baseUrl"]
    assert base_url == f"http://{service['metadata']['name']}.perf.svc:{service['spec']['ports'][0]['port']}"
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["image"] == "hivekeeper/worker:dev"
    assert container["command"] == ["hivekeeper", "demo-sut", "--host", "0.0.0.0", "--port", "8080"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert container["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
    }
    assert {"name": "tmp", "mountPath": "/tmp"} in container["volumeMounts"]


def test_every_chart_value_kind_up_sets_exists_in_the_chart() -> None:
    values = yaml.safe_load((REPO / "helm" / "hivekeeper" / "values.yaml").read_text())
    keys = re.findall(r'--set "?([a-zA-Z.]+)=', (KIND / "up.sh").read_text())
    assert {"rabbitmq.bundled.enabled", "redis.bundled.enabled", "operator.image.tag", "workers.image.tag"} <= set(keys)
    for key in keys:
        node = values
        for part in key.split("."):
            assert isinstance(node, dict), key
            assert part in node, f"helm/hivekeeper/values.yaml has no {key}"
            node = node[part]
