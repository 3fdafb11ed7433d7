"""The printers: text for people, JSON for programs, GitHub annotations and GitLab Code Quality for CI."""

from __future__ import annotations

import json
import re

from hivekeeper.validate.findings import Finding
from hivekeeper.validate.report import Note, Summary, as_json, github, gitlab, text

ERROR = Finding(
    "error",
    "schema-range",
    "spec.roles[2].replicas",
    "replicas is -1, but must be at least 0",
    "use a value at least 0",
    file="swarms/cards.yaml",
    line=31,
)
WARNING = Finding(
    "warning",
    "call-id-dynamic",
    "spec.roles[0].config.message.headers.x-ph-call-id",
    "computed per item: 100% unknown,\nsee",
    "use literals",
    file="swarms/a,b:c.yaml",
    line=4,
)


def summary(*findings: Finding, strict: bool = False) -> Summary:
    return Summary(
        files=2, documents=3, checked=2, strict=strict, findings=list(findings), notes=[Note("skipped", "x.yaml", 1)]
    )


def test_text_names_file_line_severity_code_message_path_and_fix() -> None:
    out = text(summary(ERROR)).splitlines()
    assert out[0] == (
        "swarms/cards.yaml:31: error schema-range: replicas is -1, but must be at least 0 (spec.roles[2].replicas)"
    )
    assert out[1] == "  fix: use a value at least 0"
    assert out[2] == "x.yaml:1: note: skipped"
    assert out[3] == "FAILED: 1 error, 0 warnings in 2 manifests (3 documents, 2 files)"


def test_json_is_findings_notes_and_a_summary() -> None:
    document = json.loads(as_json(summary(ERROR, WARNING)))
    assert document["findings"][0] == {
        "severity": "error",
        "code": "schema-range",
        "path": "spec.roles[2].replicas",
        "message": "replicas is -1, but must be at least 0",
        "fix": "use a value at least 0",
        "file": "swarms/cards.yaml",
        "line": 31,
    }
    assert document["notes"] == [{"message": "skipped", "file": "x.yaml", "line": 1}]
    assert document["summary"] == {
        "errors": 1,
        "warnings": 1,
        "files": 2,
        "documents": 3,
        "manifests": 2,
        "strict": False,
        "failed": True,
        "unreadable": [],
    }


ANNOTATION = re.compile(r"^::(error|warning|notice)( [a-z]+=[^,:]*(,[a-z]+=[^,:]*)*)?::[^\r\n]*$")


def test_github_lines_are_workflow_annotations_with_escaped_values() -> None:
    lines = github(summary(ERROR, WARNING)).splitlines()
    assert lines[0] == (
        "::error file=swarms/cards.yaml,line=31,title=schema-range::replicas is -1, but must be at least 0 "
        "(spec.roles[2].replicas)%0Afix: use a value at least 0"
    )
    assert lines[1].startswith("::warning file=swarms/a%2Cb%3Ac.yaml,line=4,title=call-id-dynamic::computed per ")
    assert "100%25 unknown,%0Asee" in lines[1]
    assert lines[2] == "::notice file=x.yaml,line=1::skipped"
    assert all(ANNOTATION.match(line) for line in lines[:3])
    assert lines[3].startswith("FAILED: ")


def test_gitlab_report_has_the_code_quality_keys_and_stable_fingerprints() -> None:
    issues = json.loads(gitlab(summary(ERROR, WARNING, ERROR)))
    assert [set(issue) for issue in issues] == [
        {"description", "check_name", "fingerprint", "severity", "location"}
    ] * 3
    assert issues[0]["check_name"] == "schema-range"
    assert issues[0]["severity"] == "major"
    assert issues[1]["severity"] == "minor"
    assert issues[0]["location"] == {"path": "swarms/cards.yaml", "lines": {"begin": 31}}
    assert issues[0]["description"].startswith("schema-range: replicas is -1")
    fingerprints = [issue["fingerprint"] for issue in issues]
    assert len(set(fingerprints)) == 3  # the same finding twice is two issues
    moved = Finding(**{**ERROR.__dict__, "line": 40})
    assert json.loads(gitlab(summary(moved, WARNING, moved)))[0]["fingerprint"] == fingerprints[0]


def test_strict_turns_warnings_into_a_failure() -> None:
    assert summary(WARNING).exit_code == 0
    assert summary(WARNING, strict=True).exit_code == 1
    assert summary(WARNING, strict=True).line().startswith("FAILED: 0 errors, 1 warning (--strict: warnings fail)")
    unreadable = Summary(unreadable=["nope.yaml: no such file or directory"])
    assert unreadable.exit_code == 2
    assert unreadable.line().endswith(", 1 path unreadable")
