"""docs/ci.md keeps up with validate: every finding code it can report is documented, and the CI snippets are
valid YAML that run validate in the format their CI reads."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[3]
DOC = (REPO / "docs" / "ci.md").read_text()
SOURCE = "\n".join(p.read_text() for p in sorted((REPO / "src" / "hivekeeper" / "validate").glob("*.py")))


def test_every_finding_code_validate_reports_is_documented() -> None:
    emitted = set(re.findall(r'"(?:error|warning)",\s*"([a-z]+(?:-[a-z]+)+)"', SOURCE))
    documented = set(re.findall(r"^\| `([a-z-]+)` \|", DOC, re.MULTILINE))
    assert len(emitted) >= 20
    assert emitted <= documented, f"undocumented codes: {sorted(emitted - documented)}"
    assert documented <= emitted, f"documented codes validate never reports: {sorted(documented - emitted)}"


def snippets() -> list[str]:
    return re.findall(r"```yaml\n(.*?)```", DOC, re.DOTALL)


def test_the_github_actions_snippet_installs_and_annotates() -> None:
    (workflow,) = [yaml.safe_load(s) for s in snippets() if "runs-on" in s]
    steps = workflow["jobs"]["validate"]["steps"]
    assert {"uses": "actions/setup-python@v5", "with": {"python-version": "3.11"}} in steps
    assert {"run": "pip install 'hivekeeper[validate]'"} in steps
    assert {"run": "hivekeeper validate --format github manifests/"} in steps


def test_the_gitlab_snippet_uploads_the_code_quality_report() -> None:
    (pipeline,) = [yaml.safe_load(s) for s in snippets() if "codequality" in s]
    job = pipeline["validate-manifests"]
    assert job["script"][1].startswith("hivekeeper validate --format gitlab manifests/ > gl-code-quality-report.json")
    assert job["artifacts"] == {"when": "always", "reports": {"codequality": "gl-code-quality-report.json"}}
