"""The Argo CD health checks of Swarm and WorkerRole, run by a real Lua 5.1 the way Argo CD runs them.

Argo CD evaluates ``resource_customizations/<group>/<Kind>/health.lua`` with gopher-lua (Lua 5.1) and checks
each ``health_test.yaml`` case: the object of ``inputPath`` is the global ``obj`` and the script returns
``{status, message}``. Here LuaJIT 2.1 (Lua 5.1 semantics, from ``lupa``) runs the same scripts on the same
cases, inside an environment that holds only what Argo CD's sandbox offers, so a script that reached for
``os``, ``io`` or ``require`` would fail here as it would there. The testdata objects are what the operator's
own status code writes (tests/support/gitops_states.py), checked for drift below.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

import gitops_states
from hivekeeper.api.swarm import Swarm
from hivekeeper.api.workerrole import WorkerRole

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
ARGOCD = REPO / "gitops" / "argocd"
GROUP = ARGOCD / "hivekeeper.io"
KINDS = ("Swarm", "WorkerRole")
MODELS = {"Swarm": Swarm, "WorkerRole": WorkerRole}
ARGO_STATUSES = {"Healthy", "Progressing", "Degraded", "Suspended"}


def run_health(kind: str, obj: dict[str, Any]) -> tuple[str, str]:
    return gitops_states.argo_health(kind, obj)


def health_tests(kind: str) -> list[dict[str, Any]]:
    tests: list[dict[str, Any]] = yaml.safe_load((GROUP / kind / "health_test.yaml").read_text())["tests"]
    return tests


CASES = [
    pytest.param(kind, case, id=f"{kind}-{Path(case['inputPath']).stem}")
    for kind in KINDS
    for case in health_tests(kind)
]


@pytest.mark.parametrize(("kind", "case"), CASES)
def test_each_health_test_case_gives_its_expected_status_and_message(kind: str, case: dict[str, Any]) -> None:
    obj = yaml.safe_load((GROUP / kind / case["inputPath"]).read_text())
    status, message = run_health(kind, obj)
    assert (status, message) == (case["healthStatus"]["status"], case["healthStatus"]["message"])


@pytest.mark.parametrize("kind", KINDS)
def test_every_testdata_object_has_a_case_and_every_argo_status_is_covered(kind: str) -> None:
    cases = health_tests(kind)
    inputs = {case["inputPath"] for case in cases}
    on_disk = {f"testdata/{p.name}" for p in (GROUP / kind / "testdata").glob("*.yaml")}
    assert inputs == on_disk
    assert {case["healthStatus"]["status"] for case in cases} == ARGO_STATUSES
    for case in cases:
        assert set(case) == {"healthStatus", "inputPath"}, "Argo CD's health_test.yaml case shape"
        assert set(case["healthStatus"]) == {"status", "message"}


@pytest.mark.parametrize("kind", KINDS)
def test_the_testdata_is_what_the_operators_status_code_writes_today(kind: str) -> None:
    """Fixture drift: regenerate with `python tests/support/gitops_states.py` after changing the conditions."""
    for stem, obj in gitops_states.fixtures(kind).items():
        committed = (GROUP / kind / "testdata" / f"{stem}.yaml").read_text()
        assert committed == gitops_states.render(obj), f"{kind}/testdata/{stem}.yaml is stale"


@pytest.mark.parametrize("kind", KINDS)
def test_the_testdata_objects_are_valid_per_the_api_models(kind: str) -> None:
    for path in sorted((GROUP / kind / "testdata").glob("*.yaml")):
        obj = yaml.safe_load(path.read_text())
        meta = {"name": obj["metadata"]["name"], "namespace": obj["metadata"]["namespace"]}
        model = MODELS[kind].model_validate({**obj, "metadata": meta})
        assert model.kind == kind, path.name


def test_swarm_and_workerrole_share_one_script() -> None:
    assert (GROUP / "Swarm" / "health.lua").read_text() == (GROUP / "WorkerRole" / "health.lua").read_text()


@pytest.mark.parametrize("kind", KINDS)
def test_the_script_uses_nothing_outside_argo_cds_sandbox(kind: str) -> None:
    code = "\n".join(
        line.split("--", 1)[0] for line in (GROUP / kind / "health.lua").read_text().splitlines()
    )  # comments may name what the code must not use
    forbidden = (
        r"\b(os|io|debug|package)\s*\.|\b(require|dofile|loadfile|loadstring|load|setfenv|getfenv|collectgarbage)\s*\("
    )
    assert re.search(forbidden, code) is None
    assert re.search(r"\bgoto\b|//", code) is None, "Lua 5.1 has neither goto nor integer division"
    # And it runs where those names are absent: a script touching them would raise in the sandbox.
    assert run_health(kind, {"metadata": {"generation": 1}})[0] == "Progressing"


def test_the_lua_is_5_1_and_a_script_reaching_for_os_fails_in_the_sandbox_as_in_argo_cd() -> None:
    runtime = gitops_states.lua_runtime()
    assert runtime.eval("_VERSION") == "Lua 5.1", "Argo CD runs Lua 5.1 (gopher-lua)"
    runner = runtime.eval(gitops_states.SANDBOX_RUNNER)
    with pytest.raises(Exception, match="global 'os'"):
        runner("local hs = {} hs.status = os.getenv('HOME') return hs", runtime.table_from({}))


def test_the_argocd_cm_patch_carries_the_same_scripts_under_argo_cds_keys() -> None:
    patch = yaml.safe_load((ARGOCD / "argocd-cm.yaml").read_text())
    assert (patch["apiVersion"], patch["kind"], patch["metadata"]["name"]) == ("v1", "ConfigMap", "argocd-cm")
    for kind in KINDS:
        assert (
            patch["data"][f"resource.customizations.health.hivekeeper.io_{kind}"]
            == (GROUP / kind / "health.lua").read_text()
        )


def test_the_layout_follows_argo_cds_resource_customizations() -> None:
    for kind in KINDS:
        folder = GROUP / kind
        assert {p.name for p in folder.iterdir()} == {"health.lua", "health_test.yaml", "testdata"}
        assert all(case["inputPath"].startswith("testdata/") for case in health_tests(kind))


def test_docs_gitops_shows_the_flux_health_check_exprs_that_test_kstatus_runs() -> None:
    """The snippet in docs/gitops.md is the one tests/e2e/test_kstatus.py evaluates with Flux's own CEL code."""
    docs = (REPO / "docs" / "gitops.md").read_text()
    snippet = yaml.safe_load(docs.split("```yaml\n", 1)[1].split("```", 1)[0])
    tested = yaml.safe_load((REPO / "gitops" / "flux" / "kustomization.yaml").read_text())
    assert snippet["spec"]["healthCheckExprs"] == tested["spec"]["healthCheckExprs"]
    assert [e["kind"] for e in snippet["spec"]["healthCheckExprs"]] == list(KINDS)
