"""`hivekeeper validate` through its real entry point (a child `python -m hivekeeper.cli` process)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
BROKEN = REPO / "tests" / "validate" / "broken"
QUICKSTART = (REPO / "examples" / "quickstart.yaml").read_text()


def validate(*args: str, stdin: str | None = None, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hivekeeper.cli", "validate", *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=120,
        check=False,
    )


def test_exit_code_0_for_the_examples_directory() -> None:
    done = validate("examples")
    assert done.returncode == 0, done.stdout + done.stderr
    n = len(list((REPO / "examples").glob("*.yaml")))
    assert done.stdout == f"ok: 0 errors, 0 warnings in {n} manifests ({n} documents, {n} files)\n"


def test_exit_code_1_with_the_finding_in_text() -> None:
    done = validate("tests/validate/broken/schema-type.yaml")
    assert done.returncode == 1
    first, fix = done.stdout.splitlines()[:2]
    assert first.startswith("tests/validate/broken/schema-type.yaml:26: error schema-type: replicas is a string")
    assert first.endswith("(spec.roles[2].replicas)")
    assert fix == "  fix: write an integer (without quotes)"


def test_exit_code_2_for_a_missing_path_after_checking_the_others() -> None:
    done = validate("no/such.yaml", "examples/quickstart.yaml")
    assert done.returncode == 2
    assert done.stderr == "error: no/such.yaml: no such file or directory\n"
    assert "1 path unreadable" in done.stdout


def test_a_yaml_syntax_error_is_a_finding_with_exit_code_1() -> None:
    done = validate("tests/validate/broken/yaml-syntax.yaml")
    assert done.returncode == 1
    assert done.stdout.startswith("tests/validate/broken/yaml-syntax.yaml:11: error yaml-syntax: not valid YAML")


def test_warnings_pass_unless_strict() -> None:
    assert validate("tests/validate/broken/call-id-dynamic.yaml").returncode == 0
    strict = validate("--strict", "tests/validate/broken/call-id-dynamic.yaml")
    assert strict.returncode == 1
    assert "(--strict: warnings fail)" in strict.stdout


def test_stdin_is_read_for_a_dash() -> None:
    done = validate("-", stdin=QUICKSTART.replace("replicas: 2", "replicas: -2"))
    assert done.returncode == 1
    assert done.stdout.startswith("<stdin>:")
    assert "schema-range" in done.stdout


def test_directories_are_searched_for_yaml_and_yml_files(tmp_path: Path) -> None:
    (tmp_path / "team" / "nested").mkdir(parents=True)
    (tmp_path / "team" / "a.yaml").write_text(QUICKSTART)
    (tmp_path / "team" / "nested" / "b.yml").write_text(QUICKSTART.replace("name: quickstart", "name: other"))
    (tmp_path / "team" / "README.md").write_text("not a manifest: `kind: Swarm`")
    done = validate("team", cwd=tmp_path)
    assert done.returncode == 0, done.stdout
    assert "in 2 manifests (2 documents, 2 files)" in done.stdout


def test_an_empty_directory_is_unreadable_input(tmp_path: Path) -> None:
    done = validate(str(tmp_path))
    assert done.returncode == 2
    assert "no *.yaml or *.yml file in this directory" in done.stderr


def test_multi_document_files_are_checked_document_by_document(tmp_path: Path) -> None:
    broken = QUICKSTART.replace("name: quickstart", "name: second").replace("role: processor", "role: processer")
    whole = "apiVersion: v1\nkind: Namespace\nmetadata: {name: perf}\n---\n" + QUICKSTART + "---\n" + broken
    (tmp_path / "all.yaml").write_text(whole)
    done = validate("--format", "json", "all.yaml", cwd=tmp_path)
    assert done.returncode == 1
    report = json.loads(done.stdout)
    line = whole.splitlines().index("      role: processer") + 1
    assert [(f["code"], f["path"], f["line"]) for f in report["findings"]] == [
        ("schema-enum", "spec.roles[2].role", line)
    ]
    assert report["notes"][0]["message"] == "skipped: Namespace (v1) is not a hivekeeper resource"
    assert report["summary"]["documents"] == 3
    assert report["summary"]["manifests"] == 2


def test_json_format_parses_with_findings_and_summary() -> None:
    done = validate("--format", "json", "tests/validate/broken")
    assert done.returncode == 1
    report = json.loads(done.stdout)
    assert set(report) == {"findings", "notes", "summary"}
    assert report["summary"]["errors"] == len([f for f in report["findings"] if f["severity"] == "error"])
    assert all({"severity", "code", "path", "message", "fix", "file"} <= set(f) for f in report["findings"])


def test_github_format_prints_workflow_annotations() -> None:
    done = validate("--format", "github", "tests/validate/broken")
    assert done.returncode == 1
    lines = done.stdout.splitlines()
    annotation = re.compile(r"^::(error|warning|notice) file=[^,:]+(,line=\d+)?(,title=[a-z-]+)?::\S.*$")
    assert all(annotation.match(line) for line in lines[:-1]), [ln for ln in lines if not annotation.match(ln)]
    assert any(line.startswith("::warning file=tests/validate/broken/call-id-dynamic.yaml,line=24,") for line in lines)
    assert lines[-1].startswith("FAILED: ")


def test_gitlab_format_is_a_code_quality_report() -> None:
    done = validate("--format", "gitlab", "tests/validate/broken")
    assert done.returncode == 1
    issues = json.loads(done.stdout)
    assert len(issues) == len(list(BROKEN.glob("*.yaml")))
    for issue in issues:
        assert set(issue) == {"description", "check_name", "fingerprint", "severity", "location"}
        assert issue["severity"] in ("major", "minor")
        assert issue["location"]["path"].startswith("tests/validate/broken/")
        assert issue["location"]["lines"]["begin"] >= 1
    assert len({issue["fingerprint"] for issue in issues}) == len(issues)
